"""A small OpenAI-compatible HTTP server on loopback, for tests, demos and benchmarks.

It serves `GET /v1/models` and `POST /v1/chat/completions` with real usage fields, answers
through a `Responder` callable, and can add latency or fail requests on purpose: the next few
with a status (`fail_next`), or a seeded share of them with every fault a loaded server shows
(`Faults`).
"""

from __future__ import annotations

import json
import random
import select
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[str, list[dict], dict | None], str]
"""(model, messages, response_format) -> completion text."""

FAULT_KINDS = (
    "http_500",  # a server error
    "http_429",  # rate limited
    "reset",  # the connection dropped without a reply
    "timeout",  # no reply until the client hangs up
    "slow",  # the right reply, late (well inside any sensible client timeout)
    "cut_body",  # the first half of the JSON body
    "cut_completion",  # the completion cut in half, finish_reason "length"
    "prose",  # prose instead of the asked-for JSON or code
    "html",  # an HTML error page with status 200
    "empty_body",  # status 200, nothing in the body
    "error_200",  # an OpenAI error object with status 200
    "no_choices",  # a completion with "choices": []
)
FAULT_STATUS = {"http_500": 500, "http_429": 429}
PROSE = "I have thought about this carefully and I am confident the approach is sound."
SLOW_S = 0.1
HOLD_LIMIT_S = 60.0
"""A timeout fault holds the request until the client hangs up, at most this long."""


class Faults:
    """A seeded share `rate` of chat requests that fail. The kinds come in seeded shuffles of
    `kinds`, so every kind shows up once in each run of len(kinds) faults."""

    def __init__(self, rate: float, seed: int = 0, kinds: tuple[str, ...] = FAULT_KINDS) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not 0 <= rate <= 1:
            raise ValueError(f"fault rate {rate} must be in [0, 1]; unknown kinds {unknown}")
        self.rate = rate
        self.kinds = kinds
        self.drawn: Counter[str] = Counter()
        """How many requests got each fault so far."""
        self._random = random.Random(seed)
        self._next: list[str] = []
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault for the next request, or None to answer it normally."""
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            if not self._next:
                self._next = self._random.sample(self.kinds, len(self.kinds))
            kind = self._next.pop()
            self.drawn[kind] += 1
            return kind


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: about four characters a token."""
    return max(1, len(text) // 4)


class QuietServer(ThreadingHTTPServer):
    """A server that says nothing when a client hangs up mid-reply (a timed-out request)."""

    daemon_threads = True

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeEndpoint:
    """Start with `with FakeEndpoint(models, responder) as endpoint:`; `endpoint.base_url`."""

    def __init__(
        self,
        models: list[str],
        responder: Responder,
        latency_s: float = 0.0,
        finish_reason: str = "stop",
        faults: Faults | None = None,
    ) -> None:
        self.models = list(models)
        self.faults = faults
        self.finish_reason = finish_reason
        self.responder = responder
        self.latency_s = latency_s
        self.requests: list[dict] = []
        self.spans: list[tuple[str, float, float]] = []
        """(model, start, end) of every answered completion, in perf_counter seconds."""
        self._failures: list[int | str] = []
        self._lock = threading.Lock()
        self._server = QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # as getsockname() gives it; typed str | bytes
        return f"http://{host}:{port}/v1"

    def fail_next(self, fault: int | str, times: int = 1) -> None:
        """Answer the next `times` completion requests with HTTP status `fault`, or with the
        fault of that kind (one of FAULT_KINDS)."""
        with self._lock:
            self._failures.extend([fault] * times)

    def _next_fault(self) -> int | str | None:
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
        return self.faults.draw() if self.faults else None

    def __enter__(self) -> FakeEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _complete(self, body: dict, fault: int | str | None = None) -> tuple[int, dict]:
        """(status, JSON payload) answering `body`; `fault` (a status or kind) shapes a faulty one.

        The responder is asked only when the client gets to see (part of) its reply, so a
        scripted model counts exactly the replies a run saw.
        """
        status = fault if isinstance(fault, int) else FAULT_STATUS.get(fault or "")
        if status is not None:
            return status, {"error": {"message": f"injected failure {status}"}}
        if fault == "error_200":
            return 200, {"error": {"message": "injected: the model is overloaded", "code": 503}}
        model = body.get("model", "")
        if model not in self.models:
            return 404, {"error": {"message": f"model {model!r} not found"}}
        started = time.perf_counter()
        time.sleep(self.latency_s + (SLOW_S if fault == "slow" else 0.0))
        messages = body.get("messages", [])
        if fault == "prose":
            text = PROSE
        elif fault in ("cut_body", "no_choices"):
            text = ""
        else:
            text = self.responder(model, messages, body.get("response_format"))
        finish_reason = self.finish_reason
        if fault == "cut_completion":
            text, finish_reason = text[: len(text) // 2], "length"
        with self._lock:
            self.spans.append((model, started, time.perf_counter()))
        prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in messages)
        completion_tokens = count_tokens(text)
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason,
        }
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [] if fault == "no_choices" else [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, payload: dict) -> None:
                self._send_bytes(status, json.dumps(payload).encode(), "application/json")

            def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _drop(self) -> None:
                """Close the connection with a reset and no reply."""
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True

            def _hold_until_hangup(self) -> None:
                """Answer nothing until the client gives up and closes the connection."""
                deadline = time.monotonic() + HOLD_LIMIT_S
                try:
                    while time.monotonic() < deadline:
                        readable, _, _ = select.select([self.connection], [], [], 0.05)
                        if readable and not self.connection.recv(1, socket.MSG_PEEK):
                            break
                except OSError:
                    pass
                self._drop()

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    data = [
                        {"id": m, "object": "model", "owned_by": "fake"} for m in endpoint.models
                    ]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                with endpoint._lock:
                    endpoint.requests.append(body)
                fault = endpoint._next_fault()
                if fault == "reset":
                    self._drop()
                elif fault == "timeout":
                    self._hold_until_hangup()
                elif fault == "html":
                    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                    self._send_bytes(200, page, "text/html")
                elif fault == "empty_body":
                    self._send_bytes(200, b"", "application/json")
                elif fault == "cut_body":
                    data = json.dumps(endpoint._complete(body, fault)[1]).encode()
                    self._send_bytes(200, data[: len(data) // 2], "application/json")
                else:
                    self._send(*endpoint._complete(body, fault))

        return Handler
