"""A dead embedded server is named as dead (signal and log), never as 'cannot connect'."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from hi_moe.llm.call_log import CallLog
from hi_moe.llm.client import EndpointError, LLMClient, Retry
from hi_moe.llm.local_server import LocalServer, death_notice_at, free_port

# Serves /v1/models, then dies with SIGILL on the first completion (as an AMX build does).
STAND_IN = """
import http.server, json, os, signal, sys
port = json.load(open(sys.argv[1]))["port"]
print("stand-in llama.cpp server: loaded", flush=True)
if os.environ.get("DIE_AT_START"):
    os.kill(os.getpid(), signal.SIGILL)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "architect"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        print("ggml_backend_amx_mul_mat: tilezero", flush=True)
        os.kill(os.getpid(), signal.SIGILL)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


class StandInServer(LocalServer):
    """The embedded server's lifecycle around a stand-in child instead of llama.cpp."""

    def command(self, config_path: Path) -> list[str]:
        return [sys.executable, "-c", STAND_IN, str(config_path)]


def ask(client: LLMClient) -> None:
    """One small architect call."""
    client.complete(
        tier="architect", model="architect", messages=[HumanMessage("hi")], temperature=0,
        max_tokens=4,
    )  # fmt: skip


@pytest.fixture
def gguf(tmp_path) -> Path:
    path = tmp_path / "stand-in.gguf"
    path.write_bytes(b"GGUF")
    return path


def test_a_server_killed_mid_run_is_reported_with_its_signal_and_log(gguf, tmp_path):
    with StandInServer(gguf, {"architect": None}, log_path=tmp_path / "server.log") as server:
        client = LLMClient(
            server.base_url,
            "key",
            CallLog(tmp_path / "calls.sqlite"),
            timeout_s=10,
            retry=Retry(times=0),
            diagnose=lambda: death_notice_at(server.base_url),
        )
        with pytest.raises(EndpointError) as caught:
            ask(client)
    message = str(caught.value)
    assert "was killed by SIGILL (Illegal instruction)" in message
    assert "tilezero" in message and "make setup" in message
    assert "cannot connect" not in message


def test_one_token_generation_names_the_death(gguf, tmp_path):
    server = StandInServer(gguf, {"architect": None}, log_path=tmp_path / "server.log")
    with server, pytest.raises(EndpointError, match="killed by SIGILL"):
        server.generate_one_token()


def test_a_server_dying_at_startup_says_so(gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("DIE_AT_START", "1")
    server = StandInServer(gguf, {"architect": None}, log_path=tmp_path / "server.log")
    with pytest.raises(EndpointError, match="at startup, .*killed by SIGILL.*\n.*loaded"):
        server.start()
    server.stop()


def test_an_endpoint_that_never_answered_is_cannot_connect(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    log = CallLog(tmp_path / "calls.sqlite")
    client = LLMClient(url, "key", log, timeout_s=5, retry=Retry(times=0))
    with pytest.raises(EndpointError, match="cannot connect"):
        ask(client)


ORPHAN_PARENT = """
import sys, time
from pathlib import Path
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.models import resolve_model
server = LocalServer(resolve_model("smollm2-135m").path, {"plain": None})
server.start()
print(server._process.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.integration
def test_the_embedded_server_exits_when_its_parent_is_killed():
    """A run killed with SIGKILL never runs its clean-up: the server must notice by itself."""
    import os
    import signal
    import subprocess
    import time

    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_PARENT], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{server_pid}").exists():
        if Path(f"/proc/{server_pid}/stat").read_text().split()[2] == "Z":
            break  # exited, waiting to be reaped by init
        time.sleep(0.2)
    else:
        assert not Path(f"/proc/{server_pid}").exists(), "the orphaned server is still running"
