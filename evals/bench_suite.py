"""`hi-moe bench`: the registry of benchmark suites, running them, and the combined report.

A suite is a function `(settings, tick) -> SuiteResult`: its results as a JSON-able dict and
the same results as Markdown (at least one table). To add a suite (say `horizon`):

1. write `run_horizon(settings: BenchSettings, tick: Tick) -> SuiteResult` below, importing
   its module inside the function (the CLI imports this file at start-up);
2. add `Suite("horizon", "what it measures", run_horizon)` to `SUITES` (`slow=True` if it takes
   minutes, so `--fast` leaves it out); add a `BenchSettings` field + CLI flag if it needs one.

`hi-moe bench horizon`, `hi-moe bench` (all), `--skip horizon` and report.json/report.md then
include it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from evals import (
    bench_ensemble,
    bench_harness,
    bench_horizon,
    bench_model,
    bench_routines,
    bench_routing,
    bench_sandbox,
)
from evals.bench_common import Tick, markdown_table, no_tick
from graph.context import REPO_ROOT, Context
from hi_moe.errors import UserError

logger = logging.getLogger(__name__)

ALL = "all"
REPORT_VERSION = 1


class SuiteResult(NamedTuple):
    data: dict
    """JSON-able results."""
    markdown: str
    """The same results for people: a headline and at least one table."""


@dataclass(frozen=True)
class BenchSettings:
    """Every suite's knobs (each suite reads only its own)."""

    out: Path = Path(".hi_moe/bench")
    runs: int = 30
    """sandbox: validations to time per isolation."""
    split: str = "test"
    """routing: dev, test or all."""
    k: int = 3
    """ensemble: specialists."""
    latency_s: float | None = None
    """Seconds per fake LLM call; None: each suite's default."""
    problems: int = 8
    """overhead, throughput: builtin problems."""
    limit: int = 5
    """model: the first N HumanEval problems."""
    mock: bool = False
    """model, horizon: the scripted fake model instead of the real one."""
    ks: tuple[int, ...] = (1, 2, 4, 8, 16)
    """horizon: parts per task."""
    pool: int = 16
    """horizon: HumanEval problems every k covers."""
    run_id: str = ""
    """horizon: keep finished bundles under OUT/horizon-runs/RUN_ID and resume from them."""

    def __post_init__(self) -> None:
        for flag in ("runs", "k", "problems", "limit", "pool"):
            if getattr(self, flag) < 1:
                raise UserError(f"--{flag} must be at least 1")
        if not self.ks or min(self.ks) < 1:
            raise UserError("--ks must list parts per task, each at least 1 (e.g. 1,2,4)")
        if self.latency_s is not None and self.latency_s < 0:
            raise UserError("--latency cannot be negative")

    def latency(self, default: float) -> float:
        return default if self.latency_s is None else self.latency_s


@dataclass(frozen=True)
class Suite:
    name: str
    about: str
    run: Callable[[BenchSettings, Tick], SuiteResult]
    slow: bool = False
    """Takes minutes; `--fast` leaves it out."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C inside a suite that still has partial results worth reporting."""

    def __init__(self, partial: SuiteResult) -> None:
        super().__init__()
        self.partial = partial


class Incomplete(Exception):
    """A suite that ran to the end, but the endpoint gave up on some of its problems (its
    report names them)."""

    def __init__(self, partial: SuiteResult) -> None:
        super().__init__()
        self.partial = partial


def result_of(report: Any, render: Callable[[Any], str]) -> SuiteResult:
    """A suite's dataclass report as (dict, Markdown)."""
    return SuiteResult(asdict(report), render(report))


def run_routing(settings: BenchSettings, tick: Tick) -> SuiteResult:
    context = Context()
    report = bench_routing.run(context.fleet_path, context.router_dir, settings.split, tick)
    return result_of(report, bench_routing.render)


