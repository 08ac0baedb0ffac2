"""`hi-moe` evaluation commands: export-training, compare, compare-runs, costs, aggregate, ab-test,
analyze, eval."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

from evals import ab_test, aggregate, analyze, compare, compare_report, compare_runs, costs
from evals.langsmith_eval import render, run_eval
from hi_moe.app.batch import Batch, new_run_id
from hi_moe.app.display import console, print_report, progress_bar
from hi_moe.cli.options import add_dataset_option, add_depth_option, add_run_options
from hi_moe.cli.runs import make_context
from hi_moe.errors import EXIT_INTERRUPTED, UserError
from hi_moe.llm.call_log import CallLog
from hi_moe.llm.pricing import load_prices
from hi_moe.problems.datasets import compared_tasks, single_problems
from hi_moe.routing.training_export import export_routing


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add export-training, compare, compare-runs, costs, aggregate, ab-test, analyze, eval."""
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
    export.set_defaults(handler=cmd_export_training)

    compare_parser = commands.add_parser(
        "compare",
        help="hierarchy vs single-context systems at the same budget: table, JSON, frontier PNG",
    )
    add_dataset_option(compare_parser)
    compare_parser.add_argument(
        "--systems",
        help="comma-separated, from: baseline (one greedy call), incremental and compositional "
        "(classes only: ClassEval's method-by-method generation), best-of-n (samples), retry "
        "(self-debug conversation), hierarchy; best-of-n and retry spend up to the "
        "hierarchy's tokens per problem (default: all that apply to the dataset)",
    )
    compare_parser.add_argument("--limit", type=int, help="only the first N problems")
    compare_parser.add_argument(
        "--skip", type=int, default=0,
        help="start after the first N problems, e.g. to confirm on problems not tuned on "
        "(default: 0)",
    )  # fmt: skip
    compare_parser.add_argument("--concurrency", type=int, default=1, help="problems at a time")
    compare_parser.add_argument("--mock", action="store_true", help="use the scripted fake model")
    compare_parser.add_argument(
        "--run-id", help="reuse a run: finished problems are skipped, unfinished resumed"
    )
    compare_parser.add_argument(
        "--adapters",
        choices=["on", "off"],
        help="on: the fleet's LoRA adapters (refused if trained on an evaluated problem); "
        "off: the same model names without adapters (default: as fleet.toml says)",
    )
    compare_parser.add_argument(
        "--routines", choices=["on", "off"], default="off",
        help="on: the hierarchy keeps the parts it solves in this run as routines and shows "
        "its architect the relevant ones (HI_MOE_ROUTINES_SHOWN, HI_MOE_ROUTINE_MAX_DISTANCE); "
        "off: no system learns across problems (default: off)",
    )  # fmt: skip
    add_depth_option(compare_parser)
    add_run_options(compare_parser)
    compare_parser.set_defaults(handler=cmd_compare)

    runs = commands.add_parser(
        "compare-runs",
        help="two compare runs paired by problem: pass@1 and format errors, with p-values",
    )
    runs.add_argument("runs", nargs=2, metavar="RUN", help="a run id or its rows JSON file")
    runs.add_argument("--home", help="directory holding compare/RUN.json (default: .hi_moe)")
    runs.set_defaults(handler=cmd_compare_runs)

    costs_parser = commands.add_parser(
        "costs", help="tokens and estimated cost per tier, model and thread (table + PNG)"
    )
    costs_parser.add_argument("threads", nargs="*", help="only these threads (default: all)")
    costs_parser.add_argument("--home", help="directory of the call log (default: .hi_moe)")
    costs_parser.set_defaults(handler=cmd_costs)

    aggregate_parser = commands.add_parser(
        "aggregate", help="merge result files of several runs: means and spread"
    )
    aggregate_parser.add_argument("files", nargs="+", type=Path, help="batch or result JSON files")
    aggregate_parser.set_defaults(handler=cmd_aggregate)

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
    ab.set_defaults(handler=cmd_ab_test)

    analyze_parser = commands.add_parser("analyze", help="cluster the failures of result files")
    analyze_parser.add_argument("files", nargs="+", type=Path, help="batch or result JSON files")
    analyze_parser.set_defaults(handler=cmd_analyze)

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
    evaluate.set_defaults(handler=cmd_eval)


