"""The hierarchy as the target of `langsmith.evaluate`: hidden-test pass, visible pass, tokens.

Without `LANGSMITH_API_KEY` everything stays local: examples are built in memory, results are not
uploaded and tracing is off, so no connection is attempted. With a key, the problems are synced to
the LangSmith dataset `hi-moe-<dataset>` and the experiment is uploaded.

Only a problem's id and visible task go into LangSmith; the target grades with the hidden tests
outside the graph (`Solver.solve`) and returns just the verdicts. A problem the endpoint gives
up on is an unfinished row without scores; the same --run-id resumes it.

Run: hi-moe eval --dataset builtin [--limit N] [--mock] [--run-id RUN]
"""

from __future__ import annotations

import io
import os
import statistics
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from langsmith import Client, evaluate, tracing_context
from langsmith.schemas import Example
from rich.console import Console
from rich.table import Table

from graph.context import Context
from hi_moe.app.batch import Batch, new_run_id
from hi_moe.app.runs import Solver, new_thread_id, solver
from hi_moe.errors import UserError
from hi_moe.problems.datasets import single_problems
from hi_moe.problems.problem import Problem

if TYPE_CHECKING:
    from langsmith.evaluation._runner import ExperimentResultRow

METRICS = ("hidden_pass", "visible_pass", "total_tokens", "llm_calls")
EXAMPLE_NAMESPACE = uuid.UUID("6f3c1f0e-4a55-4d0c-9a1e-6b2f5d7c8e90")


@dataclass
class EvalSummary:
    """One evaluation: the experiment (or "offline"), a row per problem and the metric means."""

    experiment: str
    rows: list[dict]
    means: dict[str, float]
    run_id: str = ""
    unfinished: list[dict] = field(default_factory=list)


def dataset_name(dataset: str) -> str:
    return f"hi-moe-{Path(dataset).stem if dataset.endswith('.jsonl') else dataset}"


def example_inputs(problem: Problem) -> dict:
    """What LangSmith may see of a problem: its id and the visible task."""
    return {"problem_id": problem.id, "task": problem.visible_task().model_dump(mode="json")}


def local_examples(dataset: str, problems: list[Problem]) -> list[Example]:
    """In-memory examples with stable ids; no reference outputs (nothing secret leaves)."""
    dataset_id = uuid.uuid5(EXAMPLE_NAMESPACE, dataset_name(dataset))
    return [
        Example(
            id=uuid.uuid5(dataset_id, p.id),
            dataset_id=dataset_id,
            inputs=example_inputs(p),
            metadata={"domain": p.domain, "kind": p.kind},
        )
        for p in problems
    ]


def problem_id_of(example: Example) -> str:
    """The problem an example was made from (every example here has inputs)."""
    assert example.inputs is not None
    return example.inputs["problem_id"]


def synced_examples(client: Client, dataset: str, problems: list[Problem]) -> list[Example]:
    """Create or update the LangSmith dataset from the problems; its examples for these problems."""
    name = dataset_name(dataset)
    if not client.has_dataset(dataset_name=name):
        client.create_dataset(name, description=f"hi-moe problems of {dataset!r} (visible view)")
    existing = {problem_id_of(e): e for e in client.list_examples(dataset_name=name)}
    missing = [p for p in problems if p.id not in existing]
    stale = [p for p in problems if p.id in existing and existing[p.id].inputs != example_inputs(p)]
    if missing:
        client.create_examples(
            dataset_name=name,
            examples=[
                {"inputs": example_inputs(p), "metadata": {"domain": p.domain, "kind": p.kind}}
                for p in missing
            ],
        )
    if stale:
        client.update_examples(
            dataset_name=name,
            updates=[{"id": existing[p.id].id, "inputs": example_inputs(p)} for p in stale],
        )
    wanted = {p.id for p in problems}
    by_id = {
        problem_id_of(e): e
        for e in client.list_examples(dataset_name=name)
        if problem_id_of(e) in wanted
    }
    return [by_id[p.id] for p in problems]


def offline_client() -> Client:
    """A client that never talks: no batch-tracing thread, no `/info` fetch, no key warning."""
    with tracing_context(enabled=False):
        return Client(auto_batch_tracing=False, info={})


