"""Plain Python literals: all that crosses the sandbox boundary, compared by type and value."""

from __future__ import annotations

import ast
import math

PLAIN_TYPES = (str, bytes, int, float, complex, bool, type(None))
SEQUENCES = (list, tuple, set, frozenset)
NUMBERS = (int, float)
TOLERANCE = 1e-9
MAX_DEPTH = 100


def plain(value: object, depth: int = 0) -> bool:
    """Built only of the literal types (exact types, all the way down)."""
    if depth > MAX_DEPTH:
        return False
    if type(value) in PLAIN_TYPES:
        return True
    if type(value) in SEQUENCES:
        assert isinstance(value, SEQUENCES)  # narrows for the type checker
        return all(plain(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(plain(k, depth + 1) and plain(v, depth + 1) for k, v in value.items())
    return False


def parse_value(text: str) -> object:
    """The plain literal `text` spells; ValueError if it spells anything else."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a plain literal: {text}") from exc
    if not plain(value):
        raise ValueError(f"not a plain literal: {text}")
    return value


def matches(got: object, expected: object) -> bool:
    """Same types all the way down and equal values; ints and floats agree within 1e-9."""
    if type(got) in NUMBERS and type(expected) in NUMBERS:
        if type(got) is int and type(expected) is int:
            return got == expected
        assert isinstance(got, NUMBERS) and isinstance(expected, NUMBERS)  # narrows, as above
        return math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    if type(got) is not type(expected):
        return False
    if type(got) in (list, tuple):
        assert isinstance(got, (list, tuple)) and isinstance(expected, (list, tuple))
        return len(got) == len(expected) and all(map(matches, got, expected))
    if type(got) is dict and type(expected) is dict:
        return got.keys() == expected.keys() and all(
            matches(v, expected[k]) for k, v in got.items()
        )
    return got == expected
