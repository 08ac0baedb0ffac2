"""`hi-moe train-adapter` and `hi-moe adapters build-data|push|list`: specialist LoRA adapters."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path

from hi_moe.adapters.data import write_examples
from hi_moe.adapters.meta import (
    METADATA_FILE,
    AdapterError,
    check_rank,
    read_metadata,
    specialist_adapters,
)
from hi_moe.adapters.training import train_adapter
from hi_moe.app.display import console, progress_bar
from hi_moe.app.training_data import SOURCES, build_examples
from hi_moe.cli.runs import make_context
from hi_moe.errors import UserError
from hi_moe.llm.models import DEFAULT_MODEL, MODELS, model_label

ADAPTERS_DIR = Path("adapters")
VOLUME = "hi-moe-adapters"
"""The Modal Volume modal_app/vllm_server.py mounts at /adapters."""

PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `train-adapter` and `adapters build-data|push|list` to the top-level subcommands."""
    train = commands.add_parser("train-adapter", help="train a specialist's LoRA adapter")
    train.add_argument("specialist", help="specialist name, e.g. python or math")
    train.add_argument("--data", type=Path, required=True, help="chat examples (JSONL)")
    train.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    train.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument(
        "--out", type=Path, help="output directory (default adapters/BASE/SPECIALIST)"
    )
    train.add_argument(
        "--base",
        help=f"base model: {', '.join(MODELS)} (default {DEFAULT_MODEL}), a .gguf file "
        "or a Hugging Face id",
    )
    train.add_argument("--no-gguf", action="store_true", help="skip the llama.cpp GGUF file")
    train.set_defaults(handler=cmd_train_adapter)

    adapters = commands.add_parser("adapters", help="adapter training data, upload, listing")
    actions = adapters.add_subparsers(dest="adapters_command", required=True)
    build = actions.add_parser("build-data", help="write training examples for a specialist")
    build.add_argument("specialist", help="specialist name, e.g. python or math")
    build.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    build.add_argument(
        "--source",
        action="append",
        choices=SOURCES,
        help="reference solutions of the training split; the harness's verified successes; "
        "those that followed a failed attempt, as repairs of it (the failed code and its "
        "feedback in the prompt) (repeatable; default: reference)",
    )
    build.add_argument("--checkpoint", help="checkpoint database for --source harness or repair")
    build.add_argument("--home", help="directory of the default checkpoints (default .hi_moe)")
    build.set_defaults(handler=build_data)

    upload = actions.add_parser("push", help="upload one adapter directory to the Modal Volume")
    upload.add_argument("name", help="specialist: the directory adapters/MODEL/NAME")
    upload.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"its base model (default {DEFAULT_MODEL})"
    )
    upload.add_argument("--dir", type=Path, default=ADAPTERS_DIR, help="adapters root")
    upload.add_argument("--volume", default=VOLUME, help=f"Modal Volume (default {VOLUME})")
    upload.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    upload.set_defaults(handler=push)

    listing = actions.add_parser("list", help="trained adapters, and what each specialist runs")
    listing.add_argument("--dir", type=Path, default=ADAPTERS_DIR, help="adapters root")
    listing.add_argument(
        "--model", help=f"the served model whose specialists to show (default {DEFAULT_MODEL})"
    )
    listing.set_defaults(handler=list_adapters)


def cmd_train_adapter(args: argparse.Namespace) -> int:
    out = args.out or ADAPTERS_DIR / model_label(args.base or "") / args.specialist
    with progress_bar() as bar:
        job = bar.add_task(f"training {args.specialist}", total=args.steps)

        def on_step(step: int, loss: float) -> None:
            bar.update(job, completed=step, description=f"training {args.specialist} {loss:.3f}")

        report = train_adapter(
            args.specialist,
            args.data,
            out,
            rank=args.rank,
            steps=args.steps,
            learning_rate=args.lr,
            seed=args.seed,
            base=args.base,
            write_gguf=not args.no_gguf,
            on_step=on_step,
        )
    console.print(
        f"trained {args.specialist} on {report.examples} examples, {report.steps} steps in "
        f"{report.seconds:.0f} s: loss {report.loss_before:.3f} -> {report.loss_after:.3f}\n"
        f"adapter {report.out_dir}"
    )
    return 0


