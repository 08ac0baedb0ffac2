"""`hi-moe solve`, `resume` and `threads`: running problems through the graph."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

from langchain_core.runnables import RunnableConfig
from rich.table import Table

from graph.builder import Graph, build_graph
from graph.checkpoint import open_checkpointer
from graph.context import Context
from graph.state import State
from hi_moe.app.batch import Batch, give_up_line, new_run_id
from hi_moe.app.checkpoint_prune import prune_finished
from hi_moe.app.display import console, print_batch, print_result, print_step, progress_bar
from hi_moe.app.registry import RunRecord, RunRegistry
from hi_moe.app.runs import (
    FINISHED,
    RunResult,
    Solver,
    context_from_settings,
    finish,
    model_endpoint,
    new_thread_id,
    run_thread,
    solver,
)
from hi_moe.cli.options import add_dataset_option, add_depth_option, add_run_options
from hi_moe.errors import UserError
from hi_moe.llm.client import EndpointError
from hi_moe.llm.fake.endpoint import Faults
from hi_moe.llm.pricing import load_prices
from hi_moe.problems.datasets import check_limit, first, get_problem, load_dataset
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project
from hi_moe.routing.fleet import load_fleet


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `solve`, `resume` and `threads` to the top-level parser's subcommands."""
    solve = commands.add_parser("solve", help="solve problems and grade them with hidden tests")
    which = solve.add_mutually_exclusive_group(required=True)
    which.add_argument("--problem", action="append", help="problem id or number (repeatable)")
    which.add_argument("--all", action="store_true", help="every problem of the dataset")
    add_dataset_option(solve)
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
    solve.add_argument(
        "--mock-faults",
        type=float,
        metavar="RATE",
        help="with --mock: this share of requests fail (5xx, 429, resets, timeouts, slow, cut "
        "or malformed replies); set HI_MOE_REQUEST_TIMEOUT_S low, timeouts wait for it",
    )
    solve.add_argument("--mock-seed", type=int, default=0, help="with --mock-faults: the seed")
    solve.add_argument(
        "--run-id", help="name the batch; rerun with it to resume its unfinished problems"
    )
    solve.add_argument("--thread", help="thread id for a single problem (default: generated)")
    solve.add_argument("--max-retries", type=int, help="self-correction retries per subtask")
    solve.add_argument("--max-replans", type=int, help="strategy revisions per run")
    solve.add_argument("--quiet", action="store_true", help="no per-step lines")
    solve.add_argument(
        "--routing-mode",
        choices=["winner_take_all", "probabilistic", "ensemble"],
        help="winner_take_all: the router's top specialist; probabilistic: sampled by score; "
        "ensemble: the top --ensemble-k in parallel, best by visible tests",
    )
    solve.add_argument("--ensemble-k", type=int, help="specialists per subtask in ensemble mode")
    add_depth_option(solve)
    add_run_options(solve)
    solve.set_defaults(handler=cmd_solve)

    resume = commands.add_parser("resume", help="continue a run from its last checkpoint")
    resume.add_argument("thread_id", help="the thread to continue (see `hi-moe threads`)")
    add_run_options(resume)
    resume.set_defaults(handler=cmd_resume)

    threads = commands.add_parser("threads", help="list runs with their status")
    threads.add_argument("--json", action="store_true", help="print JSON")
    threads.add_argument(
        "--prune",
        action="store_true",
        help="drop all but the last checkpoint of every finished thread (unfinished ones stay)",
    )
    add_run_options(threads)
    threads.set_defaults(handler=cmd_threads)


def make_context(args: argparse.Namespace, settings: dict | None = None) -> Context:
    """Context from saved settings (resume) or the environment, then the command-line flags."""
    names = ("endpoint", "model", "home", "max_retries", "max_replans", "routing_mode",
             "ensemble_k", "direct_first")  # fmt: skip
    flags = {name: getattr(args, name, None) for name in names}
    overrides = {k: v for k, v in flags.items() if v is not None}
    if settings is not None:
        return context_from_settings({**settings, **overrides})
    return Context(**overrides)


def checkpoint_target(args: argparse.Namespace, context: Context) -> str:
    return args.checkpoint or str(context.home_dir / "checkpoints.sqlite")


def selected_problems(args: argparse.Namespace) -> list[Problem | Project]:
    check_limit(args.limit)
    if args.all:
        return first(load_dataset(args.dataset), args.limit)
    return [get_problem(ref, args.dataset) for ref in args.problem]


