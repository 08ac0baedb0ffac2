"""The `hi-moe` command line: solve, resume, threads, serve-local, modal-status, prepare-gsm8k."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graph.builder import build_graph
from graph.checkpoint import open_checkpointer
from graph.context import Context
from graph.state import State
from hi_moe.call_log import CallLog
from hi_moe.costs import load_prices
from hi_moe.display import console, print_batch, print_result, print_step
from hi_moe.endpoints import MODAL_KEY_ENV, MODAL_URL_ENV
from hi_moe.errors import UserError
from hi_moe.fleet import load_fleet
from hi_moe.problems import DATASET_NAMES, Problem, get_problem, load_dataset
from hi_moe.run_registry import RunRecord, RunRegistry, new_record
from hi_moe.runs import (
    RunResult,
    context_from_settings,
    finish,
    hierarchy,
    model_endpoint,
    new_thread_id,
    run_thread,
    saved_settings,
    solve_problem,
)

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", help="local (default), modal, or an OpenAI-compatible base URL"
    )
    parser.add_argument("--gguf", help="GGUF model for the embedded server (default: SmolLM2)")
    parser.add_argument(
        "--checkpoint", help="SQLite file or postgresql:// URL (default: HOME/checkpoints.sqlite)"
    )
    parser.add_argument("--home", help="directory for logs and results (default: .hi_moe)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hi-moe",
        description="A hierarchy of LoRA experts solving coding and math problems "
        "as a checkpointed LangGraph state machine.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log warnings and details")
    commands = parser.add_subparsers(dest="command", required=True)

    solve = commands.add_parser("solve", help="solve problems and grade them with hidden tests")
    which = solve.add_mutually_exclusive_group(required=True)
    which.add_argument("--problem", action="append", help="problem id or number (repeatable)")
    which.add_argument("--all", action="store_true", help="every problem of the dataset")
    solve.add_argument(
        "--dataset", default="builtin", help=f"{', '.join(DATASET_NAMES)} or a .jsonl file"
    )
    solve.add_argument("--limit", type=int, help="with --all: only the first N problems")
    solve.add_argument("--mock", action="store_true", help="use the scripted fake model")
    solve.add_argument(
        "--mock-wrong-tries",
        type=int,
        default=0,
        help="with --mock: first N specialist answers per problem are wrong",
    )
    solve.add_argument(
        "--mock-latency",
        type=float,
        default=0.0,
        help="with --mock: seconds each fake LLM call takes",
    )
    solve.add_argument("--thread", help="thread id for a single problem (default: generated)")
    solve.add_argument("--max-retries", type=int, help="self-correction retries per subtask")
    solve.add_argument("--max-replans", type=int, help="strategy revisions per run")
    solve.add_argument("--quiet", action="store_true", help="no per-step lines")
    solve.add_argument("--routing-mode", choices=["winner_take_all", "probabilistic", "ensemble"])
    solve.add_argument("--ensemble-k", type=int, help="specialists per subtask in ensemble mode")
    add_run_options(solve)

    resume = commands.add_parser("resume", help="continue a run from its last checkpoint")
    resume.add_argument("thread_id")
    add_run_options(resume)

    threads = commands.add_parser("threads", help="list runs with their status")
    threads.add_argument("--json", action="store_true", help="print JSON")
    add_run_options(threads)

    serve = commands.add_parser("serve-local", help="keep the embedded llama.cpp server running")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--gguf", help="GGUF model (default: SmolLM2-135M-Instruct)")

    modal = commands.add_parser("modal-status", help="check the deployed Modal vLLM endpoint")
    modal.add_argument("--url", help=f"base URL ending in /v1 (default: ${MODAL_URL_ENV})")

    gsm8k = commands.add_parser("prepare-gsm8k", help="convert GSM8K JSONL to hi-moe problems")
    gsm8k.add_argument("file", type=Path)
    gsm8k.add_argument("--out", type=Path, default=Path("datasets/gsm8k.jsonl"))

    export = commands.add_parser(
        "export-training", help="write settled routing decisions as train/validation JSONL"
    )
    export.add_argument("--out", type=Path, default=Path("training"))
    export.add_argument("--validation-fraction", type=float, default=0.2)
    export.add_argument("--home", help="directory of the routing log (default: .hi_moe)")

    bench = commands.add_parser("bench", help="benchmarks: routing, ensemble, sandbox")
    bench.add_argument("suite", choices=["routing", "ensemble", "sandbox"])
    bench.add_argument("--runs", type=int, default=30, help="sandbox: validations to time")
    bench.add_argument("--split", default="test", help="routing: dev, test or all")
    bench.add_argument("--k", type=int, default=3, help="ensemble: specialists")
    bench.add_argument("--latency", type=float, default=0.3, help="ensemble: seconds per call")
    bench.add_argument("--out", type=Path, default=Path(".hi_moe/bench"))

    compare = commands.add_parser(
        "compare", help="hierarchy vs single-call baseline: table, JSON and PNG chart"
    )
    compare.add_argument("--dataset", default="builtin")
    compare.add_argument("--limit", type=int, help="only the first N problems")
    compare.add_argument("--concurrency", type=int, default=1, help="problems at a time")
    compare.add_argument("--mock", action="store_true", help="use the scripted fake model")
    compare.add_argument("--run-id", help="reuse a run: finished problems are skipped")
    add_run_options(compare)

    costs = commands.add_parser(
        "costs", help="tokens and estimated cost per tier, model and thread (table + PNG)"
    )
    costs.add_argument("threads", nargs="*", help="only these threads (default: all)")
    costs.add_argument("--home", help="directory of the call log (default: .hi_moe)")

    aggregate = commands.add_parser(
        "aggregate", help="merge result files of several runs: means and spread"
    )
    aggregate.add_argument("files", nargs="+", type=Path, help="batch or result JSON files")

    ab = commands.add_parser(
        "ab-test", help="prompt variants of one tier on the same problems, with a CI"
    )
    ab.add_argument("--tier", required=True, choices=["architect", "dispatcher", "specialist",
                                                        "monitor"])  # fmt: skip
    ab.add_argument("--variant", action="append", required=True, help="NAME=prompt.md (twice)")
    ab.add_argument("--dataset", default="builtin")
    ab.add_argument("--limit", type=int, help="only the first N problems")
    ab.add_argument("--mock", action="store_true", help="use the scripted fake model")
    add_run_options(ab)

    analyze = commands.add_parser("analyze", help="cluster the failures of result files")
    analyze.add_argument("files", nargs="+", type=Path, help="batch or result JSON files")

    evaluate = commands.add_parser(
        "eval", help="the hierarchy as a LangSmith evaluation (offline without an API key)"
    )
    evaluate.add_argument("--dataset", default="builtin")
    evaluate.add_argument("--limit", type=int, help="only the first N problems")
    evaluate.add_argument("--mock", action="store_true", help="use the scripted fake model")
    evaluate.add_argument("--home", help="directory for logs and results (default: .hi_moe)")

    problems = commands.add_parser("problems", help="list the problems of a dataset")
    problems.add_argument("--dataset", default="builtin")
    return parser


def make_context(args: argparse.Namespace, settings: dict | None = None) -> Context:
    """Context from saved settings (resume) or the environment, then the command-line flags."""
    flags = {
        "endpoint": args.endpoint,
        "local_model_path": args.gguf,
        "home": args.home,
        "max_retries": getattr(args, "max_retries", None),
        "max_replans": getattr(args, "max_replans", None),
        "routing_mode": getattr(args, "routing_mode", None),
        "ensemble_k": getattr(args, "ensemble_k", None),
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    if settings is not None:
        return context_from_settings({**settings, **overrides})
    return Context(**overrides)


def checkpoint_target(args: argparse.Namespace, context: Context) -> str:
    return args.checkpoint or str(context.home_dir / "checkpoints.sqlite")


def selected_problems(args: argparse.Namespace) -> list[Problem]:
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, not {args.limit}")
    if args.all:
        problems = load_dataset(args.dataset)
        return problems[: args.limit] if args.limit else problems
    return [get_problem(ref, args.dataset) for ref in args.problem]


def check_new_thread(args: argparse.Namespace, registry: RunRegistry, graph) -> None:
    """A --thread name must be new: reusing one would overwrite a saved run."""
    if not args.thread:
        return
    existing = registry.get(args.thread)
    if existing is not None:
        raise UserError(
            f"thread {args.thread!r} already exists ({existing.problem_id}, {existing.status}); "
            f"`hi-moe resume {args.thread}` continues it, or pick another --thread"
        )
    if graph.get_state({"configurable": {"thread_id": args.thread}}).values:
        raise UserError(f"thread {args.thread!r} already has checkpoints; pick another --thread")


def solve_one(
    args: argparse.Namespace,
    graph,
    live: Context,
    registry: RunRegistry,
    problem: Problem,
    target: str,
    verbose: bool,
) -> RunResult:
    """Run one problem in a new thread, grade it, record and (when verbose) print it."""
    thread_id = args.thread or new_thread_id(problem.id)
    record = new_record(
        thread_id,
        problem.id,
        args.dataset,
        target,
        saved_settings(live),
        mock=args.mock,
        mock_wrong_tries=args.mock_wrong_tries,
    )
    registry.add(record)
    if verbose:
        console.print(f"[bold]{problem.id}[/] {problem.title}  thread {thread_id}")
    on_step = print_step if verbose and not args.quiet else None
    result, path = solve_problem(graph, live, problem, thread_id, on_step)
    registry.finish(thread_id, result.status, str(path))
    if verbose:
        print_result(result, str(path))
    return result


def cmd_solve(args: argparse.Namespace) -> int:
    if args.mock_wrong_tries < 0 or args.mock_latency < 0:
        raise UserError("--mock-wrong-tries and --mock-latency must not be negative")
    context = make_context(args)
    load_prices(context.price_table)
    fleet_size = len(load_fleet(context.fleet_path).specialists)
    if context.routing_mode == "ensemble" and context.ensemble_k > fleet_size:
        raise UserError(f"--ensemble-k {context.ensemble_k} exceeds the fleet ({fleet_size})")
    problems = selected_problems(args)
    if args.thread and len(problems) > 1:
        raise UserError("--thread names one run; use it with a single --problem")
    registry = RunRegistry(context.home_dir / "runs.sqlite")
    target = checkpoint_target(args, context)
    mock = problems if args.mock else None
    single = len(problems) == 1
    results: list[RunResult] = []
    with (
        hierarchy(context, target, mock, args.mock_wrong_tries, args.mock_latency) as (graph, live),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=single,
        ) as bar,
    ):
        check_new_thread(args, registry, graph)
        job = bar.add_task("solving", total=len(problems))
        for problem in problems:
            bar.update(job, description=f"solving {problem.id}")
            results.append(solve_one(args, graph, live, registry, problem, target, single))
            bar.advance(job)
    if not single:
        print_batch(results)
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        summary = context.home_dir / "results" / f"batch-{stamp}.json"
        summary.write_text(json.dumps([asdict(r) for r in results], indent=2))
        console.print(f"batch result {summary}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    home = Context(**({"home": args.home} if args.home else {})).home_dir
    record = RunRegistry(home / "runs.sqlite").get(args.thread_id)
    if record is None:
        raise UserError(f"unknown thread {args.thread_id!r}: `hi-moe threads` lists the runs")
    context = make_context(args, record.settings)
    target = args.checkpoint or record.checkpoint
    problem = get_problem(record.problem_id, record.dataset)
    config = {"configurable": {"thread_id": args.thread_id}}
    with open_checkpointer(target) as saver:
        graph = build_graph(saver)
        snapshot = graph.get_state(config)
        if not snapshot.values:
            raise UserError(f"thread {args.thread_id!r} has no checkpoint in {target}")
        if snapshot.values.get("result") is not None:
            console.print(
                f"thread {args.thread_id} already finished "
                f"({snapshot.values['result'].status}); result: {record.result_path}"
            )
            return 0
        console.print(f"resuming {args.thread_id} before {', '.join(snapshot.next)}")
        mock = [problem] if record.mock else None
        with model_endpoint(context, mock, record.mock_wrong_tries) as live:
            started = time.perf_counter()
            state = run_thread(graph, args.thread_id, live, None, print_step)
            result, path = finish(
                args.thread_id, state, problem, time.perf_counter() - started, live
            )
    RunRegistry(home / "runs.sqlite").finish(args.thread_id, result.status, str(path))
    print_result(result, str(path))
    return 0


def thread_status(graph, thread_id: str) -> tuple[str, int]:
    """(status, checkpointed steps) of a thread as its checkpoints tell it."""
    snapshot = graph.get_state({"configurable": {"thread_id": thread_id}})
    if not snapshot.values:
        return "no checkpoint", 0
    step = (snapshot.metadata or {}).get("step", 0)
    state = State.model_validate(snapshot.values)
    if state.result is not None:
        return state.result.status, step
    return f"interrupted before {', '.join(snapshot.next) or '?'}", step


def cmd_threads(args: argparse.Namespace) -> int:
    context = make_context(args)
    records = RunRegistry(context.home_dir / "runs.sqlite").all()
    by_target: dict[str, list[RunRecord]] = {}
    for record in records:
        by_target.setdefault(args.checkpoint or record.checkpoint, []).append(record)
    statuses = {}
    for target, group in by_target.items():
        with open_checkpointer(target) as saver:
            graph = build_graph(saver)
            statuses.update({r.thread_id: thread_status(graph, r.thread_id) for r in group})
    rows = []
    for record in records:
        status, steps = statuses[record.thread_id]
        rows.append(
            {
                "thread_id": record.thread_id,
                "problem_id": record.problem_id,
                "status": status,
                "steps": steps,
                "mock": record.mock,
                "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created)),
                "result": record.result_path,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        console.print("no runs yet: try `hi-moe solve --problem 0`")
        return 0
    from rich.table import Table

    table = Table("thread", "problem", "status", "steps", "created", "mock")
    for row in rows:
        table.add_row(
            row["thread_id"],
            row["problem_id"],
            row["status"],
            str(row["steps"]),
            row["created"],
            "yes" if row["mock"] else "",
        )
    console.print(table)
    return 0


def cmd_serve_local(args: argparse.Namespace) -> int:
    from hi_moe.local_server import LocalServer

    context = Context(**({"local_model_path": args.gguf} if args.gguf else {}))
    with LocalServer.for_context(context, port=args.port) as server:
        console.print(
            f"embedded model served at [bold]{server.base_url}[/] "
            f"({len(server.aliases)} model names). Use it with\n"
            f"  HI_MOE_BASE_URL={server.base_url} hi-moe solve ... or langgraph dev\n"
            "Ctrl-C stops it."
        )
        server.wait()
    return 0


def cmd_modal_status(args: argparse.Namespace) -> int:
    from hi_moe.modal_status import check_endpoint, format_status

    url = args.url or os.environ.get(MODAL_URL_ENV)
    if not url:
        raise UserError(
            f"no Modal URL: pass --url or set {MODAL_URL_ENV} "
            "(deploy first: modal deploy modal_app/vllm_server.py)"
        )
    status = check_endpoint(url, os.environ.get(MODAL_KEY_ENV))
    console.print(format_status(status))
    return 0 if status.reachable else 1


def cmd_prepare_gsm8k(args: argparse.Namespace) -> int:
    from hi_moe.gsm8k import convert_file

    count = convert_file(args.file, args.out)
    console.print(f"wrote {count} problems to {args.out}; solve them with --dataset {args.out}")
    return 0


def cmd_export_training(args: argparse.Namespace) -> int:
    from hi_moe.training_export import export_routing

    context = Context(**({"home": args.home} if args.home else {}))
    summary = export_routing(context.routing_log_path, args.out, args.validation_fraction)
    console.print(
        f"wrote {summary.train} train and {summary.validation} validation routing examples "
        f"to {args.out} ({summary.skipped} decisions without a known outcome skipped)"
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    if args.suite == "sandbox":
        from evals import bench_sandbox

        text = bench_sandbox.report(args.runs)
        console.print(text)
        path = args.out / "sandbox.txt"
        path.write_text(text + "\n")
    elif args.suite == "routing":
        from evals import bench_routing

        context = Context()
        report = bench_routing.run(context.fleet_path, context.router_dir, args.split)
        console.print(bench_routing.render(report))
        path = bench_routing.save(report, args.out)
    else:
        from evals import bench_ensemble

        report = bench_ensemble.run(args.k, args.latency)
        console.print(bench_ensemble.render(report))
        path = args.out / "ensemble.json"
        path.write_text(json.dumps(asdict(report), indent=2))
    console.print(f"report {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from evals import compare

    if args.concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    context = make_context(args)
    problems = (
        load_dataset(args.dataset)[: args.limit] if args.limit else load_dataset(args.dataset)
    )
    run_id = args.run_id or f"compare-{args.dataset.replace('/', '-')}-{int(time.time())}"
    out_dir = context.home_dir / "compare"
    store = compare.RowStore(out_dir / f"{run_id}.json")
    skipped = len(store.done() & {p.id for p in problems})
    if skipped:
        console.print(f"{skipped} problems already done in {run_id}; skipping them")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as bar:  # fmt: skip
        job = bar.add_task(f"compare {args.dataset}", total=len(problems), completed=skipped)
        try:
            summaries = compare.run_compare(
                problems, context, store, args.concurrency, args.mock,
                on_problem=lambda _: bar.advance(job),
            )  # fmt: skip
        except KeyboardInterrupt:
            console.print(f"\ninterrupted; finished problems are kept: --run-id {run_id}")
            return EXIT_INTERRUPTED
    console.print(compare.render(summaries))
    png = compare.chart(summaries, out_dir / f"{run_id}.png")
    console.print(f"rows {store.path}\nchart {png}")
    return 0


def cmd_costs(args: argparse.Namespace) -> int:
    from evals import costs

    context = Context(**({"home": args.home} if args.home else {}))
    if not context.call_log_path.exists():
        raise UserError(f"no call log at {context.call_log_path}: solve some problems first")
    calls = CallLog(context.call_log_path).all()
    if args.threads:
        unknown = set(args.threads) - {c.thread_id for c in calls}
        if unknown:
            raise UserError(f"no calls logged for thread(s) {', '.join(sorted(unknown))}")
        calls = [c for c in calls if c.thread_id in set(args.threads)]
    prices = load_prices(context.price_table)
    by_tier = costs.group(calls, lambda c: c.tier, prices)
    console.print(costs.render("tier", by_tier))
    console.print(costs.render("model", costs.group(calls, lambda c: c.model, prices)))
    console.print(costs.render("thread", costs.group(calls, lambda c: c.thread_id or "-", prices)))
    console.print(f"chart {costs.chart(by_tier, context.home_dir / 'costs.png')}")
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    from evals import aggregate

    console.print(aggregate.render([aggregate.run_stats(path) for path in args.files]))
    return 0


def cmd_ab_test(args: argparse.Namespace) -> int:
    from evals import ab_test

    variants = [ab_test.parse_variant(v) for v in args.variant]
    if len(variants) != 2 or variants[0].name == variants[1].name:
        raise UserError("give exactly two --variant NAME=prompt.md with different names")
    context = make_context(args)
    problems = load_dataset(args.dataset)
    problems = problems[: args.limit] if args.limit else problems
    outcomes = []
    for variant in variants:
        with console.status(f"variant {variant.name} on {len(problems)} problems..."):
            outcomes.append(ab_test.run_variant(problems, context, args.tier, variant, args.mock))
    names = (variants[0].name, variants[1].name)
    report = ab_test.compare_outcomes(args.tier, names, outcomes[0], outcomes[1])
    console.print(ab_test.render(report))
    path = context.home_dir / "ab" / f"{args.tier}-{names[0]}-vs-{names[1]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2))
    console.print(f"report {path}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from evals import analyze

    console.print(analyze.render(*analyze.analyze(args.files)))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.langsmith_eval import render, run_eval

    context = Context(**({"home": args.home} if args.home else {}))
    summary = run_eval(args.dataset, context.home_dir, mock=args.mock, limit=args.limit)
    console.print(render(summary))
    return 0


def cmd_problems(args: argparse.Namespace) -> int:
    for problem in load_dataset(args.dataset):
        console.print(f"{problem.id:16} {problem.kind:5} {problem.domain:16} {problem.title}")
    return 0


COMMANDS = {
    "solve": cmd_solve,
    "resume": cmd_resume,
    "threads": cmd_threads,
    "serve-local": cmd_serve_local,
    "modal-status": cmd_modal_status,
    "prepare-gsm8k": cmd_prepare_gsm8k,
    "problems": cmd_problems,
    "compare": cmd_compare,
    "costs": cmd_costs,
    "aggregate": cmd_aggregate,
    "ab-test": cmd_ab_test,
    "analyze": cmd_analyze,
    "eval": cmd_eval,
    "export-training": cmd_export_training,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        console.print(f"[red]error:[/] {exc}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        console.print("\ninterrupted; finished results are kept. `hi-moe threads` lists runs.")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
