"""Modal app serving vLLM's OpenAI-compatible API with several LoRA adapters on one base model.

Settings are read from environment variables when this module is imported, i.e. on the
machine running ``modal deploy``, and baked into the image so the container sees the same:

    HI_MOE_MODAL_BASE_MODEL     base model (default HuggingFaceTB/SmolLM2-1.7B-Instruct)
    HI_MOE_MODAL_GPU            Modal GPU type (default L4)
    HI_MOE_MODAL_ADAPTERS       "name=source,name2=source2" (default: no adapters)
    HI_MOE_MODAL_MAX_LORAS      adapters usable in one batch, >= 1 (default 3, the ensemble width)
    HI_MOE_MODAL_MAX_LORA_RANK  largest adapter rank, one of vLLM's allowed ranks (default 16)
    HI_MOE_MODAL_MAX_MODEL_LEN  context length in tokens (default 8192)
    HI_MOE_MODAL_SCALEDOWN      idle seconds before the app scales to zero (default 300)

Adapter sources follow one rule: ``hf:owner/repo`` is a Hugging Face repo id that vLLM
downloads; anything else is a directory relative to the root of the ``hi-moe-adapters``
Volume, mounted at /adapters (``python=python`` serves /adapters/python as model "python").

Deploy:

    modal secret create hi-moe-vllm VLLM_API_KEY=<key>   # add HF_TOKEN=<token> for private repos
    modal volume put hi-moe-adapters ./adapters/python python
    modal volume put hi-moe-adapters ./adapters/math math
    HI_MOE_MODAL_ADAPTERS=python=python,math=math modal deploy modal_app/vllm_server.py

The OpenAI base URL is then ``https://<workspace>--hi-moe-vllm-serve.modal.run/v1``; send
``model="python"`` to use an adapter, or the base model id to use none, with the key as bearer
token. The first request after scaling to zero waits for the cold start (several minutes while
the base model is first downloaded); ``hi_moe.modal_status.check_endpoint`` measures it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import modal

APP_NAME = "hi-moe-vllm"
VLLM_VERSION = "0.33.0"
PORT = 8000
ADAPTERS_DIR = "/adapters"
HF_CACHE_DIR = "/hf-cache"
"""Inside the container; HF_HOME points the Hugging Face libraries at the cache Volume."""
HF_PREFIX = "hf:"
API_KEY_ENV = "VLLM_API_KEY"
MAX_CONCURRENT_REQUESTS = 32
MINUTES = 60
# vLLM accepts only these values for --max-lora-rank (LoRAConfig.max_lora_rank).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

ENV_BASE_MODEL = "HI_MOE_MODAL_BASE_MODEL"
ENV_GPU = "HI_MOE_MODAL_GPU"
ENV_ADAPTERS = "HI_MOE_MODAL_ADAPTERS"
ENV_MAX_LORAS = "HI_MOE_MODAL_MAX_LORAS"
ENV_MAX_LORA_RANK = "HI_MOE_MODAL_MAX_LORA_RANK"
ENV_MAX_MODEL_LEN = "HI_MOE_MODAL_MAX_MODEL_LEN"
ENV_SCALEDOWN = "HI_MOE_MODAL_SCALEDOWN"


def parse_adapters(spec: str) -> dict[str, str]:
    """Parse ``"name=source,name2=source2"`` into a dict, rejecting malformed or repeated names."""
    adapters: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, source = (text.strip() for text in entry.partition("="))
        if not sep or not source:
            raise ValueError(f"adapter entry {entry!r} must look like name=source")
        if name in adapters:
            raise ValueError(f"adapter name {name!r} is given more than once")
        adapters[name] = source
    return adapters


def adapter_location(source: str) -> str:
    """Map an adapter source to what vLLM loads: a HF repo id or a path under /adapters."""
    if source.startswith(HF_PREFIX):
        repo_id = source.removeprefix(HF_PREFIX)
        if not repo_id:
            raise ValueError(f"adapter source {source!r} names no Hugging Face repo")
        return repo_id
    path = PurePosixPath(source)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(
            f"adapter source {source!r} must be a directory relative to the adapters Volume "
            f"(e.g. 'python') or a Hugging Face repo id prefixed with {HF_PREFIX!r}"
        )
    return str(PurePosixPath(ADAPTERS_DIR, path))


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    """Read an integer environment variable, naming it in the error when malformed."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class ServerConfig:
    """What to serve and on which hardware; validated on construction."""

    base_model: str = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    gpu: str = "L4"
    adapters: dict[str, str] = field(default_factory=dict)
    max_loras: int = 3
    max_lora_rank: int = 16
    max_model_len: int = 8192
    scaledown_window: int = 300

    def __post_init__(self) -> None:
        if not self.base_model:
            raise ValueError("base_model must be non-empty")
        if self.max_loras < 1:
            raise ValueError(f"max_loras must be >= 1 (the ensemble width), got {self.max_loras}")
        if self.max_lora_rank not in VLLM_LORA_RANKS:
            raise ValueError(
                f"max_lora_rank must be one of {VLLM_LORA_RANKS}, got {self.max_lora_rank}"
            )
        if self.max_model_len < 1:
            raise ValueError(f"max_model_len must be >= 1, got {self.max_model_len}")
        if self.scaledown_window < 1:
            raise ValueError(f"scaledown_window must be >= 1 s, got {self.scaledown_window}")
        for name, source in self.adapters.items():
            if not name or any(char.isspace() or char in ",=" for char in name):
                raise ValueError(
                    f"adapter name {name!r} must be non-empty, without spaces, ',' or '='"
                )
            if name == self.base_model:
                raise ValueError(f"adapter name {name!r} clashes with the base model's name")
            adapter_location(source)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """Build a config from ``HI_MOE_MODAL_*`` variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            base_model=env.get(ENV_BASE_MODEL, "").strip() or defaults.base_model,
            gpu=env.get(ENV_GPU, "").strip() or defaults.gpu,
            adapters=parse_adapters(env.get(ENV_ADAPTERS, "")),
            max_loras=_int_env(env, ENV_MAX_LORAS, defaults.max_loras),
            max_lora_rank=_int_env(env, ENV_MAX_LORA_RANK, defaults.max_lora_rank),
            max_model_len=_int_env(env, ENV_MAX_MODEL_LEN, defaults.max_model_len),
            scaledown_window=_int_env(env, ENV_SCALEDOWN, defaults.scaledown_window),
        )

    def to_env(self) -> dict[str, str]:
        """The ``HI_MOE_MODAL_*`` variables that ``from_env`` turns back into this config."""
        return {
            ENV_BASE_MODEL: self.base_model,
            ENV_GPU: self.gpu,
            ENV_ADAPTERS: ",".join(f"{name}={src}" for name, src in self.adapters.items()),
            ENV_MAX_LORAS: str(self.max_loras),
            ENV_MAX_LORA_RANK: str(self.max_lora_rank),
            ENV_MAX_MODEL_LEN: str(self.max_model_len),
            ENV_SCALEDOWN: str(self.scaledown_window),
        }


def vllm_command(config: ServerConfig) -> list[str]:
    """The ``vllm serve`` argv; the API key stays out of it, vLLM reads ``VLLM_API_KEY`` itself."""
    command = ["vllm", "serve", config.base_model, "--host", "0.0.0.0", "--port", str(PORT)]
    command.append("--enable-lora")
    if config.adapters:
        modules = (f"{name}={adapter_location(src)}" for name, src in config.adapters.items())
        command += ["--lora-modules", *modules]
    command += ["--max-loras", str(config.max_loras)]
    command += ["--max-lora-rank", str(config.max_lora_rank)]
    command += ["--max-model-len", str(config.max_model_len)]
    return command


def require_api_key(environ: Mapping[str, str]) -> None:
    """Refuse to start a public endpoint without the key from the Modal Secret."""
    if not environ.get(API_KEY_ENV, "").strip():
        raise RuntimeError(
            f"{API_KEY_ENV} is not set: create it with "
            f"`modal secret create {APP_NAME} {API_KEY_ENV}=<key>`"
        )


CONFIG = ServerConfig.from_env()

app = modal.App(APP_NAME)
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(f"vllm=={VLLM_VERSION}")
    .env({**CONFIG.to_env(), "HF_HOME": HF_CACHE_DIR})
)
hf_cache = modal.Volume.from_name("hi-moe-hf-cache", create_if_missing=True)
adapters_volume = modal.Volume.from_name("hi-moe-adapters", create_if_missing=True)


@app.function(
    image=image,
    gpu=CONFIG.gpu,
    scaledown_window=CONFIG.scaledown_window,
    timeout=10 * MINUTES,
    secrets=[modal.Secret.from_name(APP_NAME)],
    volumes={HF_CACHE_DIR: hf_cache, ADAPTERS_DIR: adapters_volume},
)
@modal.concurrent(max_inputs=MAX_CONCURRENT_REQUESTS)
@modal.web_server(port=PORT, startup_timeout=15 * MINUTES)
def serve() -> None:
    """Start vLLM in the background; Modal routes HTTPS traffic to PORT once it listens."""
    require_api_key(os.environ)
    subprocess.Popen(vllm_command(CONFIG))
