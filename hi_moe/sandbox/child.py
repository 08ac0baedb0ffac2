"""Untrusted side of the sandbox: loads the candidate's code, then serves calls to its functions
and operations on its objects.

Run as `python -I -S -c <this file's text>` inside the isolation; imports only a few small standard
modules, so it starts fast. Each request is one line on stdin holding a dict written by the trusted
parent; each reply is one line `repr(dict)` on the original stdout. The first request loads the
code: {"code", "name" (the module's __name__), "program" (a clean sys.exit ends it well), "needs"
(functions it must define), "limits" (resource limits by name), and optionally "path" (library
dirs to import from), "env" (variables to set), "no_links" (forbid creating links and special
files) and "seed" (for `random`)}; every later one is a call {"name", "args", "kwargs"},
answered with {"ok": True, "value": repr(result)} or {"ok": False, "error": message, "type": the
exception's type name}, or an operation {"op", "args", "kwargs"} (see `operate`) whose arguments
may name held objects as H(n) and mark the parent's containers as M(...) (sent back changed).

Before any candidate code runs, fds 0-2 point at /dev/null and print() goes to a bounded in-memory
capture, so the candidate's output never mixes with replies. The child never sees an expected value
and gives no verdict: the parent compares what it returns.
"""

import collections
import datetime
import decimal
import io
import operator
import os
import resource
import sys

NOBODY = 65534
MESSAGE_CHARS = 300
OUTPUT_CHARS = 4000
SOURCE_NAME = "solution.py"
REQUEST_NAMES = {"__builtins__": {}, "inf": float("inf"), "nan": float("nan")}
VALUE_NAMES = {"datetime": datetime, "Decimal": decimal.Decimal, "set": set, "frozenset": frozenset}
VALUE_NAMES["deque"] = collections.deque
VALUE_TYPES = (datetime.datetime, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)
ATOMS = (str, bytes, int, float, complex, bool, type(None), *VALUE_TYPES, datetime.timezone)
"""Plain literals and the standard value types the parent rebuilds (hi_moe/sandbox/values.py)."""
NAMED_TYPES = (*ATOMS[:7], list, tuple, dict, set, frozenset, *VALUE_TYPES)
"""The classes returned by name, and their builtin methods (as values.NAMED_TYPES)."""
AS_DICT = (collections.Counter, collections.OrderedDict, collections.defaultdict)
MAX_DEPTH = 100
LINK_CALLS = {
    "x86_64": (0xC000003E, (86, 88, 133, 259, 265, 266)),
    "aarch64": (0xC00000B7, (33, 36, 37)),
}
"""Per machine: its seccomp audit arch, the numbers of link, symlink, mknod and their *at forms."""
BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lshift", "rshift")
LOGICAL = ("and_", "or_", "xor")
IN_PLACE = tuple(f"i{name.rstrip('_')}" for name in (*BINARY, *LOGICAL))
OPERATORS = (*BINARY, *LOGICAL, *IN_PLACE, "neg", "pos", "invert", "abs")
OPERATORS += ("getitem", "setitem", "delitem")
OPERATIONS = {name: getattr(operator, name) for name in (*OPERATORS, "call")}
OPERATIONS.update(getattr=getattr, setattr=setattr, delattr=delattr, len=len, iter=iter, next=next)
OPERATIONS.update(repr=repr, str=str)


class Capture(io.TextIOBase):
    """Keeps the last OUTPUT_CHARS characters written; printing in a loop cannot exhaust memory."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text = (self.text + text[-OUTPUT_CHARS:])[-OUTPUT_CHARS:]
        return len(text)


def short(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def error_message(code: str) -> str:
    """The current exception and the candidate's own line that raised it; no harness frames."""
    kind, error, trace = sys.exc_info()
    assert kind is not None, "called outside an exception handler"
    line = 0
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == SOURCE_NAME:
            line = trace.tb_lineno
        trace = trace.tb_next
    try:
        detail = str(error)
    except BaseException:
        detail = "(the exception cannot be printed)"
    text = f"{kind.__name__}: {detail}" if detail else kind.__name__
    lines = code.splitlines()
    if 0 < line <= len(lines):
        text += f" (line {line}: {lines[line - 1].strip()})"
    return short(text)


