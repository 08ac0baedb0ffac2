"""The hierarchy against single-context systems on the same problems, model and endpoint.

Run: hi-moe compare --dataset builtin|humaneval|mbpp-pro|classeval|FILE [--systems a,b]
         [--limit N] [--concurrency C] [--mock] [--adapters on|off] [--routines on|off]
Systems (evals/baseline.py, evals/class_strategies.py, evals/budgeted.py): `baseline`, one
greedy call with the plain prompt; on classes only, ClassEval's `incremental` and
`compositional`, method by method; `best-of-n`, independent samples; `retry`, one growing
self-debug conversation; `hierarchy`, the graph. Best-of-n and retry may spend up to the tokens
the hierarchy spent on the same problem, so they need it in the run. No system learns across
problems: the hierarchy's routine cache is off (empty), as the others have none; `--routines on`
turns it on for the hierarchy alone, a cache of its own per run, to measure what memory adds
(`compare-runs`).
The report (evals/compare_report.py): per system, pass@1 on hidden tests with a 95% Wilson
interval (on classes, class-level and method-level), the exact McNemar p of the hierarchy
against it, tokens, calls, seconds, format errors.
Rows are saved after every problem; rerunning with the same --run-id skips finished problems
and resumes unfinished ones; a run id made with other systems, model or dataset is refused.
`--adapters off` serves the same model names without the fleet's LoRA adapters; with adapters,
the run is refused if any adapter was trained on one of the evaluated problems.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from threading import Lock

from evals.baseline import Sample, SystemRun, format_error, greedy_sample
from evals.budgeted import best_of_n, retry
from evals.class_strategies import compositional, incremental
from evals.compare_report import Row, Summary, summarize
from graph.context import Context
from hi_moe.adapters.meta import check_uncontaminated, fleet_adapters
from hi_moe.app.batch import Batch, Unfinished
from hi_moe.app.runs import RunResult, new_thread_id, solver
from hi_moe.errors import UserError
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.models import model_label
from hi_moe.problems.classeval import ClassTask
from hi_moe.problems.grading import grade
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project
from hi_moe.problems.splits import CLASSEVAL_HELD_OUT, problem_ids

SYSTEMS = ("baseline", "incremental", "compositional", "best-of-n", "retry", "hierarchy")
"""Every system, in the order of reports."""
BUDGETED = {"best-of-n": best_of_n, "retry": retry}
"""Systems whose budget on a problem is the hierarchy's tokens on it."""
CLASS_SYSTEMS = {"incremental": incremental, "compositional": compositional}
"""Systems that build a class method by method: for class tasks only."""
DEFAULT_SYSTEMS = tuple(name for name in SYSTEMS if name not in CLASS_SYSTEMS)
"""What a run on tasks other than classes compares (and what a run stored without its
description compared)."""
REPORT_VERSION = 3
Task = Problem | Project


def all_classes(tasks: Sequence[Task]) -> bool:
    return bool(tasks) and all(isinstance(task, ClassTask) for task in tasks)


def parse_systems(text: str | None, tasks: Sequence[Task]) -> tuple[str, ...]:
    """`a,b,c` as systems in the canonical order (None: every system on classes, else
    DEFAULT_SYSTEMS); unknown names, a budget without the hierarchy and a method-by-method
    system on tasks that are not classes are errors."""
    if text is None:
        return SYSTEMS if all_classes(tasks) else DEFAULT_SYSTEMS
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown or not names:
        raise UserError(f"unknown system {(unknown or [text])[0]!r} in --systems; choose from "
                        f"{', '.join(SYSTEMS)}")  # fmt: skip
    budgeted = [name for name in names if name in BUDGETED]
    if budgeted and "hierarchy" not in names:
        raise UserError(f"{budgeted[0]} spends the hierarchy's tokens on each problem: add "
                        "hierarchy to --systems")  # fmt: skip
    by_method = [name for name in names if name in CLASS_SYSTEMS]
    if by_method and not all_classes(tasks):
        raise UserError(f"{by_method[0]} builds a class method by method: it runs on class "
                        "tasks only (--dataset classeval)")  # fmt: skip
    return tuple(name for name in SYSTEMS if name in names)


