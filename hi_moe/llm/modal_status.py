"""Check that a deployed vLLM endpoint (e.g. the Modal app) answers and lists its models."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class EndpointStatus:
    """Outcome of one ``GET {base_url}/models``.

    ``reachable`` is true only when the model list was fetched; ``latency_s`` is then the time
    that took, which includes the cold start when the app had scaled to zero.
    """

    url: str
    reachable: bool
    models: list[str] = field(default_factory=list)
    latency_s: float | None = None
    error: str | None = None

    def missing(self, required: set[str]) -> list[str]:
        """The required model names the endpoint does not list, sorted."""
        return sorted(required - set(self.models))


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _connect_error_message(exc: httpx.ConnectError, url: str) -> str:
    """Tell a DNS failure from a refused connection; fall back to the library's message."""
    causes = _causes(exc)
    if any(isinstance(cause, socket.gaierror) for cause in causes):
        return f"DNS lookup failed for host {urlsplit(url).hostname!r}"
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    return f"connection failed: {exc}"


def _http_error_message(response: httpx.Response) -> str:
    """A human message for a non-200 answer."""
    code = response.status_code
    if code in (401, 403):
        return f"HTTP {code}: wrong or missing API key"
    if code == 404:
        return "HTTP 404: no OpenAI-compatible API at this URL (is the app deployed?)"
    return f"HTTP {code}: {response.reason_phrase or 'unexpected status'}"


def _model_ids(response: httpx.Response) -> list[str]:
    """The ids in an OpenAI ``/models`` list; ValueError if the body is not one."""
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and isinstance(item.get("id"), str) for item in data
    ):
        raise ValueError("no 'data' list of models with string ids")
    return [item["id"] for item in data]


def check_endpoint(base_url: str, api_key: str | None, timeout: float = 10.0) -> EndpointStatus:
    """GET ``{base_url}/models`` (base_url ends in /v1); never raises for network errors."""
    url = f"{base_url.rstrip('/')}/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    start = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.get(url, headers=headers)
    except httpx.TimeoutException:
        error = (
            f"timed out after {timeout:g} s (the Modal app may be cold-starting or not deployed)"
        )
        return EndpointStatus(url=base_url, reachable=False, error=error)
    except httpx.ConnectError as exc:
        return EndpointStatus(url=base_url, reachable=False, error=_connect_error_message(exc, url))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return EndpointStatus(url=base_url, reachable=False, error=f"request failed: {exc}")
    latency = time.perf_counter() - start
    if response.status_code != 200:
        return EndpointStatus(url=base_url, reachable=False, error=_http_error_message(response))
    try:
        models = _model_ids(response)
    except ValueError as exc:
        error = f"HTTP 200 but not an OpenAI model list ({exc})"
        return EndpointStatus(url=base_url, reachable=False, error=error)
    return EndpointStatus(url=base_url, reachable=True, models=models, latency_s=latency)


def format_status(status: EndpointStatus, required: set[str]) -> str:
    """A readable multi-line report of an ``EndpointStatus``, naming the ``required`` models
    (those a run asks for) that the endpoint does not serve."""
    lines = [f"endpoint: {status.url}"]
    if status.reachable:
        missing = status.missing(required)
        lines.append(f"status:   reachable in {status.latency_s:.2f} s (includes any cold start)")
        lines.append(f"serves:   {', '.join(status.models) or '(no model)'}")
        lines.append(
            f"missing:  {', '.join(missing)} (a run asks for them: deploy with this fleet, "
            "modal deploy modal_app/vllm_server.py)"
            if missing
            else "missing:  none (every tier and specialist a run asks for is served)"
        )
    else:
        lines.append("status:   unreachable")
        lines.append(f"error:    {status.error}")
    return "\n".join(lines)
