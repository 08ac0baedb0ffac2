"""A node that dies after its LLM call completed re-runs on resume without calling again."""

from __future__ import annotations

import uuid

import pytest

from graph.builder import build_graph
from graph.checkpoint import open_checkpointer
from hi_moe.app.runs import run_thread
from nodes import specialist


class Crash(Exception):
    """Stands in for the process dying inside a node."""


def test_a_completed_call_is_replayed_not_repeated(make_harness, monkeypatch):
    harness = make_harness()
    real_extract = specialist.extract_code
    crashes = iter([True])

    def extract_then_crash(text: str) -> str:
        if next(crashes, False):
            raise Crash("the process died after the specialist's call came back")
        return real_extract(text)

    monkeypatch.setattr(specialist, "extract_code", extract_then_crash)
    thread = uuid.uuid4().hex
    config = {"configurable": {"thread_id": thread}}
    with open_checkpointer(harness.checkpoint) as saver:
        graph = build_graph(saver)
        with pytest.raises(Crash):
            run_thread(graph, thread, harness.context, {"problem_id": "builtin/0"})
        asked = [body["model"] for body in harness.endpoint.requests]
        assert asked == ["architect", "dispatcher", "python"]
        assert graph.get_state(config).next == ("specialist",)

        state = run_thread(graph, thread, harness.context, None)
    assert [body["model"] for body in harness.endpoint.requests] == asked
    assert state.result is not None and state.result.status == "solved"
    assert state.usage.by_tier["specialist"].calls == 1
    assert state.usage.by_tier["specialist"].prompt_tokens > 0
