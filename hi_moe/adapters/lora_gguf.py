"""Write a PEFT LoRA of a llama-family model as a GGUF LoRA adapter that llama.cpp loads.

llama.cpp's adapter format: `general.type = adapter`, `adapter.type = lora`,
`adapter.lora.alpha`, and per adapted weight two F32 tensors named after the base tensor,
`blk.N.attn_q.weight.lora_a` (PEFT's lora_A, [rank, in]) and `...lora_b` (lora_B, [out, rank]).
llama.cpp computes `W x + (alpha / rank) * B A x`, like PEFT with `lora_alpha = alpha`.

The GGUF conversion of llama models permutes the rows of the Q and K projections (to the
interleaved rotary layout llama.cpp uses); the product B A must be permuted the same way, which
is done on the rows of B. Qwen2 models keep the Hugging Face layout (no permutation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import gguf
import numpy as np

MODULE_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
PERMUTED_ARCHITECTURES = {"llama", "mistral"}
"""Served by llama.cpp as `llama`, with Q/K rows permuted by its conversion."""
SUPPORTED_ARCHITECTURES = PERMUTED_ARCHITECTURES | {"qwen2"}
PEFT_KEY = re.compile(r"layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$")


def permute_rows(weight: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """Reorder the output rows of a Q or K projection as llama.cpp's GGUF conversion does.

    Within each head the rotary halves [x0..x(d/2-1), y0..] become pairs [x0, y0, x1, y1, ...].
    """
    heads = n_head_kv if n_head_kv is not None and n_head_kv != n_head else n_head
    rows = weight.shape[0]
    if rows % (2 * heads):
        raise ValueError(f"{rows} rows do not split into {heads} heads of rotary pairs")
    grouped = weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
    return grouped.swapaxes(1, 2).reshape(weight.shape)


def gguf_tensor_name(peft_key: str) -> tuple[str, str] | None:
    """(`blk.N.attn_q.weight`, `a` or `b`) for a PEFT state-dict key, None if not a LoRA."""
    match = PEFT_KEY.search(peft_key)
    if match is None or match.group(2) not in MODULE_NAMES:
        return None
    layer, module, which = match.groups()
    return f"blk.{layer}.{MODULE_NAMES[module]}.weight", which.lower()


def lora_tensors(
    state: Mapping[str, np.ndarray], n_head: int, n_head_kv: int, permute: bool = True
) -> dict[str, np.ndarray]:
    """GGUF tensor name -> F32 array, with the Q/K permutation applied to lora_b if asked."""
    tensors: dict[str, np.ndarray] = {}
    for key, value in state.items():
        named = gguf_tensor_name(key)
        if named is None:
            raise ValueError(f"cannot map LoRA weight {key!r} to a llama.cpp tensor")
        base, which = named
        array = np.ascontiguousarray(value, dtype=np.float32)
        if permute and which == "b" and ".attn_q." in base:
            array = permute_rows(array, n_head, n_head)
        elif permute and which == "b" and ".attn_k." in base:
            array = permute_rows(array, n_head, n_head_kv)
        tensors[f"{base}.lora_{which}"] = np.ascontiguousarray(array)
    return tensors


def write_lora_gguf(
    path: Path,
    state: Mapping[str, np.ndarray],
    *,
    architecture: str,
    alpha: float,
    n_head: int,
    n_head_kv: int,
    name: str = "hi-moe adapter",
) -> Path:
    """Write the adapter file; `state` maps PEFT keys (…lora_A.weight) to arrays."""
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"GGUF LoRA export supports {', '.join(sorted(SUPPORTED_ARCHITECTURES))}, "
            f"not {architecture!r}"
        )
    permuted = architecture in PERMUTED_ARCHITECTURES
    tensors = lora_tensors(state, n_head, n_head_kv, permute=permuted)
    writer = gguf.GGUFWriter(str(path), "llama" if permuted else architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("general.name", name)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for tensor_name in sorted(tensors):
        writer.add_tensor(tensor_name, tensors[tensor_name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
