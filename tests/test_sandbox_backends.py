"""Sandbox backends: which isolation is chosen, what bubblewrap exposes, the weaker local
isolations keep the verdict honest, and the Modal backend is built and wired (offline)."""

import os
import sys
import time
import types

import pytest

from graph.state import TestCase
from hi_moe.errors import UserError
from hi_moe.sandbox import modal_child as sandbox_modal
from hi_moe.sandbox.channel import LocalChild
from hi_moe.sandbox.checks import check_function, run_program
from hi_moe.sandbox.isolation import (
    CHILD_SOURCE,
    LOCAL_KINDS,
    SANDBOX_ENV,
    bwrap_args,
    isolation,
    strongest,
    why_not,
)
from hi_moe.sandbox.modal_child import ModalChild, modal_command

ADD_TESTS = [TestCase(call="add(1, 2)", expected="3"), TestCase(call="add(-1, 1)", expected="0")]
AVAILABLE = [kind for kind in LOCAL_KINDS if not why_not(kind)]


def test_the_strongest_working_isolation_is_used_and_reported():
    assert isolation() == strongest() == AVAILABLE[0]
    assert (
        check_function("def add(a, b):\n    return a + b\n", "add", ADD_TESTS).isolation
        == (AVAILABLE[0])
    )


def test_an_unknown_sandbox_setting_is_a_user_error(monkeypatch):
    monkeypatch.setenv(SANDBOX_ENV, "docker")
    with pytest.raises(UserError, match="use bubblewrap, unshare, none or modal"):
        isolation()


def test_bubblewrap_binds_only_system_dirs_and_the_python_prefix_read_only():
    args = bwrap_args()
    binds = {args[i + 1] for i, arg in enumerate(args) if arg in ("--ro-bind", "--ro-bind-try")}
    assert binds <= {"/usr", "/lib", "/lib64", "/bin", sys.base_prefix}
    assert not {"--bind", "--dev-bind", "--bind-try"} & set(args)
    assert "--unshare-net" in args or "--unshare-all" in args


@pytest.mark.parametrize("kind", AVAILABLE)
def test_every_available_isolation_keeps_the_verdict_honest(kind, monkeypatch):
    monkeypatch.setenv(SANDBOX_ENV, kind)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-probe-secret")
    honest = check_function("def add(a, b):\n    return a + b\n", "add", ADD_TESTS)
    assert (honest.isolation, honest.passed) == (kind, 2)
    cheat = (
        "import os, sys\n"
        "print('all passed')\n"
        "class Sly(int):\n    def __eq__(self, other):\n        return True\n"
        "def add(a, b):\n"
        "    if a == 1:\n        sys.exit(0)\n"
        f"    try:\n        os.kill({os.getpid()}, 9)\n    except OSError:\n        pass\n"
        "    return Sly(7)\n"
    )
    assert [r.status for r in check_function(cheat, "add", ADD_TESTS).results] == [
        "error",
        "failed",
    ]
    assert "sk-probe-secret" not in run_program("import os\nprint(os.environ)\n").stdout


def test_modal_command_is_a_network_less_sandbox_running_the_same_child():
    command = modal_command(timeout_s=10.0)
    assert command.create["block_network"] is True
    assert command.create["timeout"] > 10
    assert command.create["memory"] == 1024
    assert command.exec_args == ("python", "-I", "-S", "-c", CHILD_SOURCE)


def test_modal_setting_routes_checks_through_the_modal_backend(monkeypatch):
    opened = []

    class LocalStandIn(LocalChild):
        def __init__(self, timeout_s: float) -> None:
            opened.append(timeout_s)
            super().__init__(strongest())

    monkeypatch.setattr(sandbox_modal, "ModalChild", LocalStandIn)
    monkeypatch.setenv(SANDBOX_ENV, "modal")
    report = check_function("def add(a, b):\n    return a + b\n", "add", ADD_TESTS, 5.0)
    assert (report.isolation, report.passed, opened) == ("modal", 2, [5.0])


def test_modal_child_creates_and_talks_to_a_sandbox(monkeypatch):
    calls = {}

    class Stdin:
        def write(self, data: bytes) -> None:
            calls.setdefault("stdin", []).append(data)

        def drain(self) -> None:
            pass

    process = types.SimpleNamespace(
        stdin=Stdin(), stdout=iter([b"{'ok': True, 'value': '3'}\n"]), poll=lambda: 0
    )

    class Sandbox:
        @staticmethod
        def create(**kwargs):
            calls["create"] = kwargs
            return Sandbox()

        def exec(self, *args, **kwargs):
            calls["exec"] = args
            return process

        def terminate(self) -> None:
            calls["terminated"] = True

    fake = types.SimpleNamespace(
        App=types.SimpleNamespace(lookup=lambda name, create_if_missing: name),
        Image=types.SimpleNamespace(debian_slim=lambda python_version: python_version),
        Sandbox=Sandbox,
    )
    monkeypatch.setitem(sys.modules, "modal", fake)
    child = ModalChild(timeout_s=10.0)
    reply = child.request(
        {"name": "add", "args": [1, 2], "kwargs": {}}, deadline=time.monotonic() + 10
    )
    child.close()
    command = modal_command(10.0)
    assert calls["create"] == {"app": "hi-moe-sandbox", "image": "3.11", **command.create}
    assert calls["exec"] == command.exec_args
    assert calls["stdin"] == [b"{'name': 'add', 'args': [1, 2], 'kwargs': {}}\n"]
    assert reply == {"ok": True, "value": "3"}
    assert calls["terminated"]
