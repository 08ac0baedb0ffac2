"""Pull code and a confidence out of a model's free-text reply."""

from __future__ import annotations

import ast
import re

FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|$)", re.DOTALL)
CONFIDENCE = re.compile(r"CONFIDENCE:\s*([0-9]*\.?[0-9]+)", re.IGNORECASE)
CONFIDENCE_LINE = re.compile(r"^[ \t#]*CONFIDENCE:\s*[0-9]*\.?[0-9]+[ \t]*\n?", re.I | re.M)
"""A confidence line a model put inside its code block (valid Python by accident: an annotation)."""
MAX_CODE_CHARS = 12000
"""Above any reply a 2048-token completion (a whole ClassEval class, docstrings kept) can hold."""


def extract_code(reply: str) -> str:
    """The first fenced code block without confidence lines, else the reply up to its confidence
    without stray fences; bounded in size."""
    match = FENCE.search(reply)
    if match:
        code = CONFIDENCE_LINE.sub("", match.group(1))
    else:
        text = CONFIDENCE.split(reply)[0]
        code = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("```"))
    return code.strip()[:MAX_CODE_CHARS] + "\n"


def extract_confidence(reply: str, default: float = 0.5) -> float:
    """The stated confidence in [0, 1], or `default` when none is stated."""
    match = CONFIDENCE.search(reply)
    if match is None:
        return default
    return min(max(float(match.group(1)), 0.0), 1.0)


def malformed_code(code: str, entry_point: str = "") -> bool:
    """A format error: no code, code that is not valid Python, or (when `entry_point` is given)
    code that defines no function of that name."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return True
    if not tree.body:
        return True
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return bool(entry_point) and not any(
        isinstance(node, functions) and node.name == entry_point for node in ast.walk(tree)
    )