def harden() -> None:
    """Be the out-of-memory killer's first choice; started as root, become uid/gid 65534 (nobody),
    which leaves no capabilities."""
    try:
        with open("/proc/self/oom_score_adj", "w") as oom_score:
            oom_score.write("1000")
    except OSError:
        pass
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def failure(code: str) -> dict:
    """The reply for the exception being handled: its message, type name and (if plain) args."""
    kind, error = sys.exc_info()[:2]
    reply = {"ok": False, "error": error_message(code), "type": kind.__name__ if kind else ""}
    try:
        args = plain_value(getattr(error, "args", ()))
        if frozen(args) and len(text := repr(args)) <= OUTPUT_CHARS:
            reply["args"] = text
    except Exception:
        pass
    return reply


def forbid_links() -> None:
    """A seccomp filter for this process and all it starts: creating hard or symbolic links, device
    nodes or FIFOs fails with EPERM, and so does every system call of another architecture."""
    import ctypes  # only in a child sharing its work dir with the trusted side
    import struct

    arch, numbers = LINK_CALLS[os.uname().machine]
    load_word, if_equal, if_above, give = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050001  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    rules = [(load_word, 0, 0, 4), (if_equal, 1, 0, arch), (give, 0, 0, deny), (load_word, 0, 0, 0)]
    rules.append((if_above, len(numbers) + 1, 0, 0x40000000))  # the x32 ABI's numbers
    rules += [(if_equal, len(numbers) - i, 0, number) for i, number in enumerate(numbers)]
    rules += [(give, 0, 0, allow), (give, 0, 0, deny)]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *rule) for rule in rules))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    program = Program(len(rules), ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    # PR_SET_NO_NEW_PRIVS, then PR_SET_SECCOMP with SECCOMP_MODE_FILTER.
    if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(program), 0, 0):
        raise OSError(ctypes.get_errno(), "seccomp is not available")


