"""The real model on a fixed slice of HumanEval: baseline vs hierarchy, with the model's speed.

The problems run through `evals.compare` (the same single-call baseline, hierarchy and
hidden-test grading in the sandbox as `hi-moe compare`); the call log adds the prompt and
completion tokens and the model's speed. The model is the embedded SmolLM2 on llama.cpp unless
`HI_MOE_ENDPOINT` / `HI_MOE_LOCAL_MODEL_PATH` say otherwise; `mock=True` uses the scripted model.
Run: hi-moe bench model [--limit 5]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evals import compare, compare_report
from evals.bench_common import Tick, markdown_table, no_tick
from graph.context import Context
from hi_moe.app.batch import Batch
from hi_moe.app.runs import new_thread_id
from hi_moe.llm.call_log import CallLog, CallRecord
from hi_moe.llm.models import model_label
from hi_moe.problems.datasets import load_dataset

DATASET = "humaneval"
DEFAULT_LIMIT = 5
SPEED_NOTE = (
    "completion tokens/s: completion tokens per second of LLM call latency (the prompt's "
    "processing included); LLM s: summed latency of the successful calls."
)


@dataclass(frozen=True)
class ProblemRun:
    """One system on one problem: compare's row plus the token split from the call log."""

    problem_id: str
    system: str
    passed: bool
    wall_s: float
    calls: int
    prompt_tokens: int
    completion_tokens: int
    llm_s: float
    """Summed latency of the successful LLM calls."""
    completion_tokens_per_s: float


@dataclass(frozen=True)
class Speed:
    """Per system: tokens per problem and completion tokens per second of LLM latency."""

    system: str
    prompt_tokens_per_problem: float
    completion_tokens_per_problem: float
    llm_s_per_problem: float
    completion_tokens_per_s: float


@dataclass
class ModelReport:
    dataset: str
    model: str
    problem_ids: list[str]
    rows_path: str
    interrupted: bool
    unfinished: list[dict]
    """Problems the endpoint gave up on (or not started once it was dead), with their threads."""
    summary: list[compare_report.Summary]
    speed: list[Speed]
    runs: list[ProblemRun]


def model_name(context: Context, mock: bool) -> str:
    """What answers: the scripted mock, the embedded GGUF file, or the endpoint."""
    if mock:
        return "scripted mock"
    if context.endpoint != "local" or context.base_url:
        return context.base_url or context.endpoint
    return model_label(context.model)


def rate(tokens: int, seconds: float) -> float:
    """Tokens per second, 0 when no time was measured."""
    return round(tokens / seconds, 1) if seconds > 0 else 0.0


def thread_prefix(run_tag: str, problem_id: str) -> str:
    """How compare's thread ids for one problem start (it adds a random part and the system)."""
    return new_thread_id(f"{run_tag}-{problem_id}").rsplit("-", 1)[0] + "-"


def problem_run(row: compare.Row, run_tag: str, calls: list[CallRecord]) -> ProblemRun:
    """Join a compare row with its successful calls in the log."""
    prefix = thread_prefix(run_tag, row.problem_id)

    def of(system: str) -> list[CallRecord]:
        suffix = f"-{system}"
        return [c for c in calls if c.ok and c.thread_id and c.thread_id.startswith(prefix)
                and c.thread_id.endswith(suffix)]  # fmt: skip

    mine = of(row.system)
    if not mine and row.system == "baseline":
        # compare made the single call's request once: it is the hierarchy's first call
        mine = of("hierarchy")[:1]
    completion, llm_s = sum(c.completion_tokens for c in mine), sum(c.latency_s for c in mine)
    return ProblemRun(
        row.problem_id,
        row.system,
        row.passed,
        row.wall_s,
        row.calls,
        sum(c.prompt_tokens for c in mine),
        completion,
        round(llm_s, 3),
        rate(completion, llm_s),
    )


def speed(system: str, runs: list[ProblemRun]) -> Speed:
    mine = [r for r in runs if r.system == system]
    llm_s = sum(r.llm_s for r in mine)
    completion = sum(r.completion_tokens for r in mine)
    return Speed(
        system,
        sum(r.prompt_tokens for r in mine) / len(mine),
        completion / len(mine),
        llm_s / len(mine),
        rate(completion, llm_s),
    )


def run(
    home: Path, limit: int = DEFAULT_LIMIT, mock: bool = False, tick: Tick = no_tick
) -> ModelReport:
    """Baseline and hierarchy on the first `limit` HumanEval problems, one at a time.

    Ctrl-C stops the run; the report then holds the problems finished so far. A problem the
    endpoint gives up on is listed as unfinished; the others go on.
    """
    problems: list[compare.Task] = list(load_dataset(DATASET)[:limit])
    context = Context(home=str(home))
    model = model_name(context, mock)
    systems = ("baseline", "hierarchy")
    run_file = home / "compare" / f"{new_thread_id('bench-model')}.json"
    store = compare.RowStore(run_file, compare.run_description(systems, context, DATASET, mock))
    interrupted = False
    try:
        compare.run_compare(
            problems,
            context,
            store,
            Batch(store.path.stem),
            DATASET,
            mock=mock,
            on_problem=lambda _: tick(len(store.done()), len(problems)),
        )
    except KeyboardInterrupt:
        interrupted = True
    calls = CallLog(context.call_log_path).all()
    runs = [problem_run(row, store.path.stem, calls) for row in store.rows]
    summary = compare_report.summarize(store.rows, systems)
    return ModelReport(
        dataset=DATASET,
        model=model,
        problem_ids=[p.id for p in problems],
        rows_path=str(store.path),
        interrupted=interrupted,
        unfinished=store.unfinished,
        summary=summary,
        speed=[speed(s.system, runs) for s in summary],
        runs=runs,
    )


def render(report: ModelReport) -> str:
    """Headline, compare's summary table, the model's speed and one row per problem."""
    ids = report.problem_ids
    finished = len({r.problem_id for r in report.runs})
    span = ids[0] if len(ids) == 1 else f"{ids[0]} .. {ids[-1]} ({len(ids)} problems)"
    headline = f"{report.model} on {span}" + (
        f"; interrupted after {finished}" if report.interrupted else ""
    )
    if report.unfinished:
        gave_up = ", ".join(f"{u['problem_id']} ({u['status']})" for u in report.unfinished)
        headline += f"; unfinished: {gave_up}"
    if not report.runs:
        return f"{headline}: no problem finished"
    speeds = markdown_table(
        ["system", "prompt tokens/problem", "completion tokens/problem", "LLM s/problem",
         "completion tokens/s"],
        ([s.system, f"{s.prompt_tokens_per_problem:.0f}", f"{s.completion_tokens_per_problem:.0f}",
          f"{s.llm_s_per_problem:.1f}", f"{s.completion_tokens_per_s:.1f}"] for s in report.speed),
    )  # fmt: skip
    problems = markdown_table(
        ["problem", "system", "hidden", "seconds", "LLM calls", "prompt tokens",
         "completion tokens", "completion tokens/s"],
        ([r.problem_id, r.system, "pass" if r.passed else "fail", f"{r.wall_s:.1f}", r.calls,
          r.prompt_tokens, r.completion_tokens, f"{r.completion_tokens_per_s:.1f}"]
         for r in report.runs),
    )  # fmt: skip
    return "\n\n".join(
        [
            headline,
            compare_report.render(report.summary),
            speeds,
            problems,
            SPEED_NOTE,
            f"rows: {report.rows_path}",
        ]
    )
