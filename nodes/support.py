"""What every tier node needs to talk to the endpoint: its client and thread id."""

from __future__ import annotations

from langgraph.config import get_config
from langgraph.runtime import Runtime

from graph.context import Context
from hi_moe.endpoints import client_for
from hi_moe.tier_calls import TierCalls


def tier_calls(runtime: Runtime[Context], tier: str, model: str, temperature: float) -> TierCalls:
    """A fresh call recorder for one node run of `tier`."""
    context = runtime.context
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
