"""Adapter training and the GGUF LoRA: permutation, files, reproducibility, and llama.cpp
loading the trained adapters of adapters/smollm2-135m/ (built by `make test`). The real-model
tests run on SmolLM2-135M, the smallest model: the machinery is the same for every base."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest

from graph.context import Context
from hi_moe.adapters import lora_gguf
from hi_moe.adapters import training as adapter_training
from hi_moe.adapters.base_model import Base
from hi_moe.adapters.data import DataError, Example, write_examples
from hi_moe.adapters.meta import file_sha256
from hi_moe.app.training_data import reference_examples
from hi_moe.problems.splits import evaluation_ids

REPO = Path(__file__).resolve().parent.parent
SMALL = "smollm2-135m"
ADAPTERS = {name: REPO / "adapters" / SMALL / name for name in ("python", "math")}
PROMPT = (
    "<|im_start|>system\nYou are the math specialist, an expert Python programmer.<|im_end|>\n"
    "<|im_start|>user\nWrite a short Python program that computes the answer and prints only "
    "the number.\n\nA farmer has 12 rows of 7 trees. How many trees are there?<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def test_permute_rows_interleaves_the_rotary_halves_of_each_head():
    heads, head_dim = 3, 4
    weight = np.arange(heads * head_dim * 2, dtype=np.float32).reshape(heads * head_dim, 2)
    permuted = lora_gguf.permute_rows(weight, heads)
    for head in range(heads):
        start, half = head * head_dim, head_dim // 2
        for i in range(half):
            assert (permuted[start + 2 * i] == weight[start + i]).all()
            assert (permuted[start + 2 * i + 1] == weight[start + half + i]).all()
    # K of a grouped-query model permutes with the number of KV heads.
    assert (lora_gguf.permute_rows(weight, 6, 3) == permuted).all()


def test_peft_keys_map_to_llama_cpp_tensor_names():
    key = "base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight"
    assert lora_gguf.gguf_tensor_name(key) == ("blk.7.attn_q.weight", "a")
    key = "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"
    assert lora_gguf.gguf_tensor_name(key) == ("blk.0.ffn_down.weight", "b")
    assert lora_gguf.gguf_tensor_name("base_model.model.lm_head.weight") is None


def tiny_llama():
    """A 2-layer random llama (4 heads, 2 KV heads) and a byte 'tokenizer': trains in ms."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    return LlamaForCausalLM(config)


@pytest.fixture
def tiny_base(monkeypatch):
    """Train against the tiny llama instead of SmolLM2 (same code path otherwise)."""
    monkeypatch.setattr(adapter_training, "resolve_base", lambda base: Base("tiny", "tiny-llama"))
    monkeypatch.setattr(
        adapter_training,
        "load_base",
        lambda base, device: (tiny_llama(), types.SimpleNamespace(chat_template=None)),
    )
    monkeypatch.setattr(
        adapter_training, "text_encoder", lambda base, tok: lambda text: list(text.encode())
    )


@pytest.fixture
def math_data(tmp_path) -> Path:
    return write_examples(reference_examples("math", Context())[:10], tmp_path / "math.jsonl")


