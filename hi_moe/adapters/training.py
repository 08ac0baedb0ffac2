"""Train a specialist's LoRA adapter (PEFT) on chat examples; seeded and reproducible.

Locally the base is the embedded SmolLM2 GGUF, loaded by transformers (dequantized to F32) and
trained on the CPU; on Modal the same function trains a Hugging Face base model on a GPU.
The output directory holds:
- `adapter_config.json` + `adapter_model.safetensors`: the PEFT adapter (vLLM --lora-modules);
- `adapter.gguf`: the same adapter for llama.cpp's `lora_path` (llama-family bases);
- `metadata.json`: base model, rank, steps, data hash, examples per source, training split(s)
  and problem ids.
Everything is written to a temporary directory that replaces `out_dir` only when complete.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hi_moe.adapters import lora_gguf
from hi_moe.adapters.base_model import Base, Encoder, load_base, resolve_base, text_encoder
from hi_moe.adapters.data import DataError, Example, read_examples
from hi_moe.adapters.meta import GGUF_FILE, METADATA_FILE, file_sha256
from hi_moe.errors import UserError
from hi_moe.problems.splits import evaluation_ids

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
EVAL_EXAMPLES = 4
"""Loss before/after is the mean over the first N examples of the data (a fixed set)."""
CPU_THREADS = 1
"""One thread: bit-for-bit reproducible, and on a shared 2-core machine several times faster
than two threads fighting other processes (measured: 5 s vs 35 s per step under load)."""

StepCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class TrainingReport:
    out_dir: Path
    examples: int
    steps: int
    loss_before: float
    loss_after: float
    seconds: float


CHATML = "<|im_start|>{role}\n{content}<|im_end|>\n"


def chat_text(tokenizer, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    """The chat template llama.cpp applies too (the GGUF's own), ChatML when it has none."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    text = "".join(CHATML.format(**m) for m in messages)
    return text + ("<|im_start|>assistant\n" if generation_prompt else "")


def encode(
    tokenizer, tokens: Encoder, example: Example, max_tokens: int
) -> tuple[list[int], list[int]] | None:
    """(input ids, labels): labels are -100 on the prompt, so loss is on the answer only.

    None for an example longer than `max_tokens` (a cut answer would teach cut answers)."""
    prompt = chat_text(tokenizer, example.messages[:-1], generation_prompt=True)
    full = chat_text(tokenizer, example.messages, generation_prompt=False)
    if not full.startswith(prompt):
        raise DataError(f"{example.problem_id}: the chat template does not extend the prompt")
    prompt_ids, answer_ids = tokens(prompt), tokens(full[len(prompt) :])
    if not answer_ids or len(prompt_ids) + len(answer_ids) > max_tokens:
        return None
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def mean_loss(model, batches: list[tuple[list[int], list[int]]], device: str) -> float:
    """Mean answer-token loss over `batches`, without gradients."""
    import torch  # lazy: heavy, training only

    model.eval()
    with torch.no_grad():
        losses = [step_loss(model, ids, labels, device).item() for ids, labels in batches]
    model.train()
    return sum(losses) / len(losses)


def step_loss(model, ids: list[int], labels: list[int], device: str):
    import torch  # lazy: heavy, training only

    out = model(
        input_ids=torch.tensor([ids], device=device), labels=torch.tensor([labels], device=device)
    )
    return out.loss


def check_training_data(examples: list[Example]) -> None:
    """Refuse examples of evaluation problems: splits are disjoint by construction."""
    leaked = sorted({e.problem_id for e in examples} & evaluation_ids())
    if leaked:
        raise DataError(
            f"the data holds {len(leaked)} evaluation problem(s) ({', '.join(leaked[:5])}); "
            "adapters never train on evaluation problems (see hi_moe/problems/splits.py)"
        )


def replace_dir(new: Path, target: Path) -> None:
    """Move a finished directory into place, replacing any previous one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def metadata(
    specialist: str,
    base: Base,
    examples: list[Example],
    data_path: Path,
    settings: dict,
    report: dict,
) -> dict:
    splits = sorted({e.split for e in examples})
    return {
        "specialist": specialist,
        "base_model": base.name,
        "base_model_sha256": base.sha256,
        "base_model_hf": base.hf_id,
        **settings,
        "data_file": str(data_path),
        "data_sha256": file_sha256(data_path),
        "examples": len(examples),
        "sources": dict(sorted(Counter(e.source for e in examples).items())),
        "split": "+".join(splits),
        "splits": splits,
        "problem_ids": sorted({e.problem_id for e in examples}),
        **report,
        "files": {"peft": "adapter_model.safetensors", "gguf": GGUF_FILE},
    }


def optimize(
    model,
    encoded: list[tuple[list[int], list[int]]],
    steps: int,
    learning_rate: float,
    seed: int,
    device: str,
    on_step: StepCallback | None = None,
) -> None:
    """AdamW on the LoRA weights, one example per step in a seeded order, short warm-up and
    linear decay to a tenth of the learning rate."""
    import torch  # lazy: heavy, training only

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 5) * (1 - 0.9 * step / steps)
    )
    order: list[int] = []
    order_rng = random.Random(seed)
    model.train()
    for step in range(steps):
        if not order:
            order = list(range(len(encoded)))
            order_rng.shuffle(order)
        ids, labels = encoded[order.pop()]
        loss = step_loss(model, ids, labels, device)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if on_step is not None:
            on_step(step + 1, loss.item())


def write_adapter(
    tmp: Path, model, specialist: str, alpha: float, base_name: str, write_gguf: bool
) -> None:
    """The PEFT files and (for llama-family bases) the GGUF LoRA into `tmp`."""
    from peft import get_peft_model_state_dict  # lazy: heavy, training only

    # No embedding layers are adapted; saying so keeps PEFT from looking the base up online.
    model.save_pretrained(str(tmp), save_embedding_layers=False)
    (tmp / "README.md").unlink(missing_ok=True)
    config_path = tmp / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_name
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    if not write_gguf:
        return
    state = {
        key: value.detach().float().cpu().numpy()
        for key, value in get_peft_model_state_dict(model).items()
    }
    lora_gguf.write_lora_gguf(
        tmp / GGUF_FILE,
        state,
        architecture=model.config.model_type,
        alpha=alpha,
        n_head=model.config.num_attention_heads,
        n_head_kv=model.config.num_key_value_heads,
        name=f"hi-moe {specialist} adapter",
    )


def train_adapter(
    specialist: str,
    data_path: Path,
    out_dir: Path,
    rank: int = 8,
    steps: int = 60,
    *,
    alpha: float | None = None,
    learning_rate: float = 1e-3,
    seed: int = 0,
    max_tokens: int = 512,
    base: str | None = None,
    write_gguf: bool = True,
    device: str | None = None,
    on_step: StepCallback | None = None,
) -> TrainingReport:
    """Train a LoRA for `specialist` on its examples in `data_path`; write `out_dir`."""
    if rank < 1 or steps < 1 or learning_rate <= 0 or max_tokens < 16:
        raise UserError("--rank and --steps must be >= 1, the learning rate > 0")
    examples = read_examples(data_path, specialist)
    check_training_data(examples)
    resolved = resolve_base(base)

    import torch  # lazy: heavy, training only
    from peft import LoraConfig, get_peft_model  # lazy: heavy, training only

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(CPU_THREADS)
    try:
        started = time.perf_counter()
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        model, tokenizer = load_base(resolved, device)
        tokens = text_encoder(resolved, tokenizer)
        encoded = [e for e in (encode(tokenizer, tokens, x, max_tokens) for x in examples) if e]
        if not encoded:
            raise DataError(f"{data_path}: no example fits in {max_tokens} tokens")
        alpha = float(alpha if alpha is not None else 2 * rank)
        config = LoraConfig(
            r=rank,
            lora_alpha=alpha,  # type: ignore[arg-type]  # peft says int; a float works (alpha / r)
            lora_dropout=0.0,
            target_modules=list(TARGET_MODULES),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, config)
        loss_before = mean_loss(model, encoded[:EVAL_EXAMPLES], device)
        optimize(model, encoded, steps, learning_rate, seed, device, on_step)
        loss_after = mean_loss(model, encoded[:EVAL_EXAMPLES], device)
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)

    settings = {
        "rank": rank,
        "alpha": alpha,
        "steps": steps,
        "learning_rate": learning_rate,
        "seed": seed,
        "max_tokens": max_tokens,
        "target_modules": list(TARGET_MODULES),
    }
    report = {
        "loss_before": round(loss_before, 4),
        "loss_after": round(loss_after, 4),
        "train_seconds": round(seconds, 1),
        "trained_examples": len(encoded),
    }
    meta = metadata(specialist, resolved, examples, data_path, settings, report)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)
        write_adapter(tmp, model, specialist, alpha, resolved.hf_id or resolved.name, write_gguf)
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return TrainingReport(out_dir, len(encoded), steps, loss_before, loss_after, seconds)
