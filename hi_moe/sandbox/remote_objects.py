"""Candidate objects living in a sandboxed child, used from trusted code through handles.

`Remote` sends operations to the child of a `SandboxedProgram`: a result that is frozen plain data
(see values.py) comes back as a value, anything else (the candidate's objects, lists, dicts, ...) as
a `Handle`. Uses of a handle (calls, attributes, items, len, iteration, arithmetic) are forwarded;
equality, hashing, truth, order and `in` are decided here on its plain value, fetched fresh (a
handle that has none equals only itself), so no candidate `__eq__` decides a verdict. An exception
raised in the child is raised here as the builtin exception of that name, else as a RemoteError so
named. Once the child fails (timeout, crash, garbled reply), its handles are gone: every later use
fails with the same reason, kept in `lost`.
"""

from __future__ import annotations

import builtins
import functools
import operator
import symtable
from collections.abc import Callable, Iterator

from hi_moe.sandbox.session import CallFailed, SandboxedProgram
from hi_moe.sandbox.values import decode, encode, update

NO_VALUE = object()
"""The plain value of a handle whose object is not plain data."""
BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lshift", "rshift")
LOGICAL = ("and", "or", "xor")


class RemoteError(Exception):
    """An exception of the candidate's own (or a non-builtin) type; its class bears that name."""


@functools.cache
def remote_error_type(name: str) -> type[RemoteError]:
    return type(name, (RemoteError,), {"__module__": "candidate"})


class Raw(str):
    """Source text placed as is in a request (its repr is itself)."""

    def __repr__(self) -> str:
        return str(self)


def raised(reply: dict) -> Exception:
    """The exception to raise here for the child's error reply."""
    message, name = str(reply.get("error", "")), reply.get("type")
    name = name if type(name) is str and name.isidentifier() else "Exception"
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            args = decode(reply["args"]) if type(reply.get("args")) is str else None
            return kind(*args) if type(args) is tuple else kind(message)
        except Exception:
            pass
    return remote_error_type(name)(message)


class Remote:
    """Operations on the objects of the candidate's program loaded (and running) in `program`."""

    def __init__(self, program: SandboxedProgram, deadline: float | None = None) -> None:
        self.program = program
        self.deadline = program.deadline if deadline is None else deadline
        self.lost = ""
        self._status = "error"
        self._handles: dict[int, Handle] = {}

    def _ref(self, value: object) -> str | None:
        if type(value) is not Handle:
            return None
        remote, number = _owner(value)
        if remote is not self:
            raise TypeError("a handle of another program cannot be passed to this one")
        return f"H({number})"

    def apply(self, op: str, *args: object, **kwargs: object) -> object:
        """`op` applied in the child to `args`: a plain value or a handle."""
        if self.lost:
            raise CallFailed(self._status, self.lost)
        mirrors: list = []

        def argument(value: object) -> str:
            text = encode(value, self._ref)
            if type(value) in (list, dict, set):
                mirrors.append(value)
                return f"M({text})"
            return text

        message = {"op": op, "args": Raw(f"[{', '.join(map(argument, args))}]")}
        pairs = (f"{key!r}: {argument(value)}" for key, value in kwargs.items())
        message["kwargs"] = Raw(f"{{{', '.join(pairs)}}}")
        try:
            reply = self.program.request(message, self.deadline)
            result = self._result(reply)
        except CallFailed as failure:
            self.lost, self._status = failure.message, failure.status
            raise
        if mirrors:
            _write_back(mirrors, reply)
        if isinstance(result, Exception):
            raise result
        return result

    def _result(self, reply: dict) -> object:
        if not reply["ok"]:
            return raised(reply)
        if type(number := reply.get("handle")) is int:
            return self._handles.setdefault(number, Handle(self, number))
        try:
            if type(reply.get("value")) is str:
                return decode(reply["value"])
        except ValueError:
            pass
        raise CallFailed("failed", "the program broke the reply channel (a malformed reply)")

    def plain(self, value: object) -> object:
        """`value`'s plain value: itself if it is not a handle, else fetched, or NO_VALUE."""
        if type(value) is not Handle:
            return value
        pair = self.apply("plain", value)
        if type(pair) is not tuple or len(pair) != 2:
            raise CallFailed("failed", "the program broke the reply channel")
        return pair[1] if pair[0] else NO_VALUE

    def bind(self, names: set[str], namespace: dict) -> None:
        """Put each of the candidate module's `names` that it defines into `namespace`."""
        for name in sorted(names):
            try:
                namespace[name] = self.apply("global", name)
            except NameError:
                continue


def _write_back(mirrors: list, reply: dict) -> None:
    """Update the lists, dicts and sets passed to the child as it left them: a test that passes a
    list for the candidate to fill sees it filled, as it would in one process."""
    try:
        values = decode(reply["mirrors"]) if type(reply.get("mirrors")) is str else None
    except ValueError:
        return
    if type(values) is list and len(values) == len(mirrors):
        for target, value in zip(mirrors, values, strict=True):
            update(target, value)


