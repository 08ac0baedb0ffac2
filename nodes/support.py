"""What every tier node needs to talk to the endpoint: its client and thread id."""

from __future__ import annotations

from langgraph.config import get_config
from langgraph.runtime import Runtime

from graph.context import Context
from hi_moe.endpoints import client_for
from hi_moe.tier_calls import TierCalls


def context_of(runtime: Runtime[Context]) -> Context:
    """The run's settings; a run started without a context (e.g. from Studio) gets defaults."""
    return runtime.context if runtime.context is not None else Context()


def tier_calls(runtime: Runtime[Context], tier: str, model: str, temperature: float) -> TierCalls:
    """A fresh call recorder for one node run of `tier`."""
    context = context_of(runtime)
    thread_id = get_config().get("configurable", {}).get("thread_id")
    return TierCalls(
        client=client_for(context),
        tier=tier,
        model=model,
        temperature=temperature,
        max_tokens=context.max_completion_tokens,
        thread_id=thread_id,
    )


def llm_update(calls: TierCalls) -> dict:
    """The state keys every LLM-calling node writes."""
    return {"usage": calls.usage, "format_errors": calls.format_errors}
