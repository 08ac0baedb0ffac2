"""`hi-moe` utility commands: serve-local, check-model, modal-status, prepare-gsm8k, bench,
problems."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.progress import Progress, TaskID

from evals import bench_suite
from evals.bench_common import Tick
from evals.bench_suite import ALL, SUITES, BenchSettings, Outcome, section
from evals.model_speed import measure, retry_prompt_reuse
from graph.context import Context
from hi_moe.app.display import console, progress_bar
from hi_moe.cli.options import add_dataset_option, add_model_option, parts_list
from hi_moe.cli.runs import make_context
from hi_moe.errors import EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError
from hi_moe.llm.endpoints import MODAL_KEY_ENV, MODAL_URL_ENV, required_models
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.modal_status import check_endpoint, format_status
from hi_moe.problems.datasets import dataset_exclusions, load_dataset
from hi_moe.problems.gsm8k import convert_file
from hi_moe.problems.projects import Project


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add serve-local, check-model, modal-status, prepare-gsm8k, bench and problems."""
    serve = commands.add_parser("serve-local", help="keep the embedded llama.cpp server running")
    serve.add_argument("--port", type=int, default=8765, help="loopback port (default: 8765)")
    add_model_option(serve)
    serve.set_defaults(handler=cmd_serve_local)

    check = commands.add_parser(
        "check-model", help="start the embedded server and generate one token (setup's last step)"
    )
    add_model_option(check)
    check.add_argument(
        "--speed",
        action="store_true",
        help="also measure prompt and generation tokens/s and what a retry evaluates of its prompt",
    )
    check.set_defaults(handler=cmd_check_model)

    modal = commands.add_parser("modal-status", help="check the deployed Modal vLLM endpoint")
    modal.add_argument("--url", help=f"base URL ending in /v1 (default: ${MODAL_URL_ENV})")
    modal.set_defaults(handler=cmd_modal_status)

    gsm8k = commands.add_parser("prepare-gsm8k", help="convert GSM8K JSONL to hi-moe problems")
    gsm8k.add_argument("file", type=Path, help="a GSM8K JSONL file (question and answer)")
    gsm8k.add_argument(
        "--out",
        type=Path,
        default=Path("datasets/gsm8k.jsonl"),
        help="problems file to write (default: datasets/gsm8k.jsonl)",
    )
    gsm8k.set_defaults(handler=cmd_prepare_gsm8k)

    bench = commands.add_parser(
        "bench",
        help="benchmark suites; no suite (or all) runs every one into report.json + report.md",
        description="Benchmark suites. One suite writes OUT/SUITE.json and .md; several (no "
        "suite, or all) also write one report: OUT/report.json and OUT/report.md with a table "
        "per suite and the machine (cores, python, commit, date). Ctrl-C keeps the finished "
        "suites. Suites: " + "; ".join(f"{s.name}: {s.about}" for s in SUITES.values()),
    )
    bench.add_argument("suite", nargs="*", help=f"{', '.join(SUITES)} or {ALL} (the default)")
    bench.add_argument(
        "--skip", action="append", default=[], metavar="SUITE", help="leave a suite out (repeat)"
    )
    bench.add_argument(
        "--fast",
        action="store_true",
        help="leave out the slow suites (model: minutes per problem on 2 CPU cores)",
    )
    bench.add_argument("--runs", type=int, default=30, help="sandbox: validations to time")
    bench.add_argument("--split", default="test", help="routing: dev, test or all")
    bench.add_argument("--k", type=int, default=3, help="ensemble: specialists")
    bench.add_argument(
        "--latency", type=float, help="seconds per fake call (ensemble 0.3, others 0.05)"
    )
    bench.add_argument(
        "--problems", type=int, default=8, help="overhead, throughput: builtin problems"
    )
    bench.add_argument("--limit", type=int, default=5, help="model: HumanEval/0 .. N-1 (default 5)")
    bench.add_argument(
        "--mock", action="store_true", help="model, horizon: the scripted fake model"
    )
    bench.add_argument(
        "--ks",
        type=parts_list,
        default=(1, 2, 4, 8, 16),
        help="horizon: parts per task, e.g. 1,4,16",
    )
    bench.add_argument("--pool", type=int, default=16, help="horizon: HumanEval problems covered")
    bench.add_argument(
        "--run-id",
        default="",
        help="horizon: keep each finished bundle under OUT/horizon-runs/RUN_ID; the same id "
        "resumes a cut run",
    )
    bench.add_argument(
        "--out",
        type=Path,
        default=Path(".hi_moe/bench"),
        help="report directory (default .hi_moe/bench); model keeps its run logs in OUT/model",
    )
    bench.set_defaults(handler=cmd_bench)

    problems = commands.add_parser("problems", help="list the problems of a dataset")
    add_dataset_option(problems)
    problems.set_defaults(handler=cmd_problems)


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
            reuse = retry_prompt_reuse(server, next(iter(server.aliases)))
            console.print(f"a retry (the prompt + feedback), {reuse.line()}")
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
    """One line per problem (multi-part tasks: with their parts and visible tests), then the
    tasks the dataset leaves out, with the reasons."""
    for problem in load_dataset(args.dataset):
        line = f"{problem.id:16} {problem.kind:5} {problem.domain:16} {problem.title}"
        if isinstance(problem, Project):
            examples = sum(len(part.visible_tests) for part in problem.parts)
            line += f"  ({len(problem.parts)} parts, {examples} visible tests)"
        console.print(line, markup=False, soft_wrap=True)
    excluded = dataset_exclusions(args.dataset)
    if excluded:
        console.print(f"\nexcluded ({len(excluded)}):")
        for task_id, reason in excluded.items():
            console.print(f"{task_id:16} {reason}", markup=False, soft_wrap=True)
    return 0


def bench_settings(args: argparse.Namespace) -> BenchSettings:
    return BenchSettings(out=args.out, runs=args.runs, split=args.split, k=args.k,
                         latency_s=args.latency, problems=args.problems, limit=args.limit,
                         mock=args.mock, ks=args.ks, pool=args.pool,
                         run_id=args.run_id)  # fmt: skip


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
