"""`hi-moe` utility commands: serve-local, modal-status, prepare-gsm8k, problems."""

from __future__ import annotations

import argparse
import os

from graph.context import Context
from hi_moe.display import console
from hi_moe.endpoints import MODAL_KEY_ENV, MODAL_URL_ENV
from hi_moe.errors import UserError
from hi_moe.problems import load_dataset


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


def cmd_problems(args: argparse.Namespace) -> int:
    for problem in load_dataset(args.dataset):
        console.print(f"{problem.id:16} {problem.kind:5} {problem.domain:16} {problem.title}")
    return 0
