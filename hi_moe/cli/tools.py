"""`hi-moe` utility commands: serve-local, modal-status, prepare-gsm8k, problems, bench."""

from __future__ import annotations

import argparse
import os
import time

from rich.progress import Progress, TaskID

from evals import bench_suite
from evals.bench_common import Tick
from evals.bench_suite import BenchSettings, Outcome, section
from evals.model_speed import measure
from graph.context import Context
from hi_moe.app.display import console, progress_bar
from hi_moe.cli.runs import make_context
from hi_moe.errors import EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError
from hi_moe.llm.endpoints import MODAL_KEY_ENV, MODAL_URL_ENV, required_models
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.modal_status import check_endpoint, format_status
from hi_moe.problems.datasets import load_dataset
from hi_moe.problems.gsm8k import convert_file


def cmd_serve_local(args: argparse.Namespace) -> int:
    context = make_context(args)
    with LocalServer.for_context(context, port=args.port) as server:
        console.print(
            f"embedded model served at [bold]{server.base_url}[/] "
            f"({len(server.aliases)} model names). Use it with\n"
            f"  HI_MOE_BASE_URL={server.base_url} hi-moe solve ... or langgraph dev\n"
            "Ctrl-C stops it."
        )
        server.wait()
    return 0


def cmd_check_model(args: argparse.Namespace) -> int:
    """Fetch or assemble the model if needed, serve it and generate one token."""
    context = make_context(args)
    start = time.perf_counter()
    with LocalServer.for_context(context) as server:
        token = server.generate_one_token()
        console.print(
            f"model {server.gguf.name} runs here: one token ({token!r}) in "
            f"{time.perf_counter() - start:.1f} s, start-up included"
        )
        if args.speed:
            speed = measure(server.base_url, next(iter(server.aliases)))
            console.print(
                f"prompt {speed.prompt_tokens_per_s} tokens/s ({speed.prompt_tokens} tokens), "
                f"generation {speed.generated_tokens_per_s} tokens/s "
                f"({speed.generated_tokens} tokens)"
            )
    return 0


def cmd_modal_status(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get(MODAL_URL_ENV)
    if not url:
        raise UserError(
            f"no Modal URL: pass --url or set {MODAL_URL_ENV} "
            "(deploy first: modal deploy modal_app/vllm_server.py)"
        )
    required = required_models(Context())
    status = check_endpoint(url, os.environ.get(MODAL_KEY_ENV))
    console.print(format_status(status, required))
    return 0 if status.reachable and not status.missing(required) else 1


def cmd_prepare_gsm8k(args: argparse.Namespace) -> int:
    count = convert_file(args.file, args.out)
    console.print(f"wrote {count} problems to {args.out}; solve them with --dataset {args.out}")
    return 0


def cmd_problems(args: argparse.Namespace) -> int:
    for problem in load_dataset(args.dataset):
        console.print(f"{problem.id:16} {problem.kind:5} {problem.domain:16} {problem.title}")
    return 0


def bench_settings(args: argparse.Namespace) -> BenchSettings:
    return BenchSettings(out=args.out, runs=args.runs, split=args.split, k=args.k,
                         latency_s=args.latency, problems=args.problems, limit=args.limit,
                         mock=args.mock, ks=args.ks, pool=args.pool)  # fmt: skip


class BenchProgress:
    """A bar for the running suite; each finished suite's Markdown is printed above the bars."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def meter(self, name: str) -> Tick:
        task = self.task = self.bar.add_task(f"bench {name}", total=None)
        return lambda done, total: self.bar.update(task, completed=done, total=total)

    def show(self, outcome: Outcome) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.bar.console.print(section(outcome) + "\n", markup=False, soft_wrap=True)


def bench_exit_code(outcomes: list[Outcome]) -> int:
    """130 after Ctrl-C, 2 if a suite failed on bad input or setup, 1 if one crashed or left
    problems unfinished (the endpoint gave up on them), else 0."""
    if any(o.status == "interrupted" for o in outcomes):
        return EXIT_INTERRUPTED
    failed = [o for o in outcomes if o.status == "failed"]
    if any(o.user_error for o in failed):
        return EXIT_USER_ERROR
    return EXIT_INCOMPLETE if failed or any(o.status == "incomplete" for o in outcomes) else 0


def cmd_bench(args: argparse.Namespace) -> int:
    names = bench_suite.select_suites(args.suite, args.skip, args.fast)
    settings = bench_settings(args)
    machine = bench_suite.machine_info()
    with progress_bar() as bar:
        shown = BenchProgress(bar)
        outcomes = bench_suite.run_suites(names, settings, shown.meter, shown.show)
    written = [bench_suite.write_suite(o, settings.out) for o in outcomes if o.result.data]
    if len(names) > 1:
        path = bench_suite.write_report(outcomes, names, settings, machine)
        console.print(f"report {path} and {path.with_suffix('.json')} (each suite: SUITE.json)")
    elif written:
        console.print(f"report {written[0]} and {written[0].with_suffix('.json')}")
    code = bench_exit_code(outcomes)
    if code == EXIT_INTERRUPTED:
        console.print("interrupted; the suites (and model problems) that finished are kept")
    return code
