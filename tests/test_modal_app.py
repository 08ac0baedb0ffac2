"""Tests for the Modal vLLM app's config and command line (offline: nothing is deployed)."""

from __future__ import annotations

import pytest

from modal_app.vllm_server import (
    ADAPTERS_DIR,
    ServerConfig,
    adapter_location,
    parse_adapters,
    require_api_key,
    vllm_command,
)

ENSEMBLE_WIDTH = 3


def _flag_value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _lora_modules(command: list[str]) -> list[str]:
    start = command.index("--lora-modules") + 1
    end = next(i for i in range(start, len(command)) if command[i].startswith("--"))
    return command[start:end]


def test_command_serves_base_model_with_lora_enabled() -> None:
    config = ServerConfig(adapters={"python": "python", "math": "hf:someone/math-lora"})
    command = vllm_command(config)
    assert command[:3] == ["vllm", "serve", config.base_model]
    assert "--enable-lora" in command
    assert _flag_value(command, "--host") == "0.0.0.0"
    assert _flag_value(command, "--port") == "8000"
    assert _lora_modules(command) == [f"python={ADAPTERS_DIR}/python", "math=someone/math-lora"]
    assert int(_flag_value(command, "--max-loras")) >= ENSEMBLE_WIDTH
    assert _flag_value(command, "--max-lora-rank") == "16"
    assert _flag_value(command, "--max-model-len") == "8192"


def test_command_without_adapters_omits_lora_modules() -> None:
    command = vllm_command(ServerConfig())
    assert "--enable-lora" in command
    assert "--lora-modules" not in command


def test_command_keeps_the_api_key_out_of_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "s3cret-key")
    command = vllm_command(ServerConfig(adapters={"python": "python"}))
    assert "--api-key" not in command
    assert not any("s3cret-key" in arg for arg in command)


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HI_MOE_MODAL_BASE_MODEL", "org/base")
    monkeypatch.setenv("HI_MOE_MODAL_GPU", "A10G")
    monkeypatch.setenv("HI_MOE_MODAL_ADAPTERS", " python=python , math=hf:org/math ")
    monkeypatch.setenv("HI_MOE_MODAL_MAX_LORAS", "4")
    monkeypatch.setenv("HI_MOE_MODAL_MAX_LORA_RANK", "32")
    monkeypatch.setenv("HI_MOE_MODAL_MAX_MODEL_LEN", "4096")
    monkeypatch.setenv("HI_MOE_MODAL_SCALEDOWN", "120")
    config = ServerConfig.from_env()
    assert config == ServerConfig(
        base_model="org/base",
        gpu="A10G",
        adapters={"python": "python", "math": "hf:org/math"},
        max_loras=4,
        max_lora_rank=32,
        max_model_len=4096,
        scaledown_window=120,
    )
    assert ServerConfig.from_env(config.to_env()) == config


def test_config_defaults_from_empty_env() -> None:
    config = ServerConfig.from_env({})
    assert config.base_model == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert config.gpu == "L4"
    assert config.adapters == {}
    assert config.max_loras == ENSEMBLE_WIDTH
    assert config.scaledown_window == 300


def test_adapter_location_rule() -> None:
    assert adapter_location("python") == "/adapters/python"
    assert adapter_location("runs/7/python") == "/adapters/runs/7/python"
    assert adapter_location("hf:org/repo") == "org/repo"


@pytest.mark.parametrize("source", ["/abs/path", "../escape", "a/../../b", ".", "hf:"])
def test_adapter_location_rejects_bad_sources(source: str) -> None:
    with pytest.raises(ValueError, match="adapter source"):
        adapter_location(source)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_loras": 0}, "max_loras must be >= 1"),
        ({"max_lora_rank": 12}, "max_lora_rank must be one of"),
        ({"adapters": {"": "python"}}, "must be non-empty"),
        ({"adapters": {"my adapter": "python"}}, "without spaces"),
        ({"base_model": "org/base", "adapters": {"org/base": "x"}}, "clashes with the base"),
        ({"adapters": {"python": "/abs"}}, "relative to the adapters Volume"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


def test_parse_adapters_rejects_duplicates_and_malformed_entries() -> None:
    assert parse_adapters("") == {}
    with pytest.raises(ValueError, match="more than once"):
        parse_adapters("python=a,python=b")
    with pytest.raises(ValueError, match="name=source"):
        parse_adapters("python")
    with pytest.raises(ValueError, match="name=source"):
        parse_adapters("python=")


def test_from_env_rejects_non_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HI_MOE_MODAL_MAX_LORAS", "three")
    with pytest.raises(ValueError, match="HI_MOE_MODAL_MAX_LORAS must be an integer"):
        ServerConfig.from_env()


def test_require_api_key() -> None:
    require_api_key({"VLLM_API_KEY": "k"})
    with pytest.raises(RuntimeError, match="modal secret create hi-moe-vllm"):
        require_api_key({})
