"""Class-level tasks in ClassEval's format (datasets/classeval_dev.json, arXiv 2308.01861).

Each record is a `ClassTask`: a `Project` whose parts are the class's methods (the constructor
is given), each part's statement the method's signature and docstring as the skeleton shows
them, its visible tests the docstring's `>>>` examples (`class_examples`). The parts come in
dependency order: a method after the methods of its class it calls, otherwise in skeleton order;
a cycle (ClassEval_23 and ClassEval_58 have one) keeps skeleton order. The unittest source, the
test classes and every solution are hidden: `visible_task()` holds the skeleton and the parts'
statements and examples only. Skeletons that do not parse as given are repaired
(`class_skeleton`).

`datasets/classeval_exclusions.json` ({task_id: reason}) names the classes the named dataset
leaves out because no answer can pass their hidden tests here.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

from graph.state import Task
from hi_moe.problems.class_examples import imported_names, parses, session_tests
from hi_moe.problems.class_skeleton import repaired_skeleton
from hi_moe.problems.mbpp_pro import parse_json
from hi_moe.problems.problem import DATASETS_DIR, Problem, ProblemError
from hi_moe.problems.projects import Project

CLASSEVAL_FILE = DATASETS_DIR / "classeval_dev.json"
EXCLUSIONS_FILE = DATASETS_DIR / "classeval_exclusions.json"
CLASSEVAL_PREFIX = "ClassEval_"
CONSTRUCTOR = "__init__"
RECORD_FIELDS: dict[str, type] = {
    "task_id": str, "class_name": str, "skeleton": str, "test": str, "solution_code": str,
    "class_constructor": str, "import_statement": list, "fields": list, "test_classes": list,
    "methods_info": list,
}  # fmt: skip
METHOD_FIELDS: dict[str, type] = {
    "method_name": str, "method_description": str, "test_class": str, "solution_code": str,
    "dependencies": dict,
}  # fmt: skip
TYPE_NAMES: dict[type, str] = {str: "text", list: "a list", dict: "an object"}


class ClassTask(Project):
    """A ClassEval class: one part per method; the unittest classes and solutions are hidden."""

    class_name: str
    imports: str
    """The dataset's import lines, joined with newlines."""
    skeleton: str
    constructor: str
    fields: list[str]
    reference: str
    """The reference class (hidden)."""
    hidden_test: str
    """The unittest source that grades the class (hidden)."""
    test_classes: list[str]
    """Every unittest class the grader runs for the class-level verdict, in the dataset's
    order: one per method and the class-level one(s)."""
    method_test_classes: dict[str, str]
    """Method -> the unittest class of its method-level verdict."""
    domain: str = "classeval"

    def visible_task(self) -> Task:
        """The graph's view: the skeleton and each method's statement and examples."""
        task = super().visible_task()
        return task.model_copy(update={"class_name": self.class_name, "skeleton": self.skeleton})


def checked(raw: dict, name: str, kind: type, where: str) -> None:
    """Field `name` of `raw` must be of type `kind` (a list: of text, but `methods_info`)."""
    if name not in raw:
        raise ProblemError(f"{where}: field {name!r} is missing")
    value = raw[name]
    if not isinstance(value, kind):
        raise ProblemError(f"{where}: field {name!r} must be {TYPE_NAMES[kind]}")
    text_list = name != "methods_info"
    if isinstance(value, list) and text_list and not all(isinstance(v, str) for v in value):
        raise ProblemError(f"{where}: field {name!r} must be a list of text")


def method_span(skeleton: str, description: str) -> re.Match[str] | None:
    """Where the skeleton has the method's signature and docstring: found line by line
    whatever the indentation (a few descriptions are indented differently)."""
    lines = [re.escape(line.strip()) for line in description.strip().splitlines()]
    pattern = r"^[ \t]*" + r"[ \t]*\n[ \t]*".join(lines) + r"[ \t]*$"
    return re.search(pattern, skeleton, re.MULTILINE)


def method_definition(code: str, indent: str) -> str:
    """A method's solution as a definition at column 0: the records drop its first line's
    `indent` (the class body's) and keep the rest's; one that parses as it is stays so."""
    restored = textwrap.dedent(indent + code)
    return restored if parses(restored) else code


def import_names(imports: list[str], where: str) -> set[str]:
    """The names the record's import lines bind."""
    try:
        return imported_names(ast.parse("\n".join(imports)))
    except SyntaxError as exc:
        raise ProblemError(f"{where}: field 'import_statement' is not Python ({exc.msg})") from exc


def dependency_order(names: list[str], calls: dict[str, list[str]]) -> list[str]:
    """`names` with each after the ones it calls, else in the given order; in a cycle the
    first remaining name in the given order goes next."""
    ordered: list[str] = []
    while len(ordered) < len(names):
        left = [n for n in names if n not in ordered]
        ready = [n for n in left if all(c in ordered for c in calls[n])]
        ordered.append((ready or left)[0])
    return ordered


