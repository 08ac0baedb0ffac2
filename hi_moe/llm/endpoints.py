"""Endpoint profiles (local, modal, any OpenAI-compatible URL) and one client per endpoint."""

from __future__ import annotations

import os
import threading
from functools import partial

from graph.context import Context
from hi_moe.errors import UserError
from hi_moe.llm.call_log import CallLog
from hi_moe.llm.client import EndpointError, LLMClient, Retry
from hi_moe.llm.local_server import death_notice_at, shared_local_server, weights_at
from hi_moe.routing.fleet import load_fleet

MODAL_URL_ENV = "HI_MOE_MODAL_URL"
MODAL_KEY_ENV = "HI_MOE_MODAL_API_KEY"


def endpoint_retry(context: Context) -> Retry:
    """How the context's settings retry a failed endpoint request."""
    if context.endpoint_retries < 0 or context.endpoint_backoff_s < 0:
        raise UserError("endpoint_retries and endpoint_backoff_s must be >= 0")
    return Retry(context.endpoint_retries, context.endpoint_backoff_s)


_clients: dict[tuple[str, str, str, str], LLMClient] = {}
_lock = threading.Lock()


def resolve_endpoint(context: Context) -> tuple[str, str]:
    """(base_url, api_key) for the context's endpoint profile."""
    if context.base_url:
        return context.base_url, context.api_key
    if context.endpoint == "local":
        return shared_local_server(context).base_url, context.api_key
    if context.endpoint == "modal":
        url = os.environ.get(MODAL_URL_ENV)
        if not url:
            raise EndpointError(
                f"--endpoint modal needs {MODAL_URL_ENV}, the deployed app's URL ending in /v1 "
                "(see README: Modal)"
            )
        return url, os.environ.get(MODAL_KEY_ENV, context.api_key)
    if context.endpoint.startswith(("http://", "https://")):
        return context.endpoint, os.environ.get("OPENAI_API_KEY", context.api_key)
    raise EndpointError(
        f"unknown endpoint {context.endpoint!r}: use local, modal or an http(s) base URL"
    )


def served_weights(context: Context) -> dict[str, str]:
    """What each model name of the embedded server runs on (its GGUF and adapter, if any): the
    one this process started at the context's URL (as `compare` and `solve` do), or its shared
    one; empty for other endpoints, whose names may each be their own adapter."""
    if context.base_url:
        return weights_at(context.base_url)
    return shared_local_server(context).weights if context.endpoint == "local" else {}


def required_models(context: Context) -> set[str]:
    """Every model name a run may ask for: the tiers' and the fleet's."""
    fleet = load_fleet(context.fleet_path)
    return set(context.tier_models().values()) | {s.model for s in fleet.specialists}


def client_for(context: Context) -> LLMClient:
    """The process-wide client for the context's endpoint, its model names checked once."""
    base_url, api_key = resolve_endpoint(context)
    key = (base_url, api_key, str(context.call_log_path), context.extra_body)
    with _lock:
        if key not in _clients:
            client = LLMClient(
                base_url,
                api_key,
                CallLog(context.call_log_path),
                context.request_timeout_s,
                schema_style="llama_cpp" if context.endpoint == "local" else "openai",
                extra_body=context.extra_body_fields(),
                diagnose=partial(death_notice_at, base_url),
                weights=served_weights(context),
            )
            client.require_models(required_models(context))
            _clients[key] = client
        return _clients[key]
