"""Shared fixtures: a scripted fake endpoint on loopback and a context pointing at it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from graph.builder import build_graph
from graph.checkpoint import open_checkpointer
from graph.context import Context
from graph.state import State, Task
from hi_moe.app.display import console
from hi_moe.app.runs import run_thread
from hi_moe.llm.endpoints import required_models
from hi_moe.llm.fake.endpoint import FakeEndpoint, Responder
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.problems.datasets import load_dataset


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No stray HI_MOE_* settings, no tracing, and no wrapping of long lines in CLI output."""
    for name in list(os.environ):
        if name.startswith("HI_MOE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setattr(console, "width", 400)


REPO_FLEET = str(Path(__file__).resolve().parent.parent / "fleet.toml")


@dataclass
class Harness:
    """A fake endpoint, a context pointing at it, and a SQLite-checkpointed graph."""

    endpoint: FakeEndpoint
    context: Context
    checkpoint: str

    def solve(
        self, problem: str | Task, thread_id: str | None = None, **overrides: object
    ) -> State:
        """Run a problem (by id) or a whole visible task to the end on the fake endpoint."""
        context = Context(**{**self.context.__dict__, **overrides})
        graph_input = {"task": problem} if isinstance(problem, Task) else {"problem_id": problem}
        with open_checkpointer(self.checkpoint) as saver:
            graph = build_graph(saver)
            thread = thread_id or uuid.uuid4().hex
            return run_thread(graph, thread, context, graph_input)

    def prompts(self, model: str | None = None) -> list[str]:
        """Every prompt text the endpoint received (optionally for one model)."""
        return [
            "\n".join(str(m.get("content", "")) for m in body["messages"])
            for body in self.endpoint.requests
            if model is None or body["model"] == model
        ]


EVERY_TIER = {"direct_first": False, "retry_resample": False, "retry_temperature_step": 0.0}
"""The harness's tasks go through every tier (plan, dispatch, repairs with feedback), so the
graph's tests can check each; a test of adaptive depth or resampled retries says so."""


@pytest.fixture
def make_harness(tmp_path) -> Iterator[Callable[..., Harness]]:
    """Build a Harness around any responder (default: the scripted model)."""
    started: list[FakeEndpoint] = []

    def make(
        responder: Responder | None = None, wrong_tries: int = 0, problems: list | None = None
    ) -> Harness:
        base = Context(home=str(tmp_path / "home"))
        problems = problems or load_dataset("builtin") + load_dataset("math")
        model = responder or ScriptedModel(problems, wrong_tries=wrong_tries)
        endpoint = FakeEndpoint(sorted(required_models(base)), model).__enter__()
        started.append(endpoint)
        # An endpoint of its own, not the embedded server: it may serve each name as an adapter.
        context = Context(
            home=base.home, endpoint=endpoint.base_url, base_url=endpoint.base_url, **EVERY_TIER
        )
        return Harness(endpoint, context, str(tmp_path / "home" / "checkpoints.sqlite"))

    yield make
    for endpoint in started:
        endpoint.close()