def make_target(solving: Solver, batch: Batch, problems: list[Problem], online: bool) -> Callable:
    """The evaluated function: solve one problem in the graph, grade it with its hidden tests."""
    by_id = {p.id: p for p in problems}

    def solve(inputs: dict) -> dict:
        problem = by_id[inputs["problem_id"]]
        thread = solving.thread_for(problem.id, new_thread_id(problem.id))
        # evaluate() runs the target with tracing "local": offline, the graph must not trace.
        with nullcontext() if online else tracing_context(enabled=False):
            result = batch.attempt(problem.id, thread, lambda: solving.solve(problem, thread)[0])
        if result is None:
            return {"status": "unfinished", "thread_id": thread}
        return {
            "status": result.status,
            "hidden_passed": bool(result.hidden["passed"]),
            "visible_passed": result.visible["tests_passed"],
            "visible_total": result.visible["tests_total"],
            "total_tokens": result.total_tokens,
            "llm_calls": result.llm_calls,
            "solution": result.solution,
        }

    return solve


def hidden_pass(outputs: dict) -> dict:
    passed = outputs.get("hidden_passed")
    return {"key": "hidden_pass", "score": None if passed is None else int(passed)}


def visible_pass(outputs: dict) -> dict:
    total = outputs.get("visible_total") or 0
    return {"key": "visible_pass", "score": outputs["visible_passed"] / total if total else None}


def total_tokens(outputs: dict) -> dict:
    return {"key": "total_tokens", "score": outputs.get("total_tokens")}


def llm_calls(outputs: dict) -> dict:
    return {"key": "llm_calls", "score": outputs.get("llm_calls")}


@contextmanager
def quiet_langsmith() -> Iterator[None]:
    """Silence evaluate's own chatter: its start line on stdout and the beta warning."""
    # run_eval prints nothing itself, so swallowing stdout for the whole evaluation is safe.
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", message=".*upload_results.*")
        yield


def run_eval(
    dataset: str,
    home: Path,
    mock: bool = False,
    limit: int | None = None,
    batch: Batch | None = None,
) -> EvalSummary:
    """Evaluate the hierarchy on a dataset with `langsmith.evaluate` (offline without a key)."""
    problems = single_problems(dataset, "eval", limit)
    if not problems:
        raise UserError(f"no problems to evaluate in {dataset!r} with limit {limit}")
    online = bool(os.environ.get("LANGSMITH_API_KEY"))
    client = Client() if online else offline_client()
    if online:
        examples = synced_examples(client, dataset, problems)
    else:
        examples = local_examples(dataset, problems)
    home.mkdir(parents=True, exist_ok=True)
    context = Context(home=str(home))
    checkpoint = str(home / "checkpoints.sqlite")
    batch = batch or Batch(new_run_id("eval"))
    mock_problems = problems if mock else None
    with solver(context, checkpoint, dataset, batch.run_id, mock_problems) as solving:
        with quiet_langsmith():
            results = evaluate(
                make_target(solving, batch, problems, online),
                data=examples,
                evaluators=[hidden_pass, visible_pass, total_tokens, llm_calls],
                experiment_prefix=dataset_name(dataset),
                metadata={"dataset": dataset, "mock": mock},
                client=client,
                upload_results=online,
            )
        rows = [result_row(r) for r in results]
    return EvalSummary(
        experiment=results.experiment_name if online else "offline",
        rows=rows,
        means=metric_means(rows),
        run_id=batch.run_id,
        unfinished=[asdict(u) for u in batch.unfinished],
    )


def result_row(row: ExperimentResultRow) -> dict:
    """A problem's status and evaluator scores from one `ExperimentResultRow`."""
    scores = {r.key: r.score for r in row["evaluation_results"]["results"]}
    outputs = row["run"].outputs or {}
    return {
        "problem_id": problem_id_of(row["example"]),
        "status": outputs.get("status", "error"),
        **{key: scores.get(key) for key in METRICS},
    }


def metric_means(rows: list[dict]) -> dict[str, float]:
    """The mean of each metric over the rows that have a score for it."""
    means = {}
    for key in METRICS:
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            means[key] = statistics.fmean(values)
    return means


def render(summary: EvalSummary) -> str:
    """A plain-text table: one row per problem, then the means."""
    table = Table("problem", "status", *METRICS, title=f"experiment: {summary.experiment}")
    for row in summary.rows:
        table.add_row(row["problem_id"], row["status"], *(fmt(row[key]) for key in METRICS))
    table.add_section()
    table.add_row("mean", "", *(fmt(summary.means.get(key)) for key in METRICS))
    text = io.StringIO()
    Console(file=text, width=120, color_system=None).print(table)
    return text.getvalue()


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
