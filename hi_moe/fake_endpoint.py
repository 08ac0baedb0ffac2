"""A small OpenAI-compatible HTTP server on loopback, for tests, demos and benchmarks.

It serves `GET /v1/models` and `POST /v1/chat/completions` with real usage fields, answers
through a `Responder` callable, and can add latency or fail requests on purpose.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[str, list[dict], dict | None], str]
"""(model, messages, response_format) -> completion text."""


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: about four characters a token."""
    return max(1, len(text) // 4)


class FakeEndpoint:
    """Start with `with FakeEndpoint(models, responder) as endpoint:`; `endpoint.base_url`."""

    def __init__(
        self,
        models: list[str],
        responder: Responder,
        latency_s: float = 0.0,
        finish_reason: str = "stop",
    ) -> None:
        self.models = list(models)
        self.finish_reason = finish_reason
        self.responder = responder
        self.latency_s = latency_s
        self.requests: list[dict] = []
        self.spans: list[tuple[str, float, float]] = []
        """(model, start, end) of every answered completion, in perf_counter seconds."""
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` completion requests with HTTP `status`."""
        with self._lock:
            self._failures.extend([status] * times)

    def __enter__(self) -> FakeEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _complete(self, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(body)
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure, {"error": {"message": f"injected failure {failure}"}}
        model = body.get("model", "")
        if model not in self.models:
            return 404, {"error": {"message": f"model {model!r} not found"}}
        started = time.perf_counter()
        time.sleep(self.latency_s)
        messages = body.get("messages", [])
        text = self.responder(model, messages, body.get("response_format"))
        with self._lock:
            self.spans.append((model, started, time.perf_counter()))
        prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in messages)
        completion_tokens = count_tokens(text)
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": self.finish_reason,
                }
            ],
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
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
                self._send(*endpoint._complete(body))

        return Handler
