"""The `hi-moe` command line: the parser, the command table and clear errors for user mistakes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from evals.bench_suite import ALL, SUITES
from evals.compare import SYSTEMS
from hi_moe.app.display import console
from hi_moe.cli.adapters import add_adapter_commands, cmd_adapters, cmd_train_adapter
from hi_moe.cli.evals import (
    cmd_ab_test,
    cmd_aggregate,
    cmd_analyze,
    cmd_compare,
    cmd_compare_runs,
    cmd_costs,
    cmd_eval,
    cmd_export_training,
)
from hi_moe.cli.runs import cmd_resume, cmd_solve, cmd_threads
from hi_moe.cli.tools import (
    cmd_bench,
    cmd_check_model,
    cmd_modal_status,
    cmd_prepare_gsm8k,
    cmd_problems,
    cmd_serve_local,
)
from hi_moe.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError
from hi_moe.llm.endpoints import MODAL_URL_ENV
from hi_moe.llm.models import DEFAULT_MODEL, MODELS
from hi_moe.problems.datasets import DATASET_NAMES


def add_model_option(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(f"{name} (default)" if name == DEFAULT_MODEL else name for name in MODELS)
    parser.add_argument(
        "--model", help=f"embedded model: {names}, or a .gguf path (also HI_MOE_MODEL)"
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", help="local (default), modal, or an OpenAI-compatible base URL"
    )
    add_model_option(parser)
    parser.add_argument(
        "--checkpoint", help="SQLite file or postgresql:// URL (default: HOME/checkpoints.sqlite)"
    )
    parser.add_argument("--home", help="directory for logs and results (default: .hi_moe)")


def add_depth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--direct-first",
        action="store_true",
        default=None,
        help="adaptive depth: a single-part task's first attempt skips the architect's and "
        "dispatcher's calls; a failure escalates (also HI_MOE_DIRECT_FIRST=1)",
    )


def add_dataset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        default="builtin",
        help=f"{', '.join(DATASET_NAMES)}, a .jsonl file of problems or a MBPP Pro format "
        ".json file (default: builtin)",
    )


def parts_list(text: str) -> tuple[int, ...]:
    """`--ks 1,4,16` as a tuple of ints."""
    try:
        return tuple(int(item) for item in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from exc


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

    resume = commands.add_parser("resume", help="continue a run from its last checkpoint")
    resume.add_argument("thread_id", help="the thread to continue (see `hi-moe threads`)")
    add_run_options(resume)

    threads = commands.add_parser("threads", help="list runs with their status")
    threads.add_argument("--json", action="store_true", help="print JSON")
    threads.add_argument(
        "--prune",
        action="store_true",
        help="drop all but the last checkpoint of every finished thread (unfinished ones stay)",
    )
    add_run_options(threads)

    serve = commands.add_parser("serve-local", help="keep the embedded llama.cpp server running")
    serve.add_argument("--port", type=int, default=8765, help="loopback port (default: 8765)")
    add_model_option(serve)
    check = commands.add_parser(
        "check-model", help="start the embedded server and generate one token (setup's last step)"
    )
    add_model_option(check)
    check.add_argument(
        "--speed", action="store_true", help="also measure prompt and generation tokens/s"
    )

    modal = commands.add_parser("modal-status", help="check the deployed Modal vLLM endpoint")
    modal.add_argument("--url", help=f"base URL ending in /v1 (default: ${MODAL_URL_ENV})")

    gsm8k = commands.add_parser("prepare-gsm8k", help="convert GSM8K JSONL to hi-moe problems")
    gsm8k.add_argument("file", type=Path, help="a GSM8K JSONL file (question and answer)")
    gsm8k.add_argument(
        "--out",
        type=Path,
        default=Path("datasets/gsm8k.jsonl"),
        help="problems file to write (default: datasets/gsm8k.jsonl)",
    )

    export = commands.add_parser(
        "export-training", help="write settled routing decisions as train/validation JSONL"
    )
    export.add_argument(
        "--out", type=Path, default=Path("training"), help="directory to write (default: training)"
    )
    export.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="share of examples held out for validation (default: 0.2)",
    )
    export.add_argument("--home", help="directory of the routing log (default: .hi_moe)")

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
        "--out",
        type=Path,
        default=Path(".hi_moe/bench"),
        help="report directory (default .hi_moe/bench); model keeps its run logs in OUT/model",
    )

    compare = commands.add_parser(
        "compare",
        help="hierarchy vs single-context systems at the same budget: table, JSON, frontier PNG",
    )
    add_dataset_option(compare)
    compare.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help="comma-separated, from: baseline (one greedy call), best-of-n (samples), retry "
        "(self-debug conversation), hierarchy; best-of-n and retry spend up to the "
        "hierarchy's tokens per problem (default: all)",
    )
    compare.add_argument("--limit", type=int, help="only the first N problems")
    compare.add_argument("--concurrency", type=int, default=1, help="problems at a time")
    compare.add_argument("--mock", action="store_true", help="use the scripted fake model")
    compare.add_argument(
        "--run-id", help="reuse a run: finished problems are skipped, unfinished resumed"
    )
    compare.add_argument(
        "--adapters",
        choices=["on", "off"],
        help="on: the fleet's LoRA adapters (refused if trained on an evaluated problem); "
        "off: the same model names without adapters (default: as fleet.toml says)",
    )
    add_depth_option(compare)
    add_run_options(compare)

    runs = commands.add_parser(
        "compare-runs",
        help="two compare runs paired by problem: pass@1 and format errors, with p-values",
    )
    runs.add_argument("runs", nargs=2, metavar="RUN", help="a run id or its rows JSON file")
    runs.add_argument("--home", help="directory holding compare/RUN.json (default: .hi_moe)")

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
    ab.add_argument("--tier", required=True, help="the tier whose prompt the variants replace",
                    choices=["architect", "dispatcher", "specialist", "monitor"])  # fmt: skip
    ab.add_argument("--variant", action="append", required=True, help="NAME=prompt.md (twice)")
    add_dataset_option(ab)
    ab.add_argument("--limit", type=int, help="only the first N problems")
    ab.add_argument("--mock", action="store_true", help="use the scripted fake model")
    ab.add_argument("--run-id", help="reuse a run: finished problems are kept, unfinished resumed")
    add_run_options(ab)

    analyze = commands.add_parser("analyze", help="cluster the failures of result files")
    analyze.add_argument("files", nargs="+", type=Path, help="batch or result JSON files")

    evaluate = commands.add_parser(
        "eval", help="the hierarchy as a LangSmith evaluation (offline without an API key)"
    )
    add_dataset_option(evaluate)
    evaluate.add_argument("--limit", type=int, help="only the first N problems")
    evaluate.add_argument("--mock", action="store_true", help="use the scripted fake model")
    evaluate.add_argument(
        "--run-id", help="reuse a run: finished problems are kept, unfinished resumed"
    )
    evaluate.add_argument("--home", help="directory for logs and results (default: .hi_moe)")

    problems = commands.add_parser("problems", help="list the problems of a dataset")
    add_dataset_option(problems)
    add_adapter_commands(commands)
    return parser


COMMANDS = {
    "solve": cmd_solve,
    "resume": cmd_resume,
    "threads": cmd_threads,
    "serve-local": cmd_serve_local,
    "check-model": cmd_check_model,
    "modal-status": cmd_modal_status,
    "prepare-gsm8k": cmd_prepare_gsm8k,
    "problems": cmd_problems,
    "compare": cmd_compare,
    "costs": cmd_costs,
    "aggregate": cmd_aggregate,
    "compare-runs": cmd_compare_runs,
    "ab-test": cmd_ab_test,
    "analyze": cmd_analyze,
    "eval": cmd_eval,
    "export-training": cmd_export_training,
    "bench": cmd_bench,
    "train-adapter": cmd_train_adapter,
    "adapters": cmd_adapters,
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
