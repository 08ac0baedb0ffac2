"""Visible tests from the examples a statement shows, in the forms HumanEval's docstrings use:

- doctests: `>>> f(x)` and the output on the next line;
- call lines: `f(x) == y`, and the same with `➞`, `=>`, `==>`, `->`, `=`, `returns`,
  `should return` or a comment (`# => y`) between call and result;
- prose: `For x = ..., y = ... the output should be ...` and `Input: ...` followed by
  `Output: ...`, whose inputs name the function's parameters (or are its one argument).

Only examples whose arguments and result are Python literals become tests (`true` and `false`
are read as booleans); everything else stays prose for the model to read. The statement is all
this reads: a docstring's wrong example becomes a wrong visible test for every system alike.
"""

from __future__ import annotations

import ast
import doctest
import re

from graph.state import TestCase

SEPARATOR = re.compile(r"\s*(?:#\s*)?(?:==>|=>|->|➞|→|==|=|should return|returns)\s*")
OUTPUT_SHOULD_BE = re.compile(
    r"For (?P<input>.+?),?\s+the (?:output|result) should be\s+(?P<output>.+)", re.IGNORECASE
)
INPUT_OUTPUT = re.compile(r"Input:\s*(?P<input>.+)\n\s*Output:\s*(?P<output>.+)", re.IGNORECASE)
ENDS_A_RESULT = ("#", "(", ".")
"""What may follow a result on its line: a comment, an explanation, a full stop."""
BOOLEANS = {"true": "True", "false": "False"}


def is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def normalized(literal: str) -> str:
    """A literal's text as Python writes it (no comment, canonical spacing and quotes)."""
    return ast.unparse(ast.parse(literal, mode="eval"))


def result_literal(text: str) -> str | None:
    """The Python literal a result text starts with, if only a comment, an explanation or a
    full stop follows it; for `expr = value` (worked arithmetic) the final value."""
    text = text.strip()
    sentence = text.removesuffix(".").strip()
    if sentence.lower() in BOOLEANS:
        return BOOLEANS[sentence.lower()]
    if sentence != text and is_literal(sentence):
        return normalized(sentence)  # `should return 16.` is 16
    for end in range(len(text), 0, -1):
        head, tail = text[:end].strip(), text[end:].strip()
        if head and (not tail or tail.startswith(ENDS_A_RESULT)) and is_literal(head):
            return normalized(head)
    before, equals, after = text.rpartition(" = ")
    return result_literal(after) if equals and before else None


def literal_call(text: str, entry_point: str) -> ast.Call | None:
    """`text` parsed as a call of `entry_point` whose arguments are all literals, or None."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(tree, ast.Call) and ast.unparse(tree.func) == entry_point):
        return None
    arguments = [*tree.args, *(k.value for k in tree.keywords)]
    return tree if all(is_literal(ast.unparse(a)) for a in arguments) else None


def call_at(line: str, start: int, entry_point: str) -> str | None:
    """The shortest `entry_point(...)` call at `start` whose arguments are all literals."""
    for end in range(line.find("(", start), len(line)):
        if line[end] == ")" and literal_call(line[start : end + 1], entry_point):
            return line[start : end + 1]
    return None


def doctest_tests(prompt: str, entry_point: str) -> list[TestCase]:
    """`>>>` examples whose output is a Python literal."""
    tests = []
    for example in doctest.DocTestParser().get_examples(prompt):
        call, want = example.source.strip(), example.want.strip()
        for quotes in ('"""', "'''"):
            # The docstring's closing quotes right under the last example end up in its `want`.
            want = want.removesuffix(quotes).rstrip()
        if entry_point in call and want and is_literal(want):
            tests.append(TestCase(call=call, expected=want))
    return tests


def call_line_tests(prompt: str, entry_point: str) -> list[TestCase]:
    """`f(x) == y` lines and their variants (see the module's docstring)."""
    tests = []
    for line in prompt.splitlines():
        for match in re.finditer(rf"\b{re.escape(entry_point)}\(", line):
            call = call_at(line, match.start(), entry_point)
            if call is None or line.lstrip().startswith("def "):
                continue
            rest = line[match.start() + len(call) :]
            separator = SEPARATOR.match(rest)
            expected = result_literal(rest[separator.end() :]) if separator else None
            if expected is not None:
                tests.append(TestCase(call=call, expected=expected))
    return tests


def parameters(prompt: str, entry_point: str) -> list[str]:
    """The parameter names of `entry_point` as the prompt defines it (none if it does not)."""
    try:
        tree = ast.parse(prompt + "\n    pass\n")
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return [a.arg for a in node.args.args]
    return []


def prose_tests(prompt: str, entry_point: str) -> list[TestCase]:
    """`For x = ..., y = ... the output should be ...` and `Input:`/`Output:` pairs. Inputs
    name the function's parameters; an unnamed input needs a function of one parameter."""
    names = parameters(prompt, entry_point)
    tests = []
    for pattern in (OUTPUT_SHOULD_BE, INPUT_OUTPUT):
        for match in pattern.finditer(prompt):
            call = f"{entry_point}({match.group('input').strip().rstrip(',')})"
            tree = literal_call(call, entry_point)
            expected = result_literal(match.group("output"))
            if tree is None or expected is None:
                continue
            named = {k.arg for k in tree.keywords} <= set(names)
            if named and (not tree.args or (len(names) == 1 and not tree.keywords)):
                tests.append(TestCase(call=call, expected=expected))
    return tests


def statement_tests(prompt: str, entry_point: str) -> list[TestCase]:
    """Every visible test the statement's examples give, each once, in order of the forms."""
    found = [
        *doctest_tests(prompt, entry_point),
        *call_line_tests(prompt, entry_point),
        *prose_tests(prompt, entry_point),
    ]
    return list({(t.call, t.expected): t for t in found}.values())