def run_routines(settings: BenchSettings, tick: Tick) -> SuiteResult:
    report = bench_routines.run(Context().routine_max_distance, tick)
    return result_of(report, bench_routines.render)


def run_ensemble(settings: BenchSettings, tick: Tick) -> SuiteResult:
    report = bench_ensemble.run(settings.k, settings.latency(0.3))
    return result_of(report, bench_ensemble.render)


def run_sandbox(settings: BenchSettings, tick: Tick) -> SuiteResult:
    return result_of(bench_sandbox.measure(settings.runs, tick), bench_sandbox.render)


def run_overhead(settings: BenchSettings, tick: Tick) -> SuiteResult:
    report = bench_harness.overhead(settings.latency(0.05), settings.problems, tick)
    return result_of(report, bench_harness.render_overhead)


def run_throughput(settings: BenchSettings, tick: Tick) -> SuiteResult:
    report = bench_harness.throughput(settings.latency(0.05), problem_count=settings.problems,
                                      tick=tick)  # fmt: skip
    return result_of(report, bench_harness.render_throughput)


def run_model(settings: BenchSettings, tick: Tick) -> SuiteResult:
    report = bench_model.run(settings.out / "model", settings.limit, settings.mock, tick)
    result = result_of(report, bench_model.render)
    if report.interrupted:
        raise Interrupted(result)
    if report.unfinished:
        raise Incomplete(result)
    return result


def run_horizon(settings: BenchSettings, tick: Tick) -> SuiteResult:
    work = settings.out / "horizon-runs" / settings.run_id if settings.run_id else None
    rows = bench_horizon.horizon(settings.ks, settings.pool, settings.mock, tick=tick, work=work)
    paths = bench_horizon.write_report(rows, settings.out, settings.mock)
    data = json.loads(paths["json"].read_text())
    return SuiteResult(data, f"{bench_horizon.markdown(rows)}\nPlot: {paths['png']}\n")


SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite("routing", "router top-1 accuracy, confusion matrix, latency", run_routing),
        Suite(
            "routines",
            "routine cache relevance: related vs nearest unrelated routine distance per bar",
            run_routines,
        ),
        Suite("ensemble", "parallel fan-out of K specialists vs sequential", run_ensemble),
        Suite("sandbox", "time to validate a trivial solution per isolation", run_sandbox),
        Suite("overhead", "harness time per node and checkpoint bytes per step", run_overhead),
        Suite("throughput", "problems per minute at concurrency 1, 2, 4", run_throughput),
        Suite(
            "model",
            "the real local model on HumanEval/0..N-1, baseline vs hierarchy (minutes)",
            run_model,
            slow=True,
        ),
        Suite(
            "horizon",
            "prompt tokens per call and parts solved vs parts per task k, hierarchy vs a "
            "single growing context (with --mock: the scripted model, minutes; else hours)",
            run_horizon,
            slow=True,
        ),
    )
}


def select_suites(requested: list[str], skip: list[str], fast: bool) -> list[str]:
    """The suites to run, in registry order: all of them unless named, minus skipped ones."""
    unknown = [name for name in [*requested, *skip] if name != ALL and name not in SUITES]
    if unknown:
        raise UserError(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)} or {ALL}")
    wanted = set(SUITES) if not requested or ALL in requested else set(requested)
    chosen = [
        name
        for name, suite in SUITES.items()
        if name in wanted and name not in skip and not (fast and suite.slow)
    ]
    if not chosen:
        raise UserError("every requested suite was skipped (--skip/--fast); nothing to run")
    return chosen


@dataclass
class Outcome:
    """What became of one suite."""

    name: str
    status: str
    """done, interrupted (Ctrl-C; partial results if the suite had some), incomplete (the
    endpoint gave up on some problems; results of the others) or failed."""
    seconds: float
    result: SuiteResult = field(default_factory=lambda: SuiteResult({}, ""))
    error: str = ""
    user_error: bool = False
    """The failure is something the user can fix (a UserError), not a bug."""