class RowStore:
    """The run's rows in one JSON file, rewritten after every problem (thread-safe), the
    problems the run left unfinished, and what the run is (systems, model, dataset): a run
    is resumed only as what it was made."""

    def __init__(self, path: Path, run: dict | None = None) -> None:
        """`run`: what this run is; None reads the file as it is (reports)."""
        self.path = path
        self._lock = Lock()
        self.rows, self.unfinished, stored = self._load()
        differs = [k for k, v in (run or {}).items() if k in stored and stored[k] != v]
        if run is not None and differs:
            made = ", ".join(f"{key} {stored[key]} (not {run[key]})" for key in differs)
            raise UserError(f"run {path.stem} was made with {made}: choose a new --run-id")
        self.run = run if run is not None else stored
        self.systems = tuple(self.run.get("systems", DEFAULT_SYSTEMS))

    def _load(self) -> tuple[list[Row], list[dict], dict]:
        if not self.path.exists():
            return [], [], {}
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") != REPORT_VERSION:
                raise ValueError(f"version {data.get('version')} is not {REPORT_VERSION}")
            rows = [Row(**row) for row in data["rows"]]
            return rows, data.get("unfinished", []), data.get("run", {})
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot resume from {self.path}: {exc}") from exc

    def done(self) -> set[str]:
        per_problem: dict[str, set[str]] = {}
        for row in self.rows:
            per_problem.setdefault(row.problem_id, set()).add(row.system)
        return {p for p, systems in per_problem.items() if systems >= set(self.systems)}

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
            "run": self.run,
            "rows": [asdict(r) for r in self.rows],
            "unfinished": self.unfinished,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(payload, indent=2))


def run_description(
    systems: tuple[str, ...],
    context: Context,
    dataset: str,
    mock: bool = False,
    routines: bool = False,
) -> dict:
    """What a run is, for refusing to resume it as something else."""
    model = "scripted mock" if mock else model_label(context.model)
    hierarchy = "direct first" if context.direct_first else "always plan"
    if context.direct_first and context.whole_first_parts:
        hierarchy += f", whole task first up to {context.whole_first_parts} parts"
    if context.retry_temperature_step:
        hierarchy += f", retry temperature +{context.retry_temperature_step}"
    if context.retry_resample:
        hierarchy += ", retries resample"
    if routines:
        hierarchy += ", routine cache"
    return {"systems": list(systems), "model": model, "dataset": dataset, "hierarchy": hierarchy}


