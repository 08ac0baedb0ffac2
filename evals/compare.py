"""Hierarchy vs single-call baseline on the same problems, model and endpoint.

Run: hi-moe compare --dataset builtin|humaneval [--limit N] [--concurrency C] [--mock]
         [--adapters on|off]
Per system: pass@1, tokens, LLM calls, seconds and format errors (submitted code that is not
valid Python or lacks the asked-for function) per problem.
Rows are saved after every problem; rerunning with the same --run-id skips finished problems
and resumes unfinished ones (a problem the endpoint gave up on is listed under "unfinished").
`--adapters off` serves the same model names without the fleet's LoRA adapters; with adapters,
the run is refused if any adapter was trained on one of the evaluated problems.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from threading import Lock

from evals.baseline import solve_baseline
from evals.figures import png_figure
from graph.context import Context
from hi_moe.adapters.meta import check_uncontaminated, fleet_adapters
from hi_moe.app.batch import Batch, Unfinished
from hi_moe.app.runs import new_thread_id, solver
from hi_moe.errors import UserError
from hi_moe.llm.extraction import malformed_code
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.models import model_label
from hi_moe.problems.problem import Problem
from hi_moe.problems.splits import problem_ids

SYSTEMS = ("baseline", "hierarchy")
REPORT_VERSION = 2


@dataclass(frozen=True)
class Row:
    problem_id: str
    system: str
    passed: bool
    tokens: int
    calls: int
    wall_s: float
    format_error: bool
    """The submitted code is not valid Python or lacks the function the problem asks for."""


@dataclass(frozen=True)
class Summary:
    system: str
    problems: int
    pass_at_1: float
    tokens_per_problem: float
    calls_per_problem: float
    wall_s_per_problem: float
    format_errors: int


def summarize(rows: list[Row]) -> list[Summary]:
    summaries = []
    for system in SYSTEMS:
        mine = [r for r in rows if r.system == system]
        if mine:
            summaries.append(
                Summary(
                    system,
                    len(mine),
                    sum(r.passed for r in mine) / len(mine),
                    statistics.mean(r.tokens for r in mine),
                    statistics.mean(r.calls for r in mine),
                    statistics.mean(r.wall_s for r in mine),
                    sum(r.format_error for r in mine),
                )
            )
    return summaries


class RowStore:
    """The run's rows in one JSON file, rewritten after every problem (thread-safe), and the
    problems the run left unfinished."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = Lock()
        self.rows, self.unfinished = self._load()

    def _load(self) -> tuple[list[Row], list[dict]]:
        if not self.path.exists():
            return [], []
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") != REPORT_VERSION:
                raise ValueError(f"version {data.get('version')} is not {REPORT_VERSION}")
            return [Row(**row) for row in data["rows"]], data.get("unfinished", [])
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot resume from {self.path}: {exc}") from exc

    def done(self) -> set[str]:
        per_problem: dict[str, set[str]] = {}
        for row in self.rows:
            per_problem.setdefault(row.problem_id, set()).add(row.system)
        return {p for p, systems in per_problem.items() if systems == set(SYSTEMS)}

    def add(self, new: list[Row]) -> None:
        with self._lock:
            problem_id = new[0].problem_id
            self.rows = [r for r in self.rows if r.problem_id != problem_id] + new
            self.unfinished = [u for u in self.unfinished if u["problem_id"] != problem_id]
            self._write()

    def set_unfinished(self, unfinished: list[Unfinished]) -> None:
        with self._lock:
            self.unfinished = [asdict(u) for u in unfinished]
            self._write()

    def _write(self) -> None:
        payload = {
            "version": REPORT_VERSION,
            "rows": [asdict(r) for r in self.rows],
            "unfinished": self.unfinished,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(payload, indent=2))


