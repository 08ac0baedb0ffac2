"""Self-invoking two-part tasks in the MBPP Pro format (datasets/mbpp_pro.json, arXiv 2412.21199).

Each task is a `Project` of two parts: the base function (`raw_problem`), then a new function
that must call it (`new_problem`), whose statement gets one line naming the function it calls (so
the part shows its dependency, and the hierarchy hands that part the base part's interface).
`test_code` (asserts on the new function) is the hidden test of the second part; the statements
show no examples, so neither part has visible tests. The one visible check is the statement's
own: the new function must call the base one (`Part.calls`), checked for every system alike.
The reference solutions serve the scripted mock only.

In 24 of the 378 shipped tasks the new statement repeats the base signature, and the function
the hidden test calls is named only in the reference solution: no answer can pass them, so
`hi-moe compare` leaves them out (`names_its_function`) and says which.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from hi_moe.problems.problem import DATASETS_DIR, Problem, ProblemError
from hi_moe.problems.projects import Project

MBPP_PRO_FILE = DATASETS_DIR / "mbpp_pro.json"
PREFIX = "mbpp-pro/"
FIELDS = ("id", "raw_problem", "raw_solution", "new_problem", "new_solution", "test_code")
DEF = re.compile(r"^def\s+(\w+)\s*\(", re.MULTILINE)
OVERVIEW = (
    "Write both functions in one Python module. The second function must call the first one "
    "(once or several times)."
)


def function_name(signature: str) -> str | None:
    """The last `def` name in a statement (the function the statement asks for)."""
    names = DEF.findall(signature)
    return names[-1] if names else None


def calls_note(name: str) -> str:
    """The line a new part's statement opens with, naming the base function it must call."""
    return f"# It must call `{name}` (the first function).\n"


def hidden_check(test_code: str) -> str:
    """HumanEval-style check code around the task's assert lines."""
    return "def check(candidate):\n" + textwrap.indent(test_code.strip() + "\n", "    ")


def part_of(
    raw: dict, part_id: str, field: str, solution: str, where: str, calls: str = "",
    check: str | None = None,
) -> Problem:  # fmt: skip
    """One part: the statement's function (naming the function it `calls`, if any), its hidden
    `check` (if any), its reference kept for the scripted mock only."""
    name = function_name(raw[field])
    if name is None:
        raise ProblemError(f"{where}: field {field!r} holds no `def name(...)` signature")
    statement = raw[field]
    if calls:
        statement = calls_note(calls) + statement
    return Problem(id=part_id, title=name, domain="mbpp-pro", statement=statement,
                   entry_point=name, reference=statement + raw[solution],
                   hidden_check=check, calls=[calls] if calls else [])  # fmt: skip


def to_project(raw: dict, where: str) -> Project:
    """One task as a two-part project; `where` names it in errors (file and task number)."""
    missing = [name for name in FIELDS if not isinstance(raw.get(name), str | int)]
    if missing:
        raise ProblemError(f"{where}: field {missing[0]!r} is missing or not text")
    task_id = f"{PREFIX}{raw['id']}"
    base = part_of(raw, f"{task_id}/base", "raw_problem", "raw_solution", where)
    check = hidden_check(raw["test_code"])
    new = part_of(raw, f"{task_id}/new", "new_problem", "new_solution", where, base.entry_point,
                  check)  # fmt: skip
    return Project(id=task_id, title=new.title, statement=OVERVIEW, parts=[base, new],
                   domain="mbpp-pro")  # fmt: skip


def names_its_function(task: Project) -> bool:
    """False where the new part asks for the base part's function again (the name the hidden
    test calls appears in no statement)."""
    base, new = task.parts
    return base.entry_point != new.entry_point


def read_mbpp_pro(path: Path = MBPP_PRO_FILE) -> list[Project]:
    """Tasks from a JSON array (as shipped) or a JSONL file of the same objects."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProblemError(f"cannot read dataset file {path}: {exc.strerror}") from exc
    if path.suffix == ".jsonl":
        items = [(f"{path}:{n}", line) for n, line in enumerate(text.splitlines(), 1) if line]
        raws = [(where, parse_json(line, where)) for where, line in items]
    else:
        data = parse_json(text, str(path))
        if not isinstance(data, list):
            raise ProblemError(f"{path}: expected a JSON array of tasks")
        raws = [(f"{path}: task #{n}", raw) for n, raw in enumerate(data)]
    projects = []
    for where, raw in raws:
        if not isinstance(raw, dict):
            raise ProblemError(f"{where}: a task must be a JSON object")
        projects.append(to_project(raw, where))
    if not projects:
        raise ProblemError(f"dataset file {path} holds no tasks")
    return projects


def parse_json(text: str, where: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{where}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc


def is_mbpp_pro_file(path: Path) -> bool:
    """A .json file, or a .jsonl file whose first object has MBPP Pro's fields."""
    if path.suffix == ".json":
        return True
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    with path.open() as handle:
        first = handle.readline()
    try:
        return "raw_problem" in json.loads(first)
    except (json.JSONDecodeError, TypeError):
        return False
