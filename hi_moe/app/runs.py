"""Run a problem through the graph (or resume it), grade it with hidden tests, write the result."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig

from graph.builder import Graph, build_graph
from graph.checkpoint import open_checkpointer
from graph.context import Context
from graph.state import FinalReport, InputState, State, Usage
from hi_moe.app.registry import RunRegistry, new_record
from hi_moe.llm.call_log import CallLog
from hi_moe.llm.endpoints import client_for, required_models
from hi_moe.llm.fake.endpoint import FakeEndpoint, Faults
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.pricing import cost_by_tier, load_prices
from hi_moe.problems.grading import Grade, grade
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project

RESULT_VERSION = 1
StepCallback = Callable[[str, dict], None]
EPHEMERAL_SETTINGS = {"base_url", "api_key"}
RENAMED_SETTINGS = {"routines": "routines_shown"}
"""Old names of Context fields, as runs registered before a rename stored them."""
FINISHED = ("solved", "partial", "failed")


def new_thread_id(problem_id: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', problem_id).strip('-')}-{uuid.uuid4().hex[:8]}"


def saved_settings(context: Context) -> dict:
    """Context fields worth keeping for a resume (no secrets, no ephemeral ports)."""
    return {k: v for k, v in asdict(context).items() if k not in EPHEMERAL_SETTINGS}


def context_from_settings(settings: dict[str, Any], **overrides: Any) -> Context:
    known = {f.name for f in fields(Context)}
    renamed = {RENAMED_SETTINGS.get(k, k): v for k, v in settings.items()}
    return Context(**{k: v for k, v in renamed.items() if k in known}, **overrides)


@contextmanager
def model_endpoint(
    context: Context,
    mock_problems: Sequence[Problem | Project] | None = None,
    mock_wrong_tries: int = 0,
    mock_latency_s: float = 0.0,
    mock_faults: Faults | None = None,
    resumed: Iterable[str] = (),
) -> Iterator[Context]:
    """The context with a live endpoint: the scripted mock, the embedded model, or as given.

    The mock counts the tries the `resumed` threads already made (from the call log).
    """
    if mock_problems is not None:
        log = CallLog(context.call_log_path)
        answered = [c.reply for t in resumed for c in log.for_thread(t) if c.ok and c.reply]
        model = ScriptedModel(mock_problems, mock_wrong_tries, answered)
        models = sorted(required_models(context))
        with FakeEndpoint(models, model, mock_latency_s, faults=mock_faults) as endpoint:
            yield replace(context, base_url=endpoint.base_url)
        return
    if context.endpoint == "local" and not context.base_url:
        with LocalServer.for_context(context) as server:
            yield replace(context, base_url=server.base_url)
        return
    yield context


@dataclass
class RunResult:
    """The JSON result of one run: what the graph did and what the hidden tests say."""

    thread_id: str
    problem_id: str
    status: str
    hidden: dict
    visible: dict
    summary: str
    solution: str
    tokens: dict
    total_tokens: int
    llm_calls: int
    format_errors: int
    wall_s: float
    decisions: list[dict]
    attempts: list[dict]
    estimated_cost_usd: float = 0.0
    cost_by_tier: dict[str, float] = field(default_factory=dict)
    routines: list[dict] = field(default_factory=list)
    """Routines the architect was shown, each with whether the parts it was shown for got solved."""
    version: int = RESULT_VERSION

    @classmethod
    def read(cls, path: Path) -> RunResult:
        return cls(**json.loads(path.read_text()))

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.thread_id}.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        return path


def build_result(thread_id: str, state: State, hidden: Grade, wall_s: float) -> RunResult:
    report: FinalReport = state.result  # type: ignore[assignment]
    usage: Usage = state.usage
    return RunResult(
        thread_id=thread_id,
        problem_id=state.task.problem_id if state.task else "",
        status=report.status,
        hidden=asdict(hidden),
        visible={"tests_passed": report.visible_passed, "tests_total": report.visible_total},
        summary=report.summary,
        solution=report.solution,
        tokens={tier: u.model_dump() for tier, u in usage.by_tier.items()},
        total_tokens=usage.total_tokens,
        llm_calls=usage.calls,
        format_errors=state.format_errors,
        wall_s=round(wall_s, 3),
        decisions=[p.model_dump() for p in state.progress],
        attempts=[a.model_dump() for a in state.attempts],
        routines=routine_effects(state),
    )


def routine_effects(state: State) -> list[dict]:
    """Each retrieved routine and how many of the parts it was shown for were solved."""
    solved = {o.part for o in state.outcomes if o.status == "success"}
    return [
        {**use.model_dump(), "parts_solved": sum(p in solved for p in use.for_parts)}
        for use in state.routines_used
    ]


def run_thread(
    graph: Graph,
    thread_id: str,
    context: Context,
    graph_input: dict | None,
    on_step: StepCallback | None = None,
) -> State:
    """Stream the graph to the end (a None input resumes from the last checkpoint)."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "recursion_limit": 200}
    # langgraph types the input as an InputState, but takes a dict of its fields as well (what
    # callers pass: only the keys given are written).
    stream = graph.stream(
        cast(InputState | None, graph_input),
        config,
        context=context,
        durability="sync",
        stream_mode="updates",
    )
    for update in stream:
        for node, values in update.items():
            if on_step is not None and isinstance(values, dict):
                on_step(node, values)
    return State.model_validate(graph.get_state(config).values)


