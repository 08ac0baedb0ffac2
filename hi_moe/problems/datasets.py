"""Problem sets by name (builtin, math, humaneval, projects, mbpp-pro, classeval) or file; a
problem by id."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from hi_moe.problems.classeval import (
    CLASSEVAL_PREFIX,
    classeval_exclusions,
    is_classeval_file,
    read_classeval,
)
from hi_moe.problems.mbpp_pro import is_mbpp_pro_file, names_its_function, read_mbpp_pro
from hi_moe.problems.problem import (
    DATASETS_DIR,
    Problem,
    ProblemError,
    humaneval_problems,
    read_jsonl,
)
from hi_moe.problems.projects import Project, get_project, is_project_ref, read_projects

BUILTIN_SETS = {"builtin": "builtin.jsonl", "math": "math.jsonl"}
T = TypeVar("T")
DATASET_NAMES = [*BUILTIN_SETS, "humaneval", "projects", "mbpp-pro", "classeval"]


def load_dataset(name: str) -> list[Problem] | list[Project]:
    """Problems of a named set (builtin, math, humaneval, projects, mbpp-pro, classeval: less
    its exclusions) or of a file: a .jsonl of problems, a ClassEval .json (all its classes), or
    MBPP Pro's format (.json, or .jsonl of its objects)."""
    if name == "projects":
        return read_projects()
    if name == "mbpp-pro":
        return read_mbpp_pro()
    if name == "classeval":
        excluded = classeval_exclusions()
        kept: list[Project] = [task for task in read_classeval() if task.id not in excluded]
        return kept
    if name in BUILTIN_SETS:
        return read_jsonl(DATASETS_DIR / BUILTIN_SETS[name])
    if name == "humaneval":
        return list(humaneval_problems())
    if is_classeval_file(Path(name)):
        return list[Project](read_classeval(Path(name)))
    if is_mbpp_pro_file(Path(name)):
        return read_mbpp_pro(Path(name))
    if name.endswith(".jsonl"):
        return read_jsonl(Path(name))
    raise ProblemError(
        f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}, a .jsonl, or a "
        "ClassEval or MBPP Pro .json file"
    )


def dataset_exclusions(name: str) -> dict[str, str]:
    """{id: reason} of the tasks a named set leaves out (classeval's); none for the others."""
    if name != "classeval":
        return {}
    ids = {task.id for task in read_classeval()}
    return {task_id: why for task_id, why in classeval_exclusions().items() if task_id in ids}


def refuse_projects(name: str, command: str) -> None:
    if name == "projects":
        raise ProblemError(
            f"{command} works on single problems and the projects are multi-part tasks: "
            "use `hi-moe bench horizon` or `hi-moe solve --dataset projects`"
        )


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ProblemError(f"--limit must be at least 1, not {limit}")


def first(problems: Sequence[T], limit: int | None) -> list[T]:
    """The first `limit` items (all of them without a limit)."""
    check_limit(limit)
    return list(problems[:limit] if limit else problems)


def single_problems(name: str, command: str, limit: int | None = None) -> list[Problem]:
    """The first `limit` problems of a dataset of single problems; `command` names the command
    that refuses multi-part tasks (its baselines and graders take one problem each)."""
    refuse_projects(name, command)
    problems = load_dataset(name)
    singles = [p for p in problems if isinstance(p, Problem)]
    if len(singles) < len(problems):
        raise ProblemError(f"{command} works on single problems; {name} holds multi-part tasks: "
                           "use `hi-moe compare`")  # fmt: skip
    return first(singles, limit)


def compared_tasks(
    name: str, limit: int | None = None, skip: int = 0
) -> tuple[list[Problem | Project], list[str]]:
    """The `limit` tasks after the first `skip` that `hi-moe compare` evaluates (single
    problems or multi-part tasks), and the ids of the MBPP Pro tasks left out because their
    statements never name the function the hidden test calls (counted in neither)."""
    refuse_projects(name, "compare")
    tasks = load_dataset(name)
    left_out = [
        t.id
        for t in tasks
        if isinstance(t, Project) and t.domain == "mbpp-pro" and not names_its_function(t)
    ]
    answerable = [t for t in tasks if t.id not in left_out]
    if not 0 <= skip < len(answerable):
        raise ProblemError(
            f"--skip must be from 0 to {len(answerable) - 1} ({name} has {len(answerable)} "
            f"tasks to compare), not {skip}"
        )
    return first(answerable[skip:], limit), left_out


def get_problem(ref: str, dataset: str = "builtin") -> Problem | Project:
    """A problem by full id (`builtin/3`, `HumanEval/3`, `ClassEval_3`, `project/..`,
    `bundle/..`) or number."""
    if is_project_ref(ref):
        return get_project(ref)
    if ref.startswith(CLASSEVAL_PREFIX) and dataset in DATASET_NAMES and dataset != "classeval":
        return get_problem(ref, "classeval")
    problems = load_dataset(dataset)
    by_id = {p.id: p for p in problems}
    candidates = (ref, f"{dataset}/{ref}", f"HumanEval/{ref}", f"{CLASSEVAL_PREFIX}{ref}")
    for candidate in candidates:
        if candidate in by_id:
            return by_id[candidate]
    excluded = dataset_exclusions(dataset)
    for candidate in candidates:
        if candidate in excluded:
            raise ProblemError(f"{candidate} is excluded from {dataset}: {excluded[candidate]}")
    if "/" in ref:
        prefix = ref.split("/", 1)[0]
        if prefix.lower() in DATASET_NAMES and prefix.lower() != dataset:
            return get_problem(ref, "humaneval" if prefix == "HumanEval" else prefix)
    raise ProblemError(
        f"unknown problem {ref!r} in dataset {dataset!r} "
        f"(ids {problems[0].id} .. {problems[-1].id})"
    )