def method_info(raw: object, test_classes: list[str], where: str) -> dict:
    """A `methods_info` entry, its fields checked."""
    if not isinstance(raw, dict):
        raise ProblemError(f"{where}: must be a JSON object")
    for field, kind in METHOD_FIELDS.items():
        checked(raw, field, kind, where)
    checked(raw["dependencies"], "method_dependencies", list, f"{where}: dependencies")
    if raw["test_class"] not in test_classes:
        raise ProblemError(f"{where}: field 'test_class' is not one of the record's test_classes")
    return raw


def repaired_method(info: dict) -> dict:
    """`info` with its description repaired as its skeleton is (`class_skeleton`)."""
    return {**info, "method_description": repaired_skeleton(info["method_description"])}


def method_part(
    info: dict, raw: dict, others: set[str], defined: set[str], where: str
) -> tuple[int, Problem]:
    """One method as a part, and where the skeleton has it: its statement from the skeleton,
    its examples as visible tests (`defined`: the names the module binds), `calls` the
    class's `others` methods it depends on."""
    span = method_span(raw["skeleton"], info["method_description"])
    if span is None:
        raise ProblemError(f"{where}: field 'method_description' is not in the skeleton")
    text = span.group()
    name, statement = info["method_name"], textwrap.dedent(text)
    indent = text[: len(text) - len(text.lstrip(" \t"))]
    calls = info["dependencies"]["method_dependencies"]
    return span.start(), Problem(
        id=f"{raw['task_id']}/{name}",
        title=name,
        domain="classeval",
        statement=statement,
        entry_point=name,
        reference=method_definition(info["solution_code"], indent),
        visible_tests=session_tests(statement, defined),
        calls=[c for c in dict.fromkeys(calls) if c in others and c != name],
    )


def to_class_task(raw: dict, where: str) -> ClassTask:
    """One record as a class task; `where` names the file and record in errors."""
    for field, kind in RECORD_FIELDS.items():
        checked(raw, field, kind, where)
    infos = [
        repaired_method(method_info(info, raw["test_classes"], f"{where}: methods_info[{n}]"))
        for n, info in enumerate(raw["methods_info"])
    ]
    raw = {**raw, "skeleton": repaired_skeleton(raw["skeleton"])}
    names = [i["method_name"] for i in infos]
    others = set(names) - {CONSTRUCTOR, raw["class_name"]}
    if not others or len(set(names)) < len(names):
        raise ProblemError(f"{where}: field 'methods_info' must list each method once")
    defined = import_names(raw["import_statement"], where) | {raw["class_name"]}
    placed = sorted(
        (
            method_part(info, raw, others, defined, f"{where}: methods_info[{n}]")
            for n, info in enumerate(infos)
            if info["method_name"] != CONSTRUCTOR
        ),
        key=lambda found: found[0],
    )
    parts = {p.entry_point: p for _, p in placed}
    order = dependency_order(list(parts), {n: p.calls for n, p in parts.items()})
    return ClassTask(
        id=raw["task_id"],
        title=raw["class_name"],
        statement=missing_imports(raw["import_statement"], raw["skeleton"]) + raw["skeleton"],
        parts=[parts[n] for n in order],
        class_name=raw["class_name"],
        imports="\n".join(raw["import_statement"]),
        skeleton=raw["skeleton"],
        constructor=raw["class_constructor"],
        fields=raw["fields"],
        reference=raw["solution_code"],
        hidden_test=raw["test"],
        test_classes=raw["test_classes"],
        method_test_classes={i["method_name"]: i["test_class"] for i in infos},
    )


def missing_imports(imports: list[str], skeleton: str) -> str:
    """The import lines the skeleton lacks (two skeletons miss some), each with a newline."""
    have = set(skeleton.splitlines())
    return "".join(f"{line}\n" for line in imports if line not in have)


def read_classeval(path: Path = CLASSEVAL_FILE) -> list[ClassTask]:
    """Class tasks from a JSON array of ClassEval records; a malformed record is an error
    naming the file, the record (task_id, or its index) and the field."""
    where = f"classeval file {path}"
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProblemError(f"cannot read {where}: {exc.strerror}") from exc
    data = parse_json(text, where)
    if not isinstance(data, list):
        raise ProblemError(f"{where}: expected a JSON array of class records")
    tasks = []
    for index, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise ProblemError(f"{where}: record #{index}: a record must be a JSON object")
        name = raw.get("task_id")
        record = f"{where}: record {name if isinstance(name, str) else f'#{index}'}"
        tasks.append(to_class_task(raw, record))
    if not tasks:
        raise ProblemError(f"{where} holds no classes")
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise ProblemError(f"{where}: record {task.id}: task_id is not unique")
        seen.add(task.id)
    return tasks


def is_classeval_file(path: Path) -> bool:
    """A .json file that names ClassEval's fields (`skeleton` or `methods_info`), read as text
    so that a malformed one still gets the ClassEval reader's error."""
    if path.suffix != ".json" or not path.is_file():
        return False
    text = path.read_text(errors="replace")
    return '"skeleton"' in text or '"methods_info"' in text


def classeval_exclusions(path: Path = EXCLUSIONS_FILE) -> dict[str, str]:
    """{task_id: reason} of the classes no answer can pass here; none without the file."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProblemError(f"exclusions file {path} is not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ProblemError(f"exclusions file {path} must be a JSON object of task_id: reason")
    return data