def load(request: dict, namespace: dict, capture: Capture) -> dict:
    """Apply the limits and settings, then run the candidate's module code in `namespace`."""
    if request.get("no_links"):
        try:
            forbid_links()
        except Exception as exc:
            return {"ok": False, "error": f"the sandbox cannot forbid links here: {exc!r}"}
    for name, value in request["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    os.environ.update(request.get("env", {}))
    sys.path.extend(request.get("path", []))
    if request.get("seed") is not None:
        import random

        random.seed(request["seed"])
    try:
        exec(compile(request["code"], SOURCE_NAME, "exec"), namespace)
    except SystemExit as stop:
        if not (request["program"] and stop.code in (None, 0)):
            return {"ok": False, "error": error_message(request["code"]), "stdout": capture.text}
    except BaseException:
        return {"ok": False, "error": error_message(request["code"]), "stdout": capture.text}
    missing = [name for name in request["needs"] if not callable(namespace.get(name))]
    error = f"the code does not define {missing[0]}()" if missing else ""
    return {"ok": not missing, "error": error, "stdout": capture.text}


def call(request: dict, namespace: dict, code: str) -> dict:
    """Call one of the candidate's functions with the parent's literal arguments."""
    try:
        function = namespace.get(request["name"])
        if not callable(function):
            raise NameError(f"the code does not define {request['name']}()")
        return {"ok": True, "value": repr(function(*request["args"], **request["kwargs"]))}
    except BaseException:
        return failure(code)


class NotPlain(Exception):
    """The value is not one the parent can rebuild."""


class Spelled:
    """A value the parent rebuilds from this text: R(module, name) for a class or builtin method
    by name, Image(mode, size, pixels, format, filename) for a PIL image."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def resolve(module: str, name: str) -> object:
    value = sys.modules[module] if module in sys.modules else __import__(module, fromlist=["_"])
    for part in name.split("."):
        value = getattr(value, part)
    return value


def image(mode: str, size: tuple, pixels: bytes, form: object, filename: object) -> object:
    """A PIL image the parent sent (see `spelled`)."""
    from PIL import Image

    picture = Image.frombytes(mode, size, pixels)
    vars(picture).update(format=form, filename=filename)
    return picture


def spelled(value: object) -> Spelled | None:
    """A NAMED_TYPES class or a builtin method of one, or a PIL image, else None."""
    owner = getattr(value, "__self__", None)
    if type(value).__name__ == "builtin_function_or_method" and owner in NAMED_TYPES:
        module, name = owner.__module__, getattr(value, "__qualname__", "")
    elif isinstance(value, type) and value in NAMED_TYPES:
        module, name = value.__module__, value.__qualname__
    elif any(f"{c.__module__}.{c.__name__}" == "PIL.Image.Image" for c in type(value).__mro__):
        fields = [getattr(value, name) for name in ("mode", "size", "tobytes", "format")]
        fields[2] = fields[2]()
        return Spelled(f"Image{(*fields, getattr(value, 'filename', ''))!r}")
    else:
        return None
    return Spelled(f"R({module!r}, {name!r})") if resolve(module, name) == value else None


def plain_value(value: object, depth: int = 0) -> object:
    """`value` as data the parent rebuilds (a numpy scalar as its Python number, a Counter as a
    dict, a class by name); NotPlain if it is not."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        value = getattr(value, "item")()  # noqa: B009 - any numpy scalar
    if isinstance(value, dict) and type(value) in AS_DICT:
        value = dict(value)
    if (text := spelled(value)) is not None:
        return text
    kind = type(value)
    if isinstance(value, datetime.datetime | datetime.time) and kind in ATOMS:
        if value.tzinfo is None or type(value.tzinfo) is datetime.timezone:
            return value
    elif kind in ATOMS:
        return value
    elif isinstance(value, list | tuple | set | frozenset | collections.deque):
        if depth < MAX_DEPTH and kind in (list, tuple, set, frozenset, collections.deque):
            return kind(plain_value(item, depth + 1) for item in value)
    elif isinstance(value, dict) and depth < MAX_DEPTH and kind is dict:
        return {plain_value(k, depth + 1): plain_value(v, depth + 1) for k, v in value.items()}
    raise NotPlain()


def frozen(value: object) -> bool:
    """Plain data that cannot change: the parent may keep a copy instead of a handle."""
    if isinstance(value, tuple | frozenset) and type(value) in (tuple, frozenset):
        return all(frozen(item) for item in value)
    return type(value) in ATOMS or type(value) is Spelled


class Held:
    """The objects the parent holds handles to, by number; an object keeps its number."""

    def __init__(self) -> None:
        self.objects: list = []
        self.numbers: dict = {}

    def answer(self, value: object) -> dict:
        """The reply for a result: frozen plain data as its repr, anything else as a handle."""
        try:
            plain = plain_value(value)
            if frozen(plain):
                return {"ok": True, "value": repr(plain)}
        except Exception:
            pass
        if id(value) not in self.numbers:
            self.numbers[id(value)] = len(self.objects)
            self.objects.append(value)
        return {"ok": True, "handle": self.numbers[id(value)]}


def mirrored(value: object) -> object:
    """A container the parent passed (and will update from this), as plain data, or None."""
    try:
        return plain_value(value)
    except Exception:
        return None


def operate(request: dict, namespace: dict, held: Held, code: str) -> dict:
    """One operation on the candidate's objects: "global" (a module-level name), "plain" (an
    object as data: (True, value), or (False, None) if it is not plain), or one of OPERATIONS."""
    try:
        op, args, kwargs = request["op"], request["args"], request["kwargs"]
        if op == "global":
            if args[0] not in namespace:
                raise NameError(f"name {args[0]!r} is not defined")
            return held.answer(namespace[args[0]])
        if op == "plain":
            try:
                return {"ok": True, "value": repr((True, plain_value(args[0])))}
            except Exception:
                return {"ok": True, "value": "(False, None)"}
        return held.answer(OPERATIONS[op](*args, **kwargs))
    except BaseException:
        return failure(code)


def main() -> None:
    harden()
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdout = sys.stderr = capture = Capture()
    main_pid = os.getpid()
    namespace: dict = {}
    code = ""
    held = Held()
    for line in requests:
        mirrors: list = []
        names = {**REQUEST_NAMES, **VALUE_NAMES, "H": held.objects.__getitem__, "R": resolve}
        names.update(Image=image, M=lambda value, kept=mirrors: kept.append(value) or value)
        request = eval(line, names)
        if "code" in request:
            namespace, code, held = {"__name__": request["name"]}, request["code"], Held()
            reply = load(request, namespace, capture)
        elif "op" in request:
            reply = operate(request, namespace, held, code)
            if mirrors:
                reply["mirrors"] = repr([mirrored(value) for value in mirrors])
        else:
            reply = call(request, namespace, code)
        if os.getpid() != main_pid:
            os._exit(0)  # a copy the candidate forked: only the original answers
        replies.write(repr(reply).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    main()