def test_training_writes_peft_gguf_and_metadata_reproducibly(tiny_base, math_data, tmp_path):
    def train(out: str, seed: int = 0):
        return adapter_training.train_adapter(
            "math", math_data, tmp_path / out, rank=4, steps=3, seed=seed, max_tokens=1024
        )

    first, again, other = train("a"), train("b"), train("c", seed=1)
    weights = [(r.out_dir / "adapter_model.safetensors").read_bytes() for r in (first, again)]
    assert weights[0] == weights[1]
    assert (first.out_dir / "adapter.gguf").read_bytes() == (
        again.out_dir / "adapter.gguf"
    ).read_bytes()
    assert (other.out_dir / "adapter_model.safetensors").read_bytes() != weights[0]
    assert sorted(p.name for p in first.out_dir.iterdir()) == [
        "adapter.gguf",
        "adapter_config.json",
        "adapter_model.safetensors",
        "metadata.json",
    ]
    meta = json.loads((first.out_dir / "metadata.json").read_text())
    assert meta["specialist"] == "math" and meta["base_model"] == "tiny-llama"
    assert meta["rank"] == 4 and meta["steps"] == 3 and meta["split"] == "mathgen-train"
    assert meta["data_sha256"] == file_sha256(math_data)
    assert meta["problem_ids"] == sorted(f"mathgen/{n}" for n in range(10))
    assert meta["examples"] == 10 and meta["sources"] == {"reference": 10}
    assert meta["loss_after"] < meta["loss_before"]
    config = json.loads((first.out_dir / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["base_model_name_or_path"] == "tiny-llama"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_gguf_file_is_a_llama_cpp_lora_adapter(tiny_base, math_data, tmp_path):
    import gguf

    report = adapter_training.train_adapter(
        "math", math_data, tmp_path / "a", rank=4, steps=1, max_tokens=1024
    )
    reader = gguf.GGUFReader(report.out_dir / "adapter.gguf")

    def text(key: str) -> str:
        field = reader.fields[key]
        return bytes(field.parts[field.data[0]]).decode()

    assert text("general.architecture") == "llama" and text("general.type") == "adapter"
    assert text("adapter.type") == "lora"
    assert float(reader.fields["adapter.lora.alpha"].parts[-1][0]) == 8.0
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    # GGUF lists dims innermost first: lora_a is [in, rank], lora_b is [rank, out].
    assert shapes["blk.0.attn_q.weight.lora_a"] == (32, 4)
    assert shapes["blk.0.attn_k.weight.lora_b"] == (4, 16)
    assert shapes["blk.1.ffn_down.weight.lora_a"] == (64, 4)
    assert len(shapes) == 2 * 2 * 7


def test_a_failed_write_leaves_nothing_half_written(tiny_base, math_data, tmp_path, monkeypatch):
    out = tmp_path / "adapters" / "math"
    out.mkdir(parents=True)
    (out / "metadata.json").write_text('{"previous": true}')

    def broken(path, *args, **kwargs):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(lora_gguf, "write_lora_gguf", broken)
    with pytest.raises(OSError, match="disk full"):
        adapter_training.train_adapter("math", math_data, out, rank=4, steps=1, max_tokens=1024)
    assert (out / "metadata.json").read_text() == '{"previous": true}'
    assert [p.name for p in out.parent.iterdir()] == ["math"]


def test_training_refuses_evaluation_problems_and_bad_settings(math_data, tmp_path):
    examples = reference_examples("math", Context())[:10]
    leaked = [Example("math", "math/3", "x", "reference", examples[0].messages), *examples]
    path = write_examples(leaked, tmp_path / "leaked.jsonl")
    with pytest.raises(DataError, match="1 evaluation problem"):
        adapter_training.train_adapter("math", path, tmp_path / "out")
    with pytest.raises(adapter_training.UserError, match="--rank"):
        adapter_training.train_adapter("math", math_data, tmp_path / "out", rank=0)
    assert not (tmp_path / "out").exists()


# --- the real base model and llama.cpp -------------------------------------------------------


def last_logits(lora_path: Path | None) -> np.ndarray:
    import llama_cpp

    from hi_moe.llm.models import resolve_model

    kwargs = {"n_ctx": 512, "n_threads": 1, "logits_all": True, "verbose": False}
    if lora_path is not None:
        kwargs["lora_path"] = str(lora_path)
    llm = llama_cpp.Llama(model_path=str(resolve_model(SMALL).path), **kwargs)
    try:
        llm.eval(llm.tokenize(PROMPT.encode(), add_bos=False, special=True))
        return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
    finally:
        llm.close()


def kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    p = np.exp(p_logits - p_logits.max())
    q = np.exp(q_logits - q_logits.max())
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12))))


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_trained_adapter_loads_in_llama_cpp_and_changes_the_distribution(name):
    from hi_moe.adapters.meta import check_base
    from hi_moe.llm.models import resolve_model

    adapter = ADAPTERS[name] / "adapter.gguf"
    if not adapter.is_file():
        pytest.fail(f"{adapter} is missing: `make adapters MODEL={SMALL}` trains it (make test)")
    meta = check_base(adapter, resolve_model(SMALL).path)
    assert meta["specialist"] == name and not set(meta["problem_ids"]) & evaluation_ids()
    base, adapted = last_logits(None), last_logits(adapter)
    assert np.isfinite(adapted).all()
    assert np.abs(adapted - base).max() > 0.5
    assert kl(base, adapted) > 0.01