@contextmanager
def open_graph_and_endpoint(
    context: Context,
    checkpoint: str,
    mock_problems: Sequence[Problem | Project] | None = None,
    mock_wrong_tries: int = 0,
    mock_latency_s: float = 0.0,
    mock_faults: Faults | None = None,
    resumed: Iterable[str] = (),
) -> Iterator[tuple[Graph, Context]]:
    """A checkpointed graph and the live context (endpoint up, model names checked)."""
    mock = (mock_problems, mock_wrong_tries, mock_latency_s, mock_faults, resumed)
    with open_checkpointer(checkpoint) as saver, model_endpoint(context, *mock) as live:
        client_for(live)
        yield build_graph(saver), live


@dataclass
class Solver:
    """Solves problems in registered threads, so `hi-moe resume` can continue any of them.

    A later run with the same `run_id` finds the run's threads again: a finished one gives its
    stored result, an unfinished one resumes from its last checkpoint.
    """

    graph: Graph
    context: Context
    """The live context (endpoint up)."""
    checkpoint: str
    dataset: str
    run_id: str
    mock: bool = False
    mock_wrong_tries: int = 0

    def registry(self) -> RunRegistry:
        """The run registry (a connection per use: problems may run on several threads)."""
        return RunRegistry(self.context.home_dir / "runs.sqlite")

    def thread_for(self, problem_id: str, new: str) -> str:
        """The run's latest thread for the problem, else `new`."""
        earlier = [r for r in self.registry().for_run(self.run_id) if r.problem_id == problem_id]
        return earlier[-1].thread_id if earlier else new

    def solve(
        self, problem: Problem | Project, thread_id: str, on_step: StepCallback | None = None
    ) -> tuple[RunResult, Path]:
        """The problem's graded result in `thread_id`: run anew, resumed, or as stored."""
        registry = self.registry()
        record = registry.get(thread_id)
        stored = Path(record.result_path) if record and record.result_path else None
        if record is not None and record.status in FINISHED and stored and stored.is_file():
            return RunResult.read(stored), stored
        if record is None:
            settings = saved_settings(self.context)
            registry.add(
                new_record(thread_id, problem.id, self.dataset, self.checkpoint, settings,
                           self.mock, self.mock_wrong_tries, self.run_id)
            )  # fmt: skip
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        resuming = bool(self.graph.get_state(config).values)
        graph_input = None if resuming else {"task": problem.visible_task()}
        started = time.perf_counter()
        state = run_thread(self.graph, thread_id, self.context, graph_input, on_step)
        wall_s = time.perf_counter() - started
        result, path = finish(thread_id, state, problem, wall_s, self.context)
        registry.finish(thread_id, result.status, str(path))
        return result, path


@contextmanager
def solver(
    context: Context,
    checkpoint: str,
    dataset: str,
    run_id: str,
    mock_problems: Sequence[Problem | Project] | None = None,
    mock_wrong_tries: int = 0,
    mock_latency_s: float = 0.0,
    mock_faults: Faults | None = None,
) -> Iterator[Solver]:
    """A Solver on a live endpoint; the mock is told the run's unfinished threads."""
    earlier = RunRegistry(context.home_dir / "runs.sqlite").for_run(run_id)
    resumed = [r.thread_id for r in earlier if r.status not in FINISHED]
    mock = (mock_problems, mock_wrong_tries, mock_latency_s, mock_faults, resumed)
    with open_graph_and_endpoint(context, checkpoint, *mock) as (graph, live):
        yield Solver(graph, live, checkpoint, dataset, run_id, mock_problems is not None,
                     mock_wrong_tries)  # fmt: skip


def finish(
    thread_id: str, state: State, problem: Problem | Project, wall_s: float, context: Context
) -> tuple[RunResult, Path]:
    """Grade the final solution with the hidden tests, price the calls, write the result JSON."""
    assert state.result is not None
    started = time.perf_counter()
    hidden = grade(problem, state.result.solution)
    result = build_result(thread_id, state, hidden, wall_s + time.perf_counter() - started)
    calls = client_for(context).call_log.for_thread(thread_id)
    result.cost_by_tier = cost_by_tier(calls, load_prices(context.price_table))
    result.estimated_cost_usd = sum(result.cost_by_tier.values())
    return result, result.write(context.home_dir / "results")