def cmd_export_training(args: argparse.Namespace) -> int:
    context = make_context(args)
    summary = export_routing(context.routing_log_path, args.out, args.validation_fraction)
    console.print(
        f"wrote {summary.train} train and {summary.validation} validation routing examples "
        f"to {args.out} ({summary.skipped} decisions without a known outcome skipped)"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    context = make_context(args)
    problems, left_out = compared_tasks(args.dataset, args.limit, args.skip)
    systems = compare.parse_systems(args.systems, problems)
    if left_out:
        console.print(
            f"left out {len(left_out)} tasks whose new statement repeats the base function's "
            f"signature (the function the hidden test calls is named in no statement): "
            f"{', '.join(left_out)}"
        )
    tag = Path(args.dataset).stem if args.dataset.endswith((".json", ".jsonl")) else args.dataset
    tag = tag.replace("/", "-") + (f"-adapters-{args.adapters}" if args.adapters else "")
    run_id = args.run_id or f"compare-{tag}-{int(time.time())}"
    out_dir = context.home_dir / "compare"
    routines = args.routines == "on"
    run = compare.run_description(systems, context, args.dataset, args.mock, routines)
    store = compare.RowStore(out_dir / f"{run_id}.json", run)
    skipped = len(store.done() & {p.id for p in problems})
    if skipped:
        console.print(f"{skipped} problems already done in {run_id}; skipping them")
    batch = Batch(run_id)
    with progress_bar() as bar:
        job = bar.add_task(f"compare {args.dataset}", total=len(problems), completed=skipped)
        try:
            summaries = compare.run_compare(
                problems, context, store, batch, args.dataset, args.concurrency, args.mock,
                on_problem=lambda _: bar.advance(job), adapters=args.adapters,
                routines=routines,
            )  # fmt: skip
        except KeyboardInterrupt:
            console.print(f"\ninterrupted; finished problems are kept: --run-id {run_id}")
            return EXIT_INTERRUPTED
    if summaries:
        print_report(compare_report.render(summaries))
        after = f" after the first {args.skip}" if args.skip else ""
        title = f"{args.dataset}, {summaries[0].problems} problems{after}, {run['model']}"
        console.print(f"chart {compare_report.chart(summaries, out_dir / f'{run_id}.png', title)}")
    held_out = compare.held_out_summaries(store, args.dataset)
    if held_out:
        classes = held_out[0].problems
        console.print(f"held out (ClassEval_40..59, never tuned on): {classes} classes")
        print_report(compare_report.render(held_out))
    console.print(f"rows {store.path}")
    return batch.exit_code()


def cmd_compare_runs(args: argparse.Namespace) -> int:
    home = make_context(args).home_dir
    path_a, path_b = (compare_runs.run_path(run, home) for run in args.runs)
    paired = compare_runs.compare_runs(path_a, path_b)
    print_report(compare_runs.render(paired, (path_a.stem, path_b.stem)))
    return 0


def cmd_costs(args: argparse.Namespace) -> int:
    context = make_context(args)
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
    print_report(costs.render("tier", by_tier))
    print_report(costs.render("model", costs.group(calls, lambda c: c.model, prices)))
    print_report(costs.render("thread", costs.group(calls, lambda c: c.thread_id or "-", prices)))
    console.print(f"chart {costs.chart(by_tier, context.home_dir / 'costs.png')}")
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    print_report(aggregate.render([aggregate.run_stats(path) for path in args.files]))
    return 0


def cmd_ab_test(args: argparse.Namespace) -> int:
    variants = [ab_test.parse_variant(v) for v in args.variant]
    if len(variants) != 2 or variants[0].name == variants[1].name:
        raise UserError("give exactly two --variant NAME=prompt.md with different names")
    context = make_context(args)
    problems = single_problems(args.dataset, "ab-test", args.limit)
    batch = Batch(args.run_id or new_run_id(f"ab-{args.tier}"))
    outcomes = []
    with progress_bar() as bar:
        for variant in variants:
            job = bar.add_task(f"variant {variant.name}", total=len(problems))
            outcomes.append(
                ab_test.run_variant(problems, context, args.tier, variant, args.mock, batch,
                                    args.dataset, partial(bar.advance, job))
            )  # fmt: skip
    names = (variants[0].name, variants[1].name)
    paired = [p.id for p in problems if p.id in outcomes[0] and p.id in outcomes[1]]
    data: dict = {"run_id": batch.run_id, "unfinished": [asdict(u) for u in batch.unfinished]}
    if paired:
        a, b = ([outcome[p] for p in paired] for outcome in outcomes)
        report = ab_test.compare_outcomes(args.tier, names, a, b)
        print_report(ab_test.render(report))
        data.update(asdict(report))
    path = context.home_dir / "ab" / f"{args.tier}-{names[0]}-vs-{names[1]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    console.print(f"report {path}")
    return batch.exit_code()


def cmd_analyze(args: argparse.Namespace) -> int:
    print_report(analyze.render(*analyze.analyze(args.files)))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    context = make_context(args)
    batch = Batch(args.run_id or new_run_id("eval"))
    summary = run_eval(args.dataset, context.home_dir, args.mock, args.limit, batch)
    print_report(render(summary))
    path = context.home_dir / "eval" / f"{batch.run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(summary), indent=2))
    console.print(f"rows {path}")
    return batch.exit_code()
