"""The `hi-moe` command line: the top-level parser, dispatch and clear errors for user mistakes."""

from __future__ import annotations

import argparse
import logging
import sys

from hi_moe.app.display import console
from hi_moe.cli import adapters, evals, runs, tools
from hi_moe.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; each command module registers its own subcommands on it."""
    parser = argparse.ArgumentParser(
        prog="hi-moe",
        description="A hierarchy of LoRA experts solving coding and math problems "
        "as a checkpointed LangGraph state machine.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log warnings and details")
    commands = parser.add_subparsers(dest="command", required=True)
    runs.register(commands)
    tools.register(commands)
    evals.register(commands)
    adapters.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except UserError as exc:
        console.print(f"[red]error:[/] {exc}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        console.print("\ninterrupted; finished results are kept. `hi-moe threads` lists runs.")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
