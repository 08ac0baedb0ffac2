"""Values that cross to and from a child holding candidate objects: plain literals, deques, the
standard library's value types (datetime, date, time, timedelta, timezone, Decimal), classes and
builtin functions by name (`int`, `datetime.now`: R(module, qualified name)), and PIL images by
their pixels (Image(mode, size, pixels, format, filename)).

`encode` writes a value as source text the child evaluates (a handle to one of the child's objects
written by the caller's `ref`); `decode` rebuilds a value from the child's text by walking its
syntax tree, allowing only literals, calls of those constructors and names of modules already
imported here: nothing the child sends can run code here.
"""

from __future__ import annotations

import ast
import collections
import datetime
import math
import sys
from collections.abc import Callable
from decimal import Decimal

from hi_moe.sandbox.literals import MAX_DEPTH, PLAIN_TYPES

VALUE_TYPES = (datetime.datetime, datetime.date, datetime.time, datetime.timedelta, Decimal)
ATOMS = (*PLAIN_TYPES, *VALUE_TYPES, datetime.timezone)
CONSTRUCTORS: dict[str, Callable[..., object]] = {
    "datetime.datetime": datetime.datetime,
    "datetime.date": datetime.date,
    "datetime.time": datetime.time,
    "datetime.timedelta": datetime.timedelta,
    "datetime.timezone": datetime.timezone,
    "Decimal": Decimal,
    "set": set,
    "frozenset": frozenset,
    "deque": collections.deque,
}
NAMED_TYPES = (*PLAIN_TYPES, list, tuple, dict, set, frozenset, *VALUE_TYPES)
"""The classes a child may return by name, and the builtin methods of theirs (`datetime.now`);
any other class or function stays in the child, behind a handle."""
CONTAINERS: dict[type, Callable[[str], str]] = {
    list: lambda inner: f"[{inner}]",
    tuple: lambda inner: f"({inner},)" if inner else "()",
    set: lambda inner: f"{{{inner}}}" if inner else "set()",
    frozenset: lambda inner: f"frozenset({{{inner}}})" if inner else "frozenset()",
    collections.deque: lambda inner: f"deque([{inner}])",
}
CONSTANTS = {"inf": math.inf, "nan": math.nan, "datetime.timezone.utc": datetime.UTC}


def _atom(value: object) -> bool:
    if type(value) in (datetime.datetime, datetime.time):
        tzinfo = value.tzinfo  # type: ignore[attr-defined]
        return tzinfo is None or type(tzinfo) is datetime.timezone
    return type(value) in ATOMS


def encode(value: object, ref: Callable[[object], str | None], depth: int = 0) -> str:
    """Source text for `value`: atoms by repr, containers item by item, and anything `ref` names
    (a handle) as `ref` writes it; TypeError for a value the child could not rebuild."""
    if depth > MAX_DEPTH:
        raise TypeError("the value is nested too deeply to pass to the candidate's code")
    if (handle := ref(value)) is not None:
        return handle
    if _atom(value):
        return repr(value)
    if (name := reference(value)) is not None:
        return f"R{name!r}"
    if (picture := _image(value)) is not None:
        return f"Image{picture!r}"
    if isinstance(value, dict) and type(value) is dict:
        pairs = (
            f"{encode(k, ref, depth + 1)}: {encode(v, ref, depth + 1)}" for k, v in value.items()
        )
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list | tuple | set | frozenset | collections.deque) and (
        type(value) in CONTAINERS
    ):
        inner = ", ".join(encode(item, ref, depth + 1) for item in value)
        return CONTAINERS[type(value)](inner)
    raise TypeError(f"a {type(value).__name__} cannot be passed to the candidate's code")


def resolve(module: str, name: str) -> object:
    """The object `name` (dotted) of the already imported `module`; ValueError if there is none."""
    parts = name.split(".")
    if module not in sys.modules or not all(p.isidentifier() and p[0] != "_" for p in parts):
        raise ValueError(f"no such name here: {module}.{name}")
    value: object = sys.modules[module]
    for part in parts:
        value = getattr(value, part)
    return value


def reference(value: object) -> tuple[str, str] | None:
    """(module, qualified name) of a class or builtin function (or a class's builtin method)
    that those names find again, else None."""
    if not (isinstance(value, type) or type(value).__name__ == "builtin_function_or_method"):
        return None
    owner = getattr(value, "__self__", None)
    module = getattr(owner if isinstance(owner, type) else value, "__module__", None)
    name = getattr(value, "__qualname__", None)
    if type(module) is not str or type(name) is not str:
        return None
    try:
        return (module, name) if resolve(module, name) == value else None
    except (ValueError, AttributeError):
        return None