def check_adapters(
    context: Context, problems: list[Problem], adapters: str | None, mock: bool = False
) -> None:
    """Refuse adapters trained on an evaluated problem; `on` needs adapters, `off` the
    embedded endpoint (the only one whose adapters this process controls). The scripted
    mock serves no adapters, so only an explicit `on` is checked there."""
    if mock and adapters != "on":
        return
    model = model_label(context.model)
    served = fleet_adapters(context)
    if adapters == "off":
        if context.endpoint != "local" or context.base_url:
            raise UserError("--adapters off needs the embedded local endpoint")
        return
    if adapters == "on" and not served:
        raise UserError(
            f"--adapters on: no adapter is trained for {model} (make adapters MODEL={model})"
        )
    check_uncontaminated(served.values(), problem_ids(problems))


@contextmanager
def without_adapters(context: Context, off: bool) -> Iterator[Context]:
    """The context, or (off) one whose embedded server serves every name without adapters."""
    if not off:
        yield context
        return
    with LocalServer.for_context(context, adapters=False) as server:
        yield replace(context, base_url=server.base_url)


def run_compare(
    problems: list[Problem],
    context: Context,
    store: RowStore,
    batch: Batch,
    dataset: str,
    concurrency: int = 1,
    mock: bool = False,
    on_problem: Callable[[str], None] | None = None,
    adapters: str | None = None,
) -> list[Summary]:
    """Baseline and hierarchy on every problem not already in `store`, through `batch`: a
    problem the endpoint gives up on is stored as unfinished and resumed by a later run."""
    check_adapters(context, problems, adapters, mock)
    todo = [p for p in problems if p.id not in store.done()]
    checkpoint = str(context.home_dir / "checkpoints.sqlite")
    run_tag = store.path.stem
    with (
        without_adapters(context, adapters == "off" and not mock) as context,
        solver(context, checkpoint, dataset, run_tag, problems if mock else None) as solving,
    ):

        def thread_of(problem: Problem) -> str:
            new = f"{new_thread_id(f'{run_tag}-{problem.id}')}-hierarchy"
            return solving.thread_for(problem.id, new)

        def one(problem: Problem, thread: str) -> None:
            result, _ = solving.solve(problem, thread)
            baseline_thread = thread.removesuffix("hierarchy") + "baseline"
            base = solve_baseline(solving.context, problem, baseline_thread)
            entry_point = problem.entry_point if problem.kind == "code" else ""
            store.add(
                [
                    Row(problem.id, "baseline", base.hidden.passed, base.total_tokens,
                        base.llm_calls, round(base.wall_s, 3),
                        malformed_code(base.solution, entry_point)),
                    Row(problem.id, "hierarchy", result.hidden["passed"], result.total_tokens,
                        result.llm_calls, result.wall_s,
                        malformed_code(result.solution, entry_point)),
                ]
            )  # fmt: skip

        def after(problem: Problem) -> None:
            if on_problem is not None:
                on_problem(problem.id)

        batch.run(todo, thread_of, one, concurrency, after)
    store.set_unfinished(batch.unfinished)
    return summarize(store.rows)


def render(summaries: list[Summary]) -> str:
    lines = [
        "| system | problems | pass@1 | tokens/problem | LLM calls/problem | seconds/problem "
        "| format errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.system} | {s.problems} | {s.pass_at_1:.1%} | {s.tokens_per_problem:.0f} | "
            f"{s.calls_per_problem:.1f} | {s.wall_s_per_problem:.1f} | "
            f"{s.format_errors}/{s.problems} |"
        )
    return "\n".join(lines)


def chart(summaries: list[Summary], path: Path) -> Path:
    """Side-by-side bars: pass@1, tokens per problem, calls per problem."""
    metrics = [
        ("pass@1", lambda s: s.pass_at_1),
        ("tokens / problem", lambda s: s.tokens_per_problem),
        ("LLM calls / problem", lambda s: s.calls_per_problem),
    ]
    with png_figure(path, ncols=len(metrics), figsize=(11, 3.5)) as (figure, axes):
        for axis, (title, value) in zip(axes, metrics, strict=True):
            axis.bar([s.system for s in summaries], [value(s) for s in summaries],
                     color=["#8c8c8c", "#3b75af"][: len(summaries)])  # fmt: skip
            axis.set_title(title)
        figure.suptitle(f"hierarchy vs single-call baseline ({summaries[0].problems} problems)")
    return path
