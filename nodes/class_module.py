"""A class task's module built so far: the class with each part's method in place, and what a
method's specialist sees of the rest of the class (its constructor and its dependencies).

The base is the whole-class answer when the task opened with one (so the methods, helpers and
imports it wrote stay), else the skeleton; each part's chosen method replaces its own there.
"""

from __future__ import annotations

from collections.abc import Mapping

from graph.state import OutcomeReport, Part, State, Task
from hi_moe.problems.class_code import assemble_class, interface, method_source, new_imports

CONSTRUCTOR = "__init__"


def class_base(task: Task, answers: list[str]) -> str:
    """The earliest answer that defines the whole class (the opening whole-class call), else
    the skeleton."""
    return next((code for code in answers if defines_class(code, task)), task.skeleton)


def defines_class(code: str, task: Task) -> bool:
    """Whether `code` parses and defines the task's class."""
    try:
        assemble_class(code, task.class_name, {})
    except (SyntaxError, ValueError):
        return False
    return True


def class_with(task: Task, base: str, codes: Mapping[str, str]) -> str:
    """`base` with each part's method taken from its code (part name -> answer) in place, and
    any imports those answers add."""
    methods = {name: method_source(code, name, task.class_name) for name, code in codes.items()}
    imports = "".join(new_imports(code, base) for code in codes.values())
    kept = {name: source for name, source in methods.items() if source}
    unique = "".join(dict.fromkeys(imports.splitlines(keepends=True)))
    return assemble_class(base, task.class_name, kept, unique)


def class_module(state: State, chosen: list[OutcomeReport | None], extra: Mapping[str, str]) -> str:
    """The class with the chosen outcomes' methods and then `extra` (part -> code) in place."""
    assert state.task is not None
    codes = {o.part: o.code for o in chosen if o is not None}
    answers = [o.code for o in state.outcomes] + list(extra.values())
    return class_with(state.task, class_base(state.task, answers), {**codes, **extra})


def class_interfaces(task: Task, part: Part) -> list[str]:
    """What a method's specialist sees of the class: its constructor (the shared state) and
    the interfaces of the methods it calls."""
    constructor = method_source(task.skeleton, CONSTRUCTOR, task.class_name).strip()
    lines = [f"class {task.class_name}, constructed by:\n{constructor}"] if constructor else []
    return lines + [interface(task.skeleton, name, task.class_name) for name in part.calls]