def _image(value: object) -> tuple | None:
    """A PIL image as (mode, size, pixels, format, filename), if `value` is one."""
    pil = sys.modules.get("PIL.Image")
    if pil is None or not isinstance(value, pil.Image):
        return None
    return (value.mode, value.size, value.tobytes(), value.format, getattr(value, "filename", ""))


def _rebuild_image(
    mode: object, size: object, pixels: object, form: object, name: object
) -> object:
    """A PIL image from its raw pixels (no file format is parsed), if PIL is imported here."""
    pil = sys.modules.get("PIL.Image")
    if pil is None or type(mode) is not str or type(pixels) is not bytes:
        raise ValueError("not an image")
    if type(size) is not tuple or len(size) != 2 or not all(type(n) is int for n in size):
        raise ValueError("not an image size")
    picture = pil.frombytes(mode, size, pixels)
    picture.format = form if type(form) is str else None
    picture.filename = name if type(name) is str else ""  # type: ignore[attr-defined]
    return picture


def named(value: object) -> bool:
    """One of NAMED_TYPES, or a builtin method of one."""
    if type(value).__name__ == "builtin_function_or_method":
        value = getattr(value, "__self__", None)
    return any(value is kind for kind in NAMED_TYPES)


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise ValueError("not a name")


def _build(node: ast.expr) -> object:
    if isinstance(node, ast.Constant) and type(node.value) in PLAIN_TYPES:
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        dotted = _dotted(node)
        if dotted in CONSTANTS:
            return CONSTANTS[dotted]
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _build(node.operand)
        if type(operand) in (int, float, complex):
            return -operand if isinstance(node.op, ast.USub) else operand  # type: ignore[operator]
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        left, right = _build(node.left), _build(node.right)
        if type(left) in (int, float) and type(right) is complex:
            return left + right if isinstance(node.op, ast.Add) else left - right  # type: ignore[operator]
    elif isinstance(node, ast.Tuple):
        return tuple(_build(item) for item in node.elts)
    elif isinstance(node, ast.List):
        return [_build(item) for item in node.elts]
    elif isinstance(node, ast.Set):
        return {_build(item) for item in node.elts}
    elif isinstance(node, ast.Dict) and None not in node.keys:
        return {_build(k): _build(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    elif isinstance(node, ast.Call) and _dotted(node.func) == "Image" and len(node.args) == 5:
        return _rebuild_image(*(_build(arg) for arg in node.args))
    elif isinstance(node, ast.Call) and _dotted(node.func) == "R" and len(node.args) == 2:
        module, name = _build(node.args[0]), _build(node.args[1])
        if type(module) is str and type(name) is str:
            try:
                value = resolve(module, name)
            except AttributeError as exc:
                raise ValueError(str(exc)) from exc
            if named(value):
                return value
    elif isinstance(node, ast.Call) and (constructor := CONSTRUCTORS.get(_dotted(node.func))):
        args = [_build(arg) for arg in node.args]
        kwargs = {kw.arg: _build(kw.value) for kw in node.keywords if kw.arg}
        if len(kwargs) == len(node.keywords):
            return constructor(*args, **kwargs)
    raise ValueError("not a plain value")


def decode(text: str) -> object:
    """The value `text` spells; ValueError if it spells anything else than the values above."""
    try:
        return _build(ast.parse(text, mode="eval").body)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, OverflowError) as exc:
        raise ValueError(f"not a plain value: {text[:200]}") from exc


def update(target: object, new: object, depth: int = 0) -> None:
    """Make the list, dict or set `target` equal `new` in place (a container passed to the child
    and changed there), keeping the nested lists and dicts that are still there."""
    if type(new) is not type(target) or depth > MAX_DEPTH:
        return
    if isinstance(target, list) and isinstance(new, list):
        if len(target) != len(new):
            target[:] = new
        for i, item in enumerate(new):
            if type(item) in (list, dict) and type(target[i]) is type(item):
                update(target[i], item, depth + 1)
            else:
                target[i] = item
    elif isinstance(target, dict) and isinstance(new, dict):
        for key in [key for key in target if key not in new]:
            del target[key]
        for key, item in new.items():
            if type(item) in (list, dict) and type(target.get(key)) is type(item):
                update(target[key], item, depth + 1)
            else:
                target[key] = item
    elif isinstance(target, set) and isinstance(new, set):
        target.clear()
        target.update(new)