def check_adapters(
    context: Context, problems: list[Task], adapters: str | None, mock: bool = False
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


def with_routines(context: Context, on: bool, rows: Path) -> Context:
    """Off: no routine cache. On: the hierarchy keeps the parts it solves in this run as
    routines, in a cache of the run's own beside its rows (RUN-routines), so its architect sees
    the relevant ones of earlier problems and a resumed run keeps them."""
    if not on:
        return replace(context, routines_shown=0)
    if context.routines_shown == 0:
        raise UserError("--routines on: HI_MOE_ROUTINES_SHOWN=0 would show no routine")
    return replace(context, routine_store=str(rows.with_name(f"{rows.stem}-routines")))


@contextmanager
def without_adapters(context: Context, off: bool) -> Iterator[Context]:
    """The context, or (off) one whose embedded server serves every name without adapters."""
    if not off:
        yield context
        return
    with LocalServer.for_context(context, adapters=False) as server:
        yield replace(context, base_url=server.base_url)


def method_counts(problem: Task, passed: int, total: int) -> tuple[int, int]:
    """A class's methods passing their own unittest class and its methods; (0, 0) otherwise."""
    return (passed, total) if isinstance(problem, ClassTask) else (0, 0)


def hierarchy_row(problem: Task, result: RunResult) -> Row:
    hidden = result.hidden
    methods = method_counts(problem, hidden["tests_passed"], hidden["tests_total"])
    return Row(problem.id, "hierarchy", hidden["passed"], result.total_tokens, result.llm_calls,
               result.wall_s, format_error(problem, result.solution), *methods)  # fmt: skip


def single_context_row(problem: Task, system: str, run: SystemRun) -> Row:
    """The system's submission (its best sample, or the class it assembled) graded with the
    hidden tests; a method no reply held is a format error."""
    code = run.submission
    verdict = grade(problem, code)
    methods = method_counts(problem, verdict.tests_passed, verdict.tests_total)
    malformed = format_error(problem, code) or bool(run.unanswered)
    return Row(problem.id, system, verdict.passed, run.tokens, run.calls, run.wall_s, malformed,
               *methods)  # fmt: skip


def single_context_runs(
    context: Context,
    problem: Task,
    systems: tuple[str, ...],
    budget: int,
    thread_prefix: str,
    shared_with: Sequence[str] = (),
) -> dict[str, SystemRun]:
    """The single-context systems among `systems` on one problem: the method-by-method ones on
    their own, the others all from one greedy sample, the hierarchy's own reply where its
    first call was the very same request."""
    runs = {}
    first: Sample | None = None
    for system in (name for name in systems if name != "hierarchy"):
        thread = f"{thread_prefix}{system}"
        if system in CLASS_SYSTEMS:
            assert isinstance(problem, ClassTask), "parse_systems admits them on classes only"
            runs[system] = CLASS_SYSTEMS[system](context, problem, thread)
            continue
        if first is None:
            first = greedy_sample(context, problem, f"{thread_prefix}baseline", shared_with)
        if system in BUDGETED:
            runs[system] = BUDGETED[system](context, problem, first, budget, thread)
        else:
            runs[system] = SystemRun([first])
    return runs


def run_compare(
    problems: list[Task],
    context: Context,
    store: RowStore,
    batch: Batch,
    dataset: str,
    concurrency: int = 1,
    mock: bool = False,
    on_problem: Callable[[str], None] | None = None,
    adapters: str | None = None,
    routines: bool = False,
) -> list[Summary]:
    """The store's systems on every problem not already in it, through `batch`: a problem the
    endpoint gives up on is stored as unfinished and resumed by a later run."""
    check_adapters(context, problems, adapters, mock)
    systems = store.systems
    todo = [p for p in problems if p.id not in store.done()]
    checkpoint = str(context.home_dir / "checkpoints.sqlite")
    run_tag = store.path.stem
    context = with_routines(context, routines, store.path)
    with (
        without_adapters(context, adapters == "off" and not mock) as context,
        solver(context, checkpoint, dataset, run_tag, list(problems) if mock else None) as solving,
    ):

        def thread_of(problem: Task) -> str:
            new = f"{new_thread_id(f'{run_tag}-{problem.id}')}-hierarchy"
            return solving.thread_for(problem.id, new)

        def one(problem: Task, thread: str) -> None:
            rows, budget = [], 0
            if "hierarchy" in systems:
                result, _ = solving.solve(problem, thread)
                rows.append(hierarchy_row(problem, result))
                budget = result.total_tokens
            singles = single_context_runs(
                solving.context,
                problem,
                systems,
                budget,
                thread.removesuffix("hierarchy"),
                (thread,) if "hierarchy" in systems else (),
            )
            rows += [single_context_row(problem, name, run) for name, run in singles.items()]
            store.add(rows)

        def after(problem: Task) -> None:
            if on_problem is not None:
                on_problem(problem.id)

        batch.run(todo, thread_of, one, concurrency, after)
    store.set_unfinished(batch.unfinished)
    return summarize(store.rows, SYSTEMS)


def held_out_summaries(store: RowStore, dataset: str) -> list[Summary]:
    """On `classeval`, the report of the held-out classes (ClassEval_40..59) alone; else none."""
    if dataset != "classeval":
        return []
    return summarize([r for r in store.rows if r.problem_id in CLASSEVAL_HELD_OUT], SYSTEMS)