def run_one(suite: Suite, settings: BenchSettings, tick: Tick) -> Outcome:
    """Run a suite, turning Ctrl-C and errors into an Outcome instead of an exception."""
    started = time.perf_counter()

    def outcome(status: str, result: SuiteResult | None = None, **error: Any) -> Outcome:
        seconds = round(time.perf_counter() - started, 2)
        return Outcome(suite.name, status, seconds, result or SuiteResult({}, ""), **error)

    try:
        result = suite.run(settings, tick)
    except Interrupted as exc:
        return outcome("interrupted", exc.partial)
    except Incomplete as exc:
        return outcome("incomplete", exc.partial)
    except KeyboardInterrupt:
        return outcome("interrupted")
    except UserError as exc:
        return outcome("failed", error=str(exc), user_error=True)
    except Exception as exc:
        logger.exception("benchmark suite %s crashed", suite.name)
        return outcome("failed", error=f"{type(exc).__name__}: {exc}")
    return outcome("done", result)


def run_suites(
    names: list[str],
    settings: BenchSettings,
    meter: Callable[[str], Tick] = lambda name: no_tick,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Run the named suites in order; a failure does not stop the others, Ctrl-C does."""
    outcomes = []
    for name in names:
        outcomes.append(run_one(SUITES[name], settings, meter(name)))
        on_outcome(outcomes[-1])
        if outcomes[-1].status == "interrupted":
            break
    return outcomes


def git_commit() -> str | None:
    """The short commit of the checkout, if this is a git checkout with git installed."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def machine_info() -> dict:
    """Where and when the suites ran (take it before running: the commit may move on)."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def report_data(
    outcomes: list[Outcome], names: list[str], settings: BenchSettings, machine: dict
) -> dict:
    """report.json: machine, settings, each suite's status and results, suites not reached."""
    ran = {o.name for o in outcomes}
    return {
        "version": REPORT_VERSION,
        "machine": machine,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        "suites": {
            o.name: {
                "status": o.status,
                "seconds": o.seconds,
                "error": o.error,
                "results": o.result.data,
            }
            for o in outcomes
        },  # fmt: skip
        "not_run": [name for name in names if name not in ran],
    }


def section(outcome: Outcome) -> str:
    """One suite's part of report.md."""
    title = f"## {outcome.name}: {outcome.status} after {outcome.seconds:.1f} s"
    body = outcome.result.markdown or "(no results)"
    if outcome.error:
        body = f"error: {outcome.error}"
    return f"{title}\n\n{body}"


def render_report(data: dict, outcomes: list[Outcome]) -> str:
    """report.md: the machine as a table, then one section per suite."""
    machine = data["machine"]
    parts = [
        "# hi-moe benchmark report",
        markdown_table(list(machine), [[v if v is not None else "-" for v in machine.values()]]),
        *(section(o) for o in outcomes),
    ]
    if data["not_run"]:
        parts.append(f"not run (interrupted first): {', '.join(data['not_run'])}")
    return "\n\n".join(parts) + "\n"


def write_suite(outcome: Outcome, out: Path) -> Path:
    """NAME.json and NAME.md of one suite's results; returns the Markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{outcome.name}.json").write_text(json.dumps(outcome.result.data, indent=2))
    path = out / f"{outcome.name}.md"
    path.write_text(outcome.result.markdown + "\n")
    return path


def write_report(
    outcomes: list[Outcome], names: list[str], settings: BenchSettings, machine: dict
) -> Path:
    """report.json and report.md in `settings.out`; returns the Markdown file."""
    data = report_data(outcomes, names, settings, machine)
    settings.out.mkdir(parents=True, exist_ok=True)
    (settings.out / "report.json").write_text(json.dumps(data, indent=2))
    path = settings.out / "report.md"
    path.write_text(render_report(data, outcomes))
    return path
