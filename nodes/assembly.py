"""The module built so far: each part's chosen code, and the interfaces later parts see."""

from __future__ import annotations

import ast
import re

from graph.state import OutcomeReport, Part, State
from hi_moe.problems.mbpp_pro import calls_note

CONTRACT_CHARS = 160


def best_outcome(outcomes: list[OutcomeReport]) -> OutcomeReport | None:
    """The latest success, else the outcome that passed the most tests."""
    successes = [o for o in outcomes if o.status == "success"]
    if successes:
        return successes[-1]
    return max(outcomes, key=lambda o: o.tests_passed, default=None)


def chosen_outcomes(state: State) -> list[OutcomeReport | None]:
    """Per part of the task, in task order, the outcome whose code goes into the module."""
    assert state.task is not None
    return [best_outcome([o for o in state.outcomes if o.part == p.name]) for p in state.task.parts]


def solved_others(state: State, exclude: str) -> list[OutcomeReport]:
    """The chosen outcome of every solved part but `exclude`, in task order."""
    solved = [o for o in chosen_outcomes(state) if o and o.status == "success"]
    return [o for o in solved if o.part != exclude]


def solved_module(state: State, exclude: str) -> str:
    """The code of every solved part but `exclude`: what a new part's code runs beside."""
    return "".join(f"{o.code.strip()}\n\n" for o in solved_others(state, exclude))


def without_functions(code: str, names: set[str]) -> str:
    """`code` without its top-level definitions of `names`: a part that rewrites a function
    another part already built (and verified) keeps calling the built one."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    dropped: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            dropped.update(range(first - 1, node.end_lineno or node.lineno))
    lines = code.splitlines(keepends=True)
    return "".join(line for number, line in enumerate(lines) if number not in dropped)


def written_earlier(state: State, part: Part) -> str:
    """The code of another part's chosen outcome that already defines `part`'s function (a
    whole-task answer wrote it), else ''."""
    for outcome in chosen_outcomes(state):
        if outcome and outcome.part != part.name and find_function(outcome.code, part.name):
            return outcome.code
    return ""


def find_function(source: str, name: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def interface_line(code: str, statement: str, name: str) -> str:
    """`def name(args) -> ret: contract`: the signature as built, the contract as specified."""
    built = find_function(code, name) or find_function(statement, name)
    if built is None:
        return f"def {name}(...)"
    returns = f" -> {ast.unparse(built.returns)}" if built.returns else ""
    signature = f"def {name}({ast.unparse(built.args)}){returns}"
    specified = contract_of(statement, name)
    if not specified or specified.startswith("def "):
        return signature
    return f"{signature}: {specified}"


def contract_of(statement: str, name: str) -> str:
    """The first line of the docstring of `name` in `statement`, else of the statement itself
    (a leading comment such as MBPP's "# Write a function to ...")."""
    function = find_function(statement, name)
    doc = ast.get_docstring(function) if function else None
    lines = (doc or statement).strip().splitlines()
    return lines[0].removeprefix("#").strip()[:CONTRACT_CHARS] if lines else ""


def contract(part: Part) -> str:
    """A part's one-line contract: the first line of its docstring, else of its statement after
    the note naming the function it must call (which says nothing of its own job)."""
    statement = part.statement
    for name in part.calls:
        statement = statement.removeprefix(calls_note(name))
    return contract_of(statement, part.name)


def routine_summary(part: Part) -> str:
    """What the routine cache stores and matches for a solved part."""
    return f"{part.name}: {contract(part)}"


def routine_query(parts: list[Part]) -> str:
    """What the architect looks up in the routine cache for the parts it plans."""
    return "\n".join(contract(p) for p in parts)


def relevant_interfaces(state: State, part: Part, limit: int) -> list[str]:
    """Interfaces of solved parts that `part`'s statement names, at most `limit` of them."""
    solved = [o for o in chosen_outcomes(state) if o and o.status == "success"]
    named = [
        o.interface
        for o in solved
        if o.part != part.name and re.search(rf"\b{re.escape(o.part)}\b", part.statement)
    ]
    return named[:limit]
