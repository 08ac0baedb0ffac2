"""Repairs of the typing slips that keep a few ClassEval skeletons from parsing as Python.

Three occur in the first 60 classes: a skeleton wrapped in `'''` (ClassEval_5), docstrings
delimited by typographic quotes (ClassEval_43, ClassEval_46) and a docstring left open before
the next method (ClassEval_22). A repaired text says the same to a reader; it only parses.
"""

from __future__ import annotations

import re

DOCSTRING = '"""'
TYPOGRAPHIC_DELIMITER = re.compile(r"[“”]{3}")
DEFINITION = re.compile(r"^\s*(def |async def |@|class )")
WRAPPER = "'''"


def repaired_skeleton(text: str) -> str:
    """`text` unwrapped, its typographic docstring quotes made ASCII and every docstring
    closed before the definition that follows it (or at the end)."""
    return closed_docstrings(TYPOGRAPHIC_DELIMITER.sub(DOCSTRING, unwrapped(text)))


def unwrapped(text: str) -> str:
    """`text` without a `'''` pair around all of it."""
    inner = text.strip()
    if len(inner) > 2 * len(WRAPPER) and inner.startswith(WRAPPER) and inner.endswith(WRAPPER):
        return inner[len(WRAPPER) : -len(WRAPPER)].strip("\n") + "\n"
    return text


def closed_docstrings(text: str) -> str:
    """`text` with a closing `\"\"\"` line, at the opening's indentation, put before any
    definition met while a docstring is open (after the docstring's last non-blank line)."""
    lines: list[str] = []
    opening_indent: str | None = None
    for line in text.splitlines():
        if opening_indent is not None and DEFINITION.match(line):
            close_at(lines, opening_indent)
            opening_indent = None
        if line.count(DOCSTRING) % 2:
            opening_indent = None if opening_indent is not None else indent_of(line)
        lines.append(line)
    if opening_indent is not None:
        close_at(lines, opening_indent)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def close_at(lines: list[str], indent: str) -> None:
    """Put a closing docstring line after the last non-blank one of `lines`."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    lines.insert(end, indent + DOCSTRING)


def indent_of(line: str) -> str:
    """The leading whitespace of `line`."""
    return line[: len(line) - len(line.lstrip())]
