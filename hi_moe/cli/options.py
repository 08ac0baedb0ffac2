"""Command-line options shared by several `hi-moe` subcommands."""

from __future__ import annotations

import argparse

from hi_moe.llm.models import DEFAULT_MODEL, MODELS
from hi_moe.problems.datasets import DATASET_NAMES


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """`--model`: an embedded model's name or a .gguf path."""
    names = ", ".join(f"{name} (default)" if name == DEFAULT_MODEL else name for name in MODELS)
    parser.add_argument(
        "--model", help=f"embedded model: {names}, or a .gguf path (also HI_MOE_MODEL)"
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """`--endpoint`, `--model`, `--checkpoint` and `--home`: where a run's calls and state go."""
    parser.add_argument(
        "--endpoint", help="local (default), modal, or an OpenAI-compatible base URL"
    )
    add_model_option(parser)
    parser.add_argument(
        "--checkpoint", help="SQLite file or postgresql:// URL (default: HOME/checkpoints.sqlite)"
    )
    parser.add_argument("--home", help="directory for logs and results (default: .hi_moe)")


def add_depth_option(parser: argparse.ArgumentParser) -> None:
    """`--direct-first` (the default) or `--always-plan`: adaptive depth or a plan for all."""
    depth = parser.add_mutually_exclusive_group()
    depth.add_argument(
        "--direct-first",
        dest="direct_first",
        action="store_true",
        default=None,
        help="adaptive depth (the default): the first attempt at each part is one plain "
        "call, without the architect's or dispatcher's calls; a failure escalates",
    )
    depth.add_argument(
        "--always-plan",
        dest="direct_first",
        action="store_false",
        help="every task starts with the architect's plan and the dispatcher's call "
        "(also HI_MOE_DIRECT_FIRST=0)",
    )


def add_dataset_option(parser: argparse.ArgumentParser) -> None:
    """`--dataset`: a dataset's name or a problems file."""
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