def check_new_thread(args: argparse.Namespace, registry: RunRegistry, graph: Graph) -> None:
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
    solving: Solver,
    problem: Problem | Project,
    thread_id: str,
    verbose: bool,
) -> RunResult:
    """Run one problem in its thread, grade it and (when verbose) print it."""
    if verbose:
        console.print(f"[bold]{problem.id}[/] {problem.title}  thread {thread_id}")
    on_step = print_step if verbose and not args.quiet else None
    result, path = solving.solve(problem, thread_id, on_step)
    if verbose:
        print_result(result, str(path))
    return result


def mock_faults(args: argparse.Namespace) -> Faults | None:
    """The fault plan of `--mock-faults RATE --mock-seed N`, if asked for."""
    if args.mock_faults is None:
        return None
    if not args.mock or not 0 <= args.mock_faults <= 1:
        raise UserError("--mock-faults takes a rate from 0 to 1 and needs --mock")
    return Faults(args.mock_faults, args.mock_seed)


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
    faults = mock_faults(args)
    registry = RunRegistry(context.home_dir / "runs.sqlite")
    target = checkpoint_target(args, context)
    mock = problems if args.mock else None
    single = len(problems) == 1
    batch = Batch(args.run_id or new_run_id("solve"))
    with (
        solver(context, target, args.dataset, batch.run_id, mock, args.mock_wrong_tries,
               args.mock_latency, faults) as solving,
        progress_bar(disable=single) as bar,
    ):  # fmt: skip
        check_new_thread(args, registry, solving.graph)
        job = bar.add_task("solving", total=len(problems))

        def work(problem: Problem | Project, thread_id: str) -> RunResult:
            bar.update(job, description=f"solving {problem.id}")
            return solve_one(args, solving, problem, thread_id, single)

        def thread_of(problem: Problem | Project) -> str:
            return args.thread or solving.thread_for(problem.id, new_thread_id(problem.id))

        results = batch.run(problems, thread_of, work, after=lambda _: bar.advance(job))
    if not single:
        print_batch(results)
        summary = context.home_dir / "results" / f"batch-{batch.run_id}.json"
        summary.parent.mkdir(parents=True, exist_ok=True)
        rows = [asdict(r) for r in results] + [asdict(u) for u in batch.unfinished]
        summary.write_text(json.dumps(rows, indent=2))
        console.print(f"batch result {summary}")
    if faults is not None:
        drawn = ", ".join(f"{kind} {count}" for kind, count in sorted(faults.drawn.items()))
        console.print(f"mock faults injected: {drawn or 'none'}", soft_wrap=True)
    return batch.exit_code()


def cmd_resume(args: argparse.Namespace) -> int:
    home = make_context(args).home_dir
    record = RunRegistry(home / "runs.sqlite").get(args.thread_id)
    if record is None:
        raise UserError(f"unknown thread {args.thread_id!r}: `hi-moe threads` lists the runs")
    context = make_context(args, record.settings)
    target = args.checkpoint or record.checkpoint
    problem = get_problem(record.problem_id, record.dataset)
    config: RunnableConfig = {"configurable": {"thread_id": args.thread_id}}
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
        with model_endpoint(
            context, mock, record.mock_wrong_tries, resumed=[args.thread_id]
        ) as live:
            started = time.perf_counter()
            try:
                state = run_thread(graph, args.thread_id, live, None, print_step)
            except EndpointError as exc:
                line = give_up_line(record.problem_id, args.thread_id, str(exc))
                raise EndpointError(line) from exc
            result, path = finish(
                args.thread_id, state, problem, time.perf_counter() - started, live
            )
    RunRegistry(home / "runs.sqlite").finish(args.thread_id, result.status, str(path))
    print_result(result, str(path))
    return 0


def thread_status(graph: Graph, thread_id: str) -> tuple[str, int]:
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
    pruned = 0
    for target, group in by_target.items():
        with open_checkpointer(target) as saver:
            graph = build_graph(saver)
            statuses.update({r.thread_id: thread_status(graph, r.thread_id) for r in group})
            if args.prune:
                finished = [r.thread_id for r in group if statuses[r.thread_id][0] in FINISHED]
                pruned += prune_finished(saver, finished)
    rows: list[dict[str, Any]] = []
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
    if args.prune and not args.json:
        console.print(f"pruned {pruned} intermediate checkpoint(s) of finished threads")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        console.print("no runs yet: try `hi-moe solve --problem 0`")
        return 0
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
