"""Tests for the endpoint check against tiny loopback HTTP servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graph.context import Context
from hi_moe.cli.main import main
from hi_moe.llm.endpoints import required_models
from hi_moe.llm.fake.endpoint import FakeEndpoint
from hi_moe.llm.modal_status import EndpointStatus, check_endpoint, format_status

API_KEY = "test-key"
MODELS = {"object": "list", "data": [{"id": "python", "object": "model"}]}


class _Handler(BaseHTTPRequestHandler):
    """Answers /v1/models like vLLM (with a bearer key), /slow/... late, /odd/... oddly."""

    def do_GET(self) -> None:
        if self.path == "/slow/v1/models":
            time.sleep(1.0)
        if self.path == "/odd/v1/models":
            self._reply(200, {"models": ["python"]})
        elif self.path not in ("/v1/models", "/slow/v1/models"):
            self._reply(404, {"detail": "Not Found"})
        elif self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self._reply(401, {"error": "Unauthorized"})
        else:
            self._reply(200, MODELS)

    def _reply(self, code: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not be sent through a proxy from the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_lists_models_and_latency(server_url: str) -> None:
    status = check_endpoint(f"{server_url}/v1/", API_KEY)
    assert status.reachable
    assert status.models == ["python"]
    assert status.latency_s is not None and status.latency_s >= 0
    assert status.error is None
    report = format_status(status, {"python"})
    assert "reachable" in report and "serves:   python" in report
    assert "missing:  none" in report
    assert "missing:  math (a run asks for them" in format_status(status, {"python", "math"})


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_wrong_or_missing_key_is_401(server_url: str, key: str | None) -> None:
    status = check_endpoint(f"{server_url}/v1", key)
    assert not status.reachable
    assert status.error == "HTTP 401: wrong or missing API key"


def test_no_api_at_url_is_404(server_url: str) -> None:
    status = check_endpoint(f"{server_url}/nothing/v1", API_KEY)
    assert not status.reachable
    assert status.error is not None and status.error.startswith("HTTP 404: no OpenAI-compatible")


def test_non_model_list_body_is_reported(server_url: str) -> None:
    status = check_endpoint(f"{server_url}/odd/v1", API_KEY)
    assert not status.reachable
    assert status.error is not None and "not an OpenAI model list" in status.error


def test_timeout_mentions_cold_start(server_url: str) -> None:
    status = check_endpoint(f"{server_url}/slow/v1", API_KEY, timeout=0.2)
    assert not status.reachable
    assert status.error is not None and status.error.startswith("timed out after 0.2 s")
    assert "cold-starting" in status.error


def test_closed_port_is_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status = check_endpoint(f"http://127.0.0.1:{port}/v1", API_KEY, timeout=2.0)
    assert status == EndpointStatus(
        url=f"http://127.0.0.1:{port}/v1", reachable=False, error="connection refused"
    )
    assert "connection refused" in format_status(status, {"python"})


def test_dns_failure_names_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_lookup(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail_lookup)
    status = check_endpoint("https://nowhere--hi-moe-vllm-serve.modal.run/v1", API_KEY)
    assert not status.reachable
    assert status.error == "DNS lookup failed for host 'nowhere--hi-moe-vllm-serve.modal.run'"


def test_invalid_url_does_not_raise() -> None:
    status = check_endpoint("not a url", API_KEY)
    assert not status.reachable
    assert status.error is not None and status.error.startswith("request failed")


def test_modal_status_names_the_models_a_run_needs_that_are_not_served(
    capsys: pytest.CaptureFixture[str],
) -> None:
    required = sorted(required_models(Context()))
    with FakeEndpoint(required, lambda *_: "") as endpoint:
        assert main(["modal-status", "--url", endpoint.base_url]) == 0
    out = capsys.readouterr().out
    assert f"serves:   {', '.join(required)}" in out and "missing:  none" in out

    served = [name for name in required if name not in ("monitor", "python")]
    with FakeEndpoint(served, lambda *_: "") as endpoint:
        assert main(["modal-status", "--url", endpoint.base_url]) == 1
    assert "missing:  monitor, python (a run asks for them" in capsys.readouterr().out