def free_names(source: str) -> set[str]:
    """The global names `source` uses but neither assigns nor imports, less the builtins."""
    top = symtable.symtable(source, "<test>", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}

    def used(table: symtable.SymbolTable) -> Iterator[str]:
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table is top or symbol.is_global()):
                yield symbol.get_name()
        for child in table.get_children():
            yield from used(child)

    return set(used(top)) - defined - set(dir(builtins))


class Handle:
    """A stand-in for one object in the child (see the module docstring)."""

    __slots__ = ("__remote", "__number")
    __remote: Remote
    __number: int

    def __init__(self, remote: Remote, number: int) -> None:
        object.__setattr__(self, "_Handle__remote", remote)
        object.__setattr__(self, "_Handle__number", number)

    def __apply(self, op: str, *args: object, **kwargs: object) -> object:
        return self.__remote.apply(op, self, *args, **kwargs)

    def __value(self) -> object:
        return self.__remote.plain(self)

    def __text(self, op: str) -> str:
        text = self.__apply(op)
        if type(text) is not str:
            raise TypeError(f"__{op}__ returned a {type(text).__name__}, not a str")
        return text

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self.__apply("getattr", name)

    def __setattr__(self, name: str, value: object) -> None:
        self.__apply("setattr", name, value)

    def __delattr__(self, name: str) -> None:
        self.__apply("delattr", name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self.__apply("call", *args, **kwargs)

    def __getitem__(self, key: object) -> object:
        return self.__apply("getitem", key)

    def __setitem__(self, key: object, value: object) -> None:
        self.__apply("setitem", key, value)

    def __delitem__(self, key: object) -> None:
        self.__apply("delitem", key)

    def __len__(self) -> int:
        size = self.__apply("len")
        if type(size) is not int:
            raise TypeError("__len__ did not return an int")
        return size

    def __iter__(self) -> Handle:
        iterator = self.__apply("iter")
        if type(iterator) is not Handle:
            raise TypeError("iter() did not return an iterator")
        return iterator

    def __next__(self) -> object:
        return self.__apply("next")

    def __contains__(self, item: object) -> bool:
        value = self.__value()
        if value is NO_VALUE:
            return any(element is item or element == item for element in self)
        return item in value  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        mine = self.__value()
        if mine is NO_VALUE:
            return other is self
        theirs = self.__remote.plain(other) if type(other) is Handle else other
        return theirs is not NO_VALUE and bool(mine == theirs)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        value = self.__value()
        return hash((Handle, self.__number)) if value is NO_VALUE else hash(value)

    def __bool__(self) -> bool:
        value = self.__value()
        return True if value is NO_VALUE else bool(value)

    def __repr__(self) -> str:
        return self.__text("repr")

    def __str__(self) -> str:
        return self.__text("str")

    def __format__(self, spec: str) -> str:
        return format(self.__plain(), spec) if spec else str(self)

    def __plain(self) -> object:
        value = self.__value()
        if value is NO_VALUE:
            raise TypeError(f"{self!r} is not a plain value")
        return value

    def __int__(self) -> int:
        return int(self.__plain())  # type: ignore[call-overload]

    def __float__(self) -> float:
        return float(self.__plain())  # type: ignore[arg-type]

    def __index__(self) -> int:
        value = self.__plain()
        if not isinstance(value, int):
            raise TypeError(f"{self!r} is not an integer")
        return operator.index(value)

    def __round__(self, digits: int | None = None) -> object:
        return round(self.__plain(), digits)  # type: ignore[call-overload]


def _owner(handle: Handle) -> tuple[Remote, int]:
    """The program a handle belongs to and its number there."""
    remote: Remote = object.__getattribute__(handle, "_Handle__remote")
    number: int = object.__getattribute__(handle, "_Handle__number")
    return remote, number


def _compare(name: str) -> Callable[[Handle, object], object]:
    def compare(self: Handle, other: object) -> object:
        remote = _owner(self)[0]
        mine, theirs = remote.plain(self), remote.plain(other)
        if mine is NO_VALUE or theirs is NO_VALUE:
            return NotImplemented
        return getattr(operator, name)(mine, theirs)

    return compare


def _forward(op: str, reflected: bool = False) -> Callable[..., object]:
    def forward(self: Handle, *other: object) -> object:
        remote = _owner(self)[0]
        return remote.apply(op, *other, self) if reflected else remote.apply(op, self, *other)

    return forward


for _name in ("lt", "le", "gt", "ge"):
    setattr(Handle, f"__{_name}__", _compare(_name))
for _name in (*BINARY, *LOGICAL):
    _op = f"{_name}_" if _name in LOGICAL else _name
    setattr(Handle, f"__{_name}__", _forward(_op))
    setattr(Handle, f"__r{_name}__", _forward(_op, reflected=True))
    setattr(Handle, f"__i{_name}__", _forward(f"i{_name}"))
for _name in ("neg", "pos", "invert", "abs"):
    setattr(Handle, f"__{_name}__", _forward(_name))
