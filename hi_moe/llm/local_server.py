"""The embedded default endpoint: llama-cpp-python's OpenAI server on a free loopback port.

The child runs hi_moe.llm.llama_launcher, which shares one loaded model among the aliases.

It serves one GGUF model (Qwen2.5-Coder-1.5B-Instruct unless told otherwise, see
hi_moe/llm/models.py) under one alias per tier and specialist, with a GGUF LoRA adapter where the
fleet has one trained for that model; a specialist without one is the base model.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from graph.context import Context
from hi_moe.adapters.meta import check_base, specialist_adapters
from hi_moe.errors import UserError
from hi_moe.llm.client import EndpointError
from hi_moe.llm.models import resolve_model
from hi_moe.routing.fleet import load_fleet

log = logging.getLogger(__name__)
LOG_TAIL_CHARS = 800
PROMPT_TOKENS_ROUTE = "/hi-moe/prompt-tokens"
"""The launcher's route answering the prompt tokens sent and evaluated so far."""
BATCH_TOKENS = 64
"""llama.cpp's prompt batch (n_batch): the KV cache is reused in whole batches of this many
tokens (hi_moe/llm/aligned_prefix.py); smaller wastes less of a shared prefix."""
FAILURE_GRACE_S = 2.0
"""How long a failed request waits for the server to finish dying before blaming the network."""
REBUILD_HINT = (
    " (the llama-cpp-python build uses CPU instructions this machine lacks: rebuild it "
    "portably with `rm -rf ~/.cache/hi-moe/wheels .venv && make setup`)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class PromptTokens:
    """Prompt tokens sent to the server and those it evaluated; the rest came from its KV cache
    (the prefix a prompt shares with the previous one on the same model, in whole batches).
    `unaligned`: what reusing the whole shared prefix would have evaluated (not deterministic)."""

    sent: int
    evaluated: int
    unaligned: int

    def line(self) -> str:
        reused = self.sent - self.evaluated
        share = f" ({reused / self.sent:.0%} reused from the KV cache)" if self.sent else ""
        return (
            f"prompt tokens: {self.sent:,} sent, {self.evaluated:,} evaluated{share}; "
            f"{self.unaligned:,} with unaligned (nondeterministic) reuse"
        )


class LocalServer:
    """A llama.cpp OpenAI server child process; use as a context manager."""

    def __init__(
        self,
        gguf: Path,
        aliases: dict[str, str | None],
        port: int | None = None,
        log_path: Path | None = None,
        startup_timeout_s: float = 120.0,
        context_tokens: int = 8192,
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
        self.context_tokens = context_tokens
        self._process: subprocess.Popen | None = None
        self._config_dir = tempfile.TemporaryDirectory(prefix="hi-moe-llama-")

    @classmethod
    def for_context(
        cls, context: Context, port: int | None = None, adapters: bool = True
    ) -> LocalServer:
        """A server of the context's model for every name its tiers and fleet use.

        A specialist gets its adapter where one is trained for this model (fleet paths are
        relative to the fleet file); `adapters=False` serves every name without adapters."""
        model = resolve_model(context.model)
        adapter_of = specialist_adapters(context)
        aliases: dict[str, str | None] = dict.fromkeys(context.tier_models().values())
        for specialist in load_fleet(context.fleet_path).specialists:
            aliases[specialist.model] = adapter_of[specialist.name] if adapters else None
        log_path = context.home_dir / "local-server.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return cls(
            model.path, aliases, port=port, log_path=log_path, context_tokens=model.context_tokens
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def weights(self) -> dict[str, str]:
        """What each model name runs on: the GGUF and its adapter, if any."""
        return {alias: f"{self.gguf}+{adapter or ''}" for alias, adapter in self.aliases.items()}

    def config(self) -> dict:
        """llama_cpp.server's config file: one model entry per alias."""
        models = []
        for alias, adapter in self.aliases.items():
            entry = {
                "model": str(self.gguf),
                "model_alias": alias,
                "n_ctx": self.context_tokens,
                "n_threads": 2,
                "n_batch": BATCH_TOKENS,
                "verbose": False,
            }
            if adapter is not None:
                entry["lora_path"] = adapter
            models.append(entry)
        return {"host": "127.0.0.1", "port": self.port, "models": models}

    def command(self, config_path: Path) -> list[str]:
        """The child process: llama-cpp-python's server behind the sharing proxy."""
        return [sys.executable, "-m", "hi_moe.llm.llama_launcher", str(config_path)]

    def start(self) -> None:
        config_path = Path(self._config_dir.name) / "config.json"
        config_path.write_text(json.dumps(self.config()))
        log = self.log_path.open("w")
        self._process = subprocess.Popen(
            self.command(config_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _running[self.base_url] = self
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            notice = self.death_notice()
            if notice:
                raise EndpointError(f"at startup, {notice}")
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

    def death_notice(self, grace_s: float = 0.0) -> str | None:
        """Why the server is gone (its exit status and the tail of its log); None while it runs.

        After a failed request, `grace_s` lets a dying server finish exiting: the client can see
        the dropped connection before the process is reaped."""
        if self._process is None:
            return None
        try:
            self._process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            return None
        code = self._process.returncode
        tail = self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:].rstrip()
        hint = REBUILD_HINT if code == -signal.SIGILL else ""
        return (
            f"the embedded llama.cpp server {exit_text(code)}{hint}; "
            f"the end of its log ({self.log_path}):\n{tail}"
        )

    def generate_one_token(self) -> str:
        """One greedy token from the first alias: proof that the build runs on this CPU."""
        model = next(iter(self.aliases))
        body = {"model": model, "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1, "temperature": 0}  # fmt: skip
        try:
            reply = httpx.post(f"{self.base_url}/chat/completions", json=body, timeout=300)
            reply.raise_for_status()
            return reply.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
            reason = self.death_notice(FAILURE_GRACE_S) or f"one-token generation failed: {exc}"
            raise EndpointError(reason) from exc

    def prompt_tokens(self) -> PromptTokens:
        """The prompt tokens this server was sent and evaluated since it started."""
        reply = httpx.get(f"http://127.0.0.1:{self.port}{PROMPT_TOKENS_ROUTE}", timeout=5)
        reply.raise_for_status()
        totals = reply.json()
        return PromptTokens(totals["sent"], totals["evaluated"], totals["unaligned"])

    def wait(self) -> None:
        """Block until the server exits (serve-local)."""
        assert self._process is not None
        self._process.wait()

    def stop(self) -> None:
        _running.pop(self.base_url, None)
        if self._process is not None and self._process.poll() is None:
            self._log_prompt_tokens()
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

    def _log_prompt_tokens(self) -> None:
        """Write the server's prompt-token totals to its log (and the debug log) before it stops."""
        try:
            line = self.prompt_tokens().line()
        except (httpx.HTTPError, ValueError, KeyError):
            return
        log.info("embedded server %s", line)
        with self.log_path.open("a") as server_log:
            server_log.write(f"{line}\n")


def exit_text(code: int) -> str:
    """'was killed by SIGILL (Illegal instruction)' or 'exited with code 1'."""
    if code < 0:
        number = signal.Signals(-code)
        return f"was killed by {number.name} ({signal.strsignal(number)})"
    return f"exited with code {code}"


_running: dict[str, LocalServer] = {}
"""Embedded servers this process started, by base URL."""


def weights_at(base_url: str) -> dict[str, str]:
    """What each model name of the embedded server at `base_url` runs on, if this process
    started it (empty otherwise: names that may each be their own weights)."""
    server = _running.get(base_url.rstrip("/"))
    return server.weights if server else {}


def death_notice_at(base_url: str) -> str | None:
    """Why the embedded server at `base_url` died, if this process started it and it did."""
    server = _running.get(base_url.rstrip("/"))
    return server.death_notice(FAILURE_GRACE_S) if server else None


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
