"""Ensemble fan-out benchmark: K specialists against a fake endpoint with a fixed latency.

The fan-out is parallel when the specialist phase takes about one call's latency, not K.
Run: hi-moe bench ensemble [--latency 0.3] [--k 3]
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from evals.bench_common import markdown_table
from graph.builder import build_graph
from graph.checkpoint import open_checkpointer
from graph.context import Context
from hi_moe.app.runs import run_thread
from hi_moe.llm.endpoints import required_models
from hi_moe.llm.fake.endpoint import FakeEndpoint
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.problems.datasets import get_problem

TIER_MODELS = {"architect", "dispatcher", "monitor"}


@dataclass
class EnsembleReport:
    k: int
    latency_s: float
    fan_out_s: float
    """From the first specialist request's start to the last one's end."""
    sequential_s: float
    """What K calls one after another would take."""
    speedup: float


def run(k: int = 3, latency_s: float = 0.3, problem_id: str = "builtin/0") -> EnsembleReport:
    problem = get_problem(problem_id)
    with tempfile.TemporaryDirectory() as home:
        base = Context(home=home, routing_mode="ensemble", ensemble_k=k)
        responder = ScriptedModel([problem])
        with FakeEndpoint(sorted(required_models(base)), responder, latency_s) as endpoint:
            context = Context(
                home=home, base_url=endpoint.base_url, routing_mode="ensemble", ensemble_k=k
            )
            with open_checkpointer(str(Path(home) / "checkpoints.sqlite")) as saver:
                run_thread(build_graph(saver), "bench", context, {"problem_id": problem_id})
            spans = [(s, e) for model, s, e in endpoint.spans if model not in TIER_MODELS]
    fan_out = max(e for _, e in spans) - min(s for s, _ in spans)
    sequential = k * latency_s
    return EnsembleReport(k, latency_s, fan_out, sequential, sequential / fan_out)


def render(report: EnsembleReport) -> str:
    """The fan-out against what K sequential calls would take, as Markdown."""
    table = markdown_table(
        ["K", "ms per call", "fan-out ms", "sequential ms", "speedup"],
        [
            [
                report.k,
                f"{report.latency_s * 1000:.0f}",
                f"{report.fan_out_s * 1000:.0f}",
                f"{report.sequential_s * 1000:.0f}",
                f"{report.speedup:.2f}x",
            ]
        ],
    )
    return f"ensemble fan-out of {report.k} specialists against a fake endpoint\n\n{table}"
