"""What nodes take from the running graph: settings, the endpoint client, the thread id, the
routing log."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from langgraph.config import get_config
from langgraph.runtime import Runtime

from graph.context import Context
from hi_moe.llm.endpoints import client_for, endpoint_retry
from hi_moe.llm.tier_calls import TierCalls
from hi_moe.routing.log import RoutingLog


def context_of(runtime: Runtime[Context]) -> Context:
    """The run's settings; a run started without a context (e.g. from Studio) gets defaults."""
    return runtime.context if runtime.context is not None else Context()


def current_thread_id() -> str | None:
    return get_config().get("configurable", {}).get("thread_id")


def current_task_scope() -> str | None:
    """The running graph task (thread and task id): the same when a node re-runs after a crash."""
    config = get_config()
    thread_id = config.get("configurable", {}).get("thread_id")
    task = config.get("metadata", {}).get("langgraph_checkpoint_ns")
    return f"{thread_id}|{task}" if thread_id and task else None


@cache
def routing_log(path: Path) -> RoutingLog:
    return RoutingLog(path)


def tier_calls(runtime: Runtime[Context], tier: str, model: str, temperature: float) -> TierCalls:
    """A fresh call recorder for one node run of `tier`."""
    context = context_of(runtime)
    thread_id = current_thread_id()
    return TierCalls(
        client=client_for(context),
        tier=tier,
        model=model,
        temperature=temperature,
        max_tokens=context.max_completion_tokens,
        thread_id=thread_id,
        replay_scope=current_task_scope(),
        retry=endpoint_retry(context),
    )


def llm_update(calls: TierCalls) -> dict:
    """The state keys every LLM-calling node writes."""
    return {"usage": calls.usage, "format_errors": calls.format_errors}