@pytest.mark.integration
def test_gguf_q_k_permutation_matches_peft_in_llama_cpp(tmp_path):
    """A random LoRA on Q and K only: llama.cpp's logit change must follow PEFT's."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    from hi_moe.adapters.base_model import load_base, resolve_base, text_encoder

    base = resolve_base(SMALL)
    torch.set_num_threads(1)
    model, tokenizer = load_base(base, "cpu")
    ids = text_encoder(base, tokenizer)(PROMPT)
    torch.manual_seed(0)
    config = LoraConfig(
        r=4, lora_alpha=4, target_modules=["q_proj", "k_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        adapted = peft_model(input_ids=torch.tensor([ids])).logits[0, -1].double().numpy()
        with peft_model.disable_adapter():
            plain = peft_model(input_ids=torch.tensor([ids])).logits[0, -1].double().numpy()
    state = {k: v.detach().numpy() for k, v in get_peft_model_state_dict(peft_model).items()}
    path = lora_gguf.write_lora_gguf(
        tmp_path / "qk.gguf",
        state,
        architecture="llama",
        alpha=4,
        n_head=model.config.num_attention_heads,
        n_head_kv=model.config.num_key_value_heads,
    )
    change = last_logits(path) - last_logits(None)
    # Measured: 0.85 with the permutation, -0.13 without it.
    assert np.corrcoef(adapted - plain, change)[0, 1] > 0.6


@pytest.mark.integration
def test_a_tiny_training_run_on_the_real_base_model(tmp_path):
    data = write_examples(reference_examples("math", Context())[:8], tmp_path / "math.jsonl")
    report = adapter_training.train_adapter(
        "math", data, tmp_path / "math", rank=2, steps=2, base=SMALL
    )
    meta = json.loads((report.out_dir / "metadata.json").read_text())
    assert meta["base_model"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and meta["base_model_sha256"]
    assert meta["base_model_hf"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert np.isfinite(last_logits(report.out_dir / "adapter.gguf")).all()


@pytest.mark.integration
def test_the_embedded_server_serves_each_adapter_under_its_name():
    import httpx

    from hi_moe.llm.local_server import LocalServer
    from hi_moe.llm.models import resolve_model

    missing = [name for name, d in ADAPTERS.items() if not (d / "adapter.gguf").is_file()]
    if missing:
        pytest.fail(f"adapters {missing} are missing: `make adapters MODEL={SMALL}` trains them")
    aliases = {"plain": None, **{n: str(d / "adapter.gguf") for n, d in ADAPTERS.items()}}
    firsts = {}
    with LocalServer(resolve_model(SMALL).path, aliases) as server:
        for model in aliases:
            body = {"model": model, "prompt": PROMPT, "max_tokens": 1, "temperature": 0}
            reply = httpx.post(
                f"{server.base_url}/completions", json={**body, "logprobs": 5}, timeout=120
            )
            assert reply.status_code == 200, reply.text
            firsts[model] = reply.json()["choices"][0]["logprobs"]["top_logprobs"][0]
    # The adapters learned to open with a code block; the base model does not.
    assert max(firsts["plain"], key=firsts["plain"].get) != "```"
    assert max(firsts["math"], key=firsts["math"].get) == "```"
    assert firsts["python"] != firsts["plain"] != firsts["math"]
