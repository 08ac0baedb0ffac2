"""Long-horizon tasks: projects of several parts that must live together in one module.

Two kinds: project-authored tasks (datasets/projects.jsonl) whose later parts call earlier
ones, and bundles of k HumanEval problems (`bundle/<k>` or `bundle/<k>/<start>`) that must
all be implemented in one module. Like a `Problem`, a `Project` keeps its hidden tests out
of `visible_task()`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from graph.state import Part, Task
from hi_moe.problems.problem import DATASETS_DIR, Problem, ProblemError, humaneval_problems
from hi_moe.problems.text_files import numbered_lines

PROJECTS_FILE = DATASETS_DIR / "projects.jsonl"
BUNDLE_PREFIX = "bundle/"


class Project(BaseModel):
    """A task of several code parts; each part is a problem graded inside the whole module."""

    id: str
    title: str
    statement: str
    parts: list[Problem]
    kind: Literal["code"] = "code"
    domain: str = "project"

    def visible_task(self) -> Task:
        """The graph's view: the overview and every part's statement and visible tests."""
        parts = [
            Part(
                name=p.entry_point,
                statement=p.statement,
                visible_tests=p.visible_tests,
                source_id=p.id,
                calls=p.calls,
            )
            for p in self.parts
        ]
        return Task(
            problem_id=self.id, kind="code", title=self.title, statement=self.statement, parts=parts
        )


def read_projects(path: Path = PROJECTS_FILE) -> list[Project]:
    """Projects from a JSONL file; a bad line is an error naming the file and line."""
    projects = []
    for number, line in numbered_lines(path, "project file", ProblemError):
        try:
            project = Project.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            reason = str(exc).splitlines()[0]
            raise ProblemError(f"{path}:{number}: malformed project line ({reason})") from exc
        if not project.parts or any(p.kind != "code" for p in project.parts):
            raise ProblemError(f"{path}:{number}: a project needs one or more code parts")
        projects.append(project)
    if not projects:
        raise ProblemError(f"project file {path} holds no projects")
    return projects


def humaneval_bundle(k: int, start: int = 0) -> Project:
    """HumanEval problems start .. start+k-1, to be implemented together in one module."""
    pool = humaneval_problems()
    if k < 1 or start < 0:
        raise ProblemError(f"a bundle needs k >= 1 and start >= 0 (got k={k}, start={start})")
    if start + k > len(pool):
        raise ProblemError(
            f"a bundle of {k} problems from HumanEval/{start} needs HumanEval/{start + k - 1},"
            f" but HumanEval has only {len(pool)} problems"
        )
    return Project(
        id=f"{BUNDLE_PREFIX}{k}/{start}",
        title=f"HumanEval bundle of {k} from HumanEval/{start}",
        statement=f"Implement {k} independent functions, each as specified, in one Python module.",
        parts=list(pool[start : start + k]),
    )


def parse_bundle_ref(ref: str) -> tuple[int, int]:
    """(k, start) of `bundle/<k>` or `bundle/<k>/<start>`."""
    fields = ref.removeprefix(BUNDLE_PREFIX).split("/")
    try:
        numbers = [int(f) for f in fields]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2):
        raise ProblemError(f"bad bundle id {ref!r}: write bundle/<k> or bundle/<k>/<start>")
    return numbers[0], numbers[1] if len(numbers) == 2 else 0


def get_project(ref: str) -> Project:
    """A project by id: `project/<slug>` from datasets/projects.jsonl, or a HumanEval bundle."""
    if ref.startswith(BUNDLE_PREFIX):
        return humaneval_bundle(*parse_bundle_ref(ref))
    projects = read_projects()
    for project in projects:
        if project.id in (ref, f"project/{ref}"):
            return project
    known = ", ".join(p.id for p in projects)
    raise ProblemError(f"unknown project {ref!r}; known projects: {known}")


def is_project_ref(ref: str) -> bool:
    return ref.startswith((BUNDLE_PREFIX, "project/"))
