"""Problem sets by name: builtin, math, humaneval, projects, or a JSONL file; a problem by id."""

from __future__ import annotations

from pathlib import Path

from hi_moe.problems.problem import (
    DATASETS_DIR,
    Problem,
    ProblemError,
    humaneval_problems,
    read_jsonl,
)
from hi_moe.problems.projects import Project, get_project, is_project_ref, read_projects

BUILTIN_SETS = {"builtin": "builtin.jsonl", "math": "math.jsonl"}
DATASET_NAMES = [*BUILTIN_SETS, "humaneval", "projects"]


def load_dataset(name: str) -> list[Problem] | list[Project]:
    """Problems of a named set (builtin, math, humaneval, projects) or of a JSONL file path."""
    if name == "projects":
        return read_projects()
    if name in BUILTIN_SETS:
        return read_jsonl(DATASETS_DIR / BUILTIN_SETS[name])
    if name == "humaneval":
        return list(humaneval_problems())
    if name.endswith(".jsonl"):
        return read_jsonl(Path(name))
    raise ProblemError(
        f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)} or a .jsonl file"
    )


def single_problems(name: str, command: str, limit: int | None = None) -> list[Problem]:
    """The first `limit` problems of a dataset of single problems; `command` names the command
    that refuses the multi-part projects (its baselines and graders take one problem each)."""
    if name == "projects":
        raise ProblemError(
            f"{command} works on single problems and the projects are multi-part tasks: "
            "use `hi-moe bench horizon` or `hi-moe solve --dataset projects`"
        )
    problems = load_dataset(name)
    return problems[:limit] if limit else problems


def get_problem(ref: str, dataset: str = "builtin") -> Problem | Project:
    """A problem by full id (`builtin/3`, `HumanEval/3`, `project/..`, `bundle/..`) or number."""
    if is_project_ref(ref):
        return get_project(ref)
    problems = load_dataset(dataset)
    by_id = {p.id: p for p in problems}
    for candidate in (ref, f"{dataset}/{ref}", f"HumanEval/{ref}"):
        if candidate in by_id:
            return by_id[candidate]
    if "/" in ref:
        prefix = ref.split("/", 1)[0]
        if prefix.lower() in DATASET_NAMES and prefix.lower() != dataset:
            return get_problem(ref, "humaneval" if prefix == "HumanEval" else prefix)
    raise ProblemError(
        f"unknown problem {ref!r} in dataset {dataset!r} "
        f"(ids {problems[0].id} .. {problems[-1].id})"
    )
