"""Modal app serving vLLM's OpenAI-compatible API with several LoRA adapters on one base model.

It serves every model name a run asks for (``hi_moe.llm.endpoints.required_models``): the base model
answers under each tier's name and each specialist's without an adapter, every adapter under its
specialist's model name. The names come from the fleet (``fleet.toml``, or ``HI_MOE_FLEET_PATH``)
and the tier settings (``HI_MOE_ARCHITECT_MODEL`` ...) on the machine running ``modal deploy``;
together with these settings they are baked into the image, so the container serves the same:

    HI_MOE_MODAL_BASE_MODEL     base model (default Qwen/Qwen2.5-Coder-1.5B-Instruct, the
                                family of the embedded default, so one adapter serves in both)
    HI_MOE_MODAL_GPU            Modal GPU type (default L4)
    HI_MOE_MODAL_ADAPTERS       "model=source,..." for specialists' model names (default: every
                                specialist with an adapter in the fleet, from the Volume folder
                                named after it; set it empty to serve the base model alone)
    HI_MOE_MODAL_MAX_LORAS      adapters usable in one batch (default: the adapters served, at
                                least the ensemble width HI_MOE_ENSEMBLE_K)
    HI_MOE_MODAL_MAX_LORA_RANK  largest adapter rank, one of vLLM's allowed ranks (default 16)
    HI_MOE_MODAL_MAX_MODEL_LEN  context length in tokens (default 8192)
    HI_MOE_MODAL_SCALEDOWN      idle seconds before the app scales to zero (default 300)

Adapter sources follow one rule: ``hf:owner/repo`` is a Hugging Face repo id that vLLM
downloads; anything else is a directory relative to the root of the ``hi-moe-adapters``
Volume, mounted at /adapters (``python=python`` serves /adapters/python as model "python").

``--max-loras`` is how many different adapters one batch may mix; each slot holds GPU memory
for a rank-``MAX_LORA_RANK`` adapter, so a fleet of 12+ specialists with adapters gets 12+ slots
by default, and ``HI_MOE_MODAL_MAX_LORAS`` trades them for KV cache on a smaller GPU.

Deploy:

    modal secret create hi-moe-vllm VLLM_API_KEY=<key>   # add HF_TOKEN=<token> for private repos
    hi-moe adapters push python && hi-moe adapters push math
    modal deploy modal_app/vllm_server.py

The OpenAI base URL is then ``https://<workspace>--hi-moe-vllm-serve.modal.run/v1``, with the key
as bearer token. The first request after scaling to zero waits for the cold start (several
minutes while the base model is first downloaded); ``hi-moe modal-status`` measures it and
names any model a run needs that the endpoint does not serve.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import modal

if TYPE_CHECKING:
    from graph.context import Context

APP_NAME = "hi-moe-vllm"
DEFAULT_BASE_MODEL = "Qwen/Qwen2.5-Coder-1.5B-Instruct"
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
ENV_BASE_NAMES = "HI_MOE_MODAL_BASE_NAMES"
"""Written into the image by ``modal deploy`` (the base model's names, from the fleet)."""
DEPLOY_HINT = (
    "serve it with `modal deploy modal_app/vllm_server.py` (it serves the adapters of the "
    f"specialists fleet.toml gives one, or those {ENV_ADAPTERS} names)"
)


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


def check_model_name(name: str) -> None:
    """Refuse a served model name that the comma-separated env format cannot carry."""
    if not name or any(char.isspace() or char in ",=" for char in name):
        raise ValueError(f"model name {name!r} must be non-empty, without spaces, ',' or '='")


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

    base_model: str = DEFAULT_BASE_MODEL
    gpu: str = "L4"
    base_names: tuple[str, ...] = ()
    """Names the base model answers under (vLLM ``--served-model-name``); empty: its id."""
    adapters: dict[str, str] = field(default_factory=dict)
    """Model name -> adapter source (see ``adapter_location``)."""
    max_loras: int = 1
    max_lora_rank: int = 16
    max_model_len: int = 8192
    scaledown_window: int = 300

    def __post_init__(self) -> None:
        if not self.base_model:
            raise ValueError("base_model must be non-empty")
        if self.max_loras < 1:
            raise ValueError(f"max_loras must be >= 1, got {self.max_loras}")
        if self.max_lora_rank not in VLLM_LORA_RANKS:
            raise ValueError(
                f"max_lora_rank must be one of {VLLM_LORA_RANKS}, got {self.max_lora_rank}"
            )
        if self.max_model_len < 1:
            raise ValueError(f"max_model_len must be >= 1, got {self.max_model_len}")
        if self.scaledown_window < 1:
            raise ValueError(f"scaledown_window must be >= 1 s, got {self.scaledown_window}")
        for name in (*self.base_names, *self.adapters):
            check_model_name(name)
        clashes = sorted(set(self.base_names or (self.base_model,)) & set(self.adapters))
        if clashes:
            raise ValueError(f"{', '.join(clashes)}: name both the base model and an adapter")
        for source in self.adapters.values():
            adapter_location(source)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """Build a config from ``HI_MOE_MODAL_*`` variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            base_model=env.get(ENV_BASE_MODEL, "").strip() or defaults.base_model,
            gpu=env.get(ENV_GPU, "").strip() or defaults.gpu,
            base_names=tuple(filter(None, map(str.strip, env.get(ENV_BASE_NAMES, "").split(",")))),
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
            ENV_BASE_NAMES: ",".join(self.base_names),
            ENV_ADAPTERS: ",".join(f"{name}={src}" for name, src in self.adapters.items()),
            ENV_MAX_LORAS: str(self.max_loras),
            ENV_MAX_LORA_RANK: str(self.max_lora_rank),
            ENV_MAX_MODEL_LEN: str(self.max_model_len),
            ENV_SCALEDOWN: str(self.scaledown_window),
        }


def deploy_config(environ: Mapping[str, str], context: Context | None = None) -> ServerConfig:
    """What ``modal deploy`` serves: the ``HI_MOE_MODAL_*`` settings and every model name a run
    of ``context`` (``Context()`` by default) asks for, the base model answering all but the
    adapters' names; adapters default to the fleet's specialists that have one."""
    # Lazy: this module also runs in the vLLM container, which has no hi_moe or graph.
    from graph.context import Context
    from hi_moe.llm.endpoints import required_models
    from hi_moe.routing.fleet import load_fleet

    context = context or Context()
    settings = ServerConfig.from_env(environ)
    specialists = load_fleet(context.fleet_path).specialists
    if ENV_ADAPTERS in environ:
        adapters = settings.adapters
    else:
        adapters = {s.model: s.name for s in specialists if s.adapter}
    unknown = sorted(set(adapters) - {s.model for s in specialists})
    if unknown:
        raise ValueError(
            f"{ENV_ADAPTERS} names {', '.join(unknown)}: no specialist in {context.fleet_path} "
            f"is served under that name (they are {', '.join(s.model for s in specialists)})"
        )
    max_loras = settings.max_loras
    if not environ.get(ENV_MAX_LORAS, "").strip():
        max_loras = max(len(adapters), context.ensemble_k)
    base_names = tuple(sorted(required_models(context) - set(adapters)))
    return replace(settings, base_names=base_names, adapters=adapters, max_loras=max_loras)


def vllm_command(config: ServerConfig) -> list[str]:
    """The ``vllm serve`` argv; the API key stays out of it, vLLM reads ``VLLM_API_KEY`` itself."""
    command = ["vllm", "serve", config.base_model, "--host", "0.0.0.0", "--port", str(PORT)]
    if config.base_names:
        command += ["--served-model-name", *config.base_names]
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


CONFIG = deploy_config(os.environ) if modal.is_local() else ServerConfig.from_env()
"""Derived from the fleet where ``modal deploy`` runs; read back from the image in the container."""

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