def build_data(args: argparse.Namespace) -> int:
    context = make_context(args)
    sources = sorted(set(args.source or ["reference"]))
    examples = build_examples(args.specialist, sources, context, args.checkpoint)
    if not examples:
        raise UserError(
            f"no training examples for {args.specialist!r} from {', '.join(sources)}; "
            "nothing written"
        )
    write_examples(examples, args.out)
    problems = len({e.problem_id for e in examples})
    console.print(
        f"wrote {len(examples)} examples ({problems} problems, "
        f"splits {', '.join(sorted({e.split for e in examples}))}) to {args.out}"
    )
    return 0


def push_command(adapter_dir: Path, name: str, volume: str = VOLUME) -> list[str]:
    """The `modal volume put` argv uploading `adapter_dir` as /NAME of the Volume."""
    return ["modal", "volume", "put", "--force", volume, str(adapter_dir), name]


def check_pushable(adapter_dir: Path, environ: dict[str, str] | None = None) -> dict:
    """An adapter the Modal app can serve: PEFT files, its base model, a rank it accepts."""
    missing = [f for f in PEFT_FILES if not (adapter_dir / f).is_file()]
    if not adapter_dir.is_dir() or missing:
        raise AdapterError(
            f"{adapter_dir} is not a PEFT adapter directory (missing {', '.join(missing)}); "
            "train one with hi-moe train-adapter"
        )
    try:
        from modal_app.vllm_server import ServerConfig  # lazy: imports modal (heavy)

        config = ServerConfig.from_env(os.environ if environ is None else environ)
    except ValueError as exc:
        raise UserError(f"Modal app settings: {exc}") from exc
    meta = check_rank(adapter_dir, config.max_lora_rank)
    if config.base_model not in (meta["base_model"], meta.get("base_model_hf")):
        raise AdapterError(
            f"adapter {adapter_dir} was trained for {meta['base_model']!r}, but the Modal app "
            f"serves {config.base_model!r} (HI_MOE_MODAL_BASE_MODEL); train one for it with "
            "`modal run modal_app/train_adapter.py`"
        )
    return meta


def push(args: argparse.Namespace) -> int:
    adapter_dir = args.dir / args.model / args.name
    if not (adapter_dir / METADATA_FILE).is_file():
        raise AdapterError(f"no adapter at {adapter_dir} (train it: hi-moe train-adapter)")
    check_pushable(adapter_dir)
    command = push_command(adapter_dir, args.name, args.volume)
    console.print(" ".join(command))
    if args.dry_run:
        return 0
    if shutil.which("modal") is None:
        raise UserError("the `modal` command is not on PATH: pip install modal, modal setup")
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise UserError(f"modal volume put failed with status {completed.returncode}")
    from modal_app.vllm_server import DEPLOY_HINT  # lazy: imports modal (heavy)

    console.print(f"pushed {args.name}: {DEPLOY_HINT}")
    return 0


def list_adapters(args: argparse.Namespace) -> int:
    found = sorted(p.parent for p in args.dir.glob(f"**/{METADATA_FILE}"))
    if not found:
        console.print(f"no adapters under {args.dir}: make adapters MODEL=... trains them")
    for adapter in found:
        meta = read_metadata(adapter)
        summary = {k: meta.get(k) for k in ("specialist", "base_model", "rank", "steps", "split")}
        summary["problems"] = len(meta["problem_ids"])
        summary["loss"] = f"{meta.get('loss_before')} -> {meta.get('loss_after')}"
        console.print(f"{adapter}: {json.dumps(summary)}")
    context = make_context(args)
    console.print(f"\nspecialists on {model_label(context.model)}:")
    for name, adapter in specialist_adapters(context).items():
        console.print(f"  {name}: {adapter or 'base model (no adapter for this model)'}")
    return 0
