"""Visible tests from a method docstring's `>>>` examples, read as one interpreter session.

An example is a `>>>` line (with its `...` continuation lines) and the output lines after it, up
to a blank line or the next `>>>`. The session's statements so far are each test's `setup`, so
state carries over: `>>> calc = Calculator()` and `>>> calc.push(1)` (no output) set up the next
test, and an example that made a test still runs in the setups of the later ones. Rules:

- an expression followed by output is a test: `call` the expression, `expected` the output
  (several lines where it spans them), which is what the interpreter prints: the value's repr;
- an assignment to one name followed by output (`>>> x = f()` then a value, which the
  interpreter would not print) is read as meaning the name's value: the test calls `x`;
- output that is no Python expression cannot be compared reliably and makes no test: object
  reprs (`<X object at 0x..>`), printed text, notes such as `x = 1`; its example still runs in
  later setups, as it did in the session;
- a traceback makes no test and leaves the session untouched (the statement raised);
- a `>>>` line that does not parse takes the lines after it as continuation lines (docstrings
  that omit the `...`) until it parses; one that never parses is dropped;
- a test using a name that nothing binds (no setup line, not one of the module's `defined`
  names, not a builtin) is dropped: the docstring leaves out how that object was built, and the
  test could only fail.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from graph.state import TestCase

PROMPT = re.compile(r"^\s*>>> ?(?P<source>.*)$")
CONTINUATION = re.compile(r"^\s*\.\.\.(?: |$)(?P<source>.*)$")
TRACEBACK = "Traceback (most recent call last)"
QUOTES = ('"""', "'''")
"""The docstring's closing quotes, which end the last example's output."""
BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Example:
    """One `>>>` statement and the output lines shown after it."""

    source: str
    output: str


def parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def ends_output(line: str) -> str | None:
    """None for an output line; where it ends an output (a blank line, a `>>>` line, the
    closing quotes) the text before the quotes ('' if none)."""
    text = line.rstrip()
    if not text.strip() or PROMPT.match(text):
        return ""
    for quotes in QUOTES:
        if text.endswith(quotes):
            return text.removesuffix(quotes)
    return None


def raw_examples(docstring: str) -> Iterator[Example]:
    """The `>>>` examples of a docstring in order, a source that does not parse completed
    with the lines after it (docstrings that leave out the `...`)."""
    lines = docstring.splitlines()
    index = 0
    while index < len(lines):
        prompt = PROMPT.match(lines[index])
        index += 1
        if prompt is None:
            continue
        source = [prompt["source"]]
        while index < len(lines) and (more := CONTINUATION.match(lines[index])):
            source.append(more["source"])
            index += 1
        output = []
        while index < len(lines) and ends_output(lines[index]) is None:
            output.append(lines[index])
            index += 1
        if index < len(lines) and (last := ends_output(lines[index])):
            output.append(last)
        while not parses("\n".join(source)) and output:
            source.append(output.pop(0).strip())
        yield Example("\n".join(source), textwrap.dedent("\n".join(output)).strip())


def comparable(output: str) -> bool:
    """Whether an output reads as a value's repr (a Python expression)."""
    try:
        ast.parse(output, mode="eval")
    except SyntaxError:
        return False
    return True


def tested_expression(source: str) -> str | None:
    """What an example with output tests: the expression itself, or the one name a single
    assignment binds; None for anything else."""
    body = ast.parse(source).body
    if len(body) != 1:
        return None
    statement = body[0]
    if isinstance(statement, ast.Expr):
        return source
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ):
        return statement.targets[0].id
    return None


def imported_names(tree: ast.AST) -> set[str]:
    """The names the imports in `tree` bind (`import a.b` binds `a`)."""
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    return {(alias.asname or alias.name).split(".")[0] for n in imports for alias in n.names}


def unbound_names(test: TestCase, defined: Collection[str]) -> set[str]:
    """Names the test reads that neither its setup, `defined` nor the builtins bind."""
    tree = ast.parse(f"{test.setup}\n{test.call}")
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Name)]
    bound = {n.id for n in names if isinstance(n.ctx, ast.Store)} | imported_names(tree)
    bound |= {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
    read = {n.id for n in names if isinstance(n.ctx, ast.Load)}
    return read - bound - set(defined) - BUILTINS


def session_tests(docstring: str, defined: Collection[str] = ()) -> list[TestCase]:
    """The docstring's examples as tests, each after the session's statements so far (see the
    module's docstring); `defined` names what the module under test binds (class, imports)."""
    tests = []
    setup: list[str] = []
    for example in raw_examples(docstring):
        if not parses(example.source) or example.output.startswith(TRACEBACK):
            continue
        call = tested_expression(example.source) if example.output else None
        if call is not None and comparable(example.output):
            before = setup + ([example.source] if call != example.source else [])
            tests.append(TestCase(setup="\n".join(before), call=call, expected=example.output))
        setup.append(example.source)
    return [t for t in tests if not unbound_names(t, defined)]
