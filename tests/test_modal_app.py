"""Tests for the Modal vLLM app's config and command line (offline: nothing is deployed), and
its contract with the client: it serves exactly the model names a run asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.context import Context
from hi_moe.cli.main import main
from hi_moe.llm.endpoints import required_models
from hi_moe.llm.fake.endpoint import FakeEndpoint
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.problems.datasets import load_dataset
from hi_moe.routing.fleet import load_fleet
from modal_app.vllm_server import (
    ADAPTERS_DIR,
    DEFAULT_BASE_MODEL,
    ServerConfig,
    adapter_location,
    deploy_config,
    parse_adapters,
    require_api_key,
    vllm_command,
)


def _flag_value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _flag_values(command: list[str], flag: str) -> list[str]:
    """The values after `flag` up to the next option; none when the flag is absent."""
    if flag not in command:
        return []
    rest = command[command.index(flag) + 1 :]
    end = next((i for i, arg in enumerate(rest) if arg.startswith("--")), len(rest))
    return rest[:end]


def served_names(command: list[str]) -> list[str]:
    """The model names a `vllm serve` argv answers to: the base model's, then each adapter's."""
    base = _flag_values(command, "--served-model-name") or [command[2]]
    return [
        *base,
        *(module.partition("=")[0] for module in _flag_values(command, "--lora-modules")),
    ]


def write_fleet(path: Path, adapters: int, plain: int = 0) -> Path:
    """A fleet.toml of `adapters` specialists with an adapter and `plain` ones without."""
    entries = [
        f'[[specialist]]\nname = "s{i}"\nmodel = "m{i}"\ndescription = "d"\n'
        + (f'adapter = "adapters/s{i}.gguf"\n' if i < adapters else "")
        for i in range(adapters + plain)
    ]
    path.write_text("\n".join(entries))
    return path


# --- the contract with the client ---------------------------------------------------------------


def test_the_default_deploy_serves_exactly_the_names_a_run_asks_for() -> None:
    context = Context()
    names = served_names(vllm_command(deploy_config({}, context)))
    assert len(names) == len(set(names))
    assert set(names) == required_models(context)


def test_adapters_serve_under_their_specialists_names_the_base_model_under_all_others() -> None:
    context = Context()
    with_adapter = [s for s in load_fleet(context.fleet_path).specialists if s.adapter]
    assert with_adapter, "the default fleet names adapters (python, math)"
    command = vllm_command(deploy_config({}, context))
    assert command[2] == DEFAULT_BASE_MODEL
    modules = [f"{s.model}={ADAPTERS_DIR}/{s.name}" for s in with_adapter]
    assert _flag_values(command, "--lora-modules") == modules
    base_names = required_models(context) - {s.model for s in with_adapter}
    assert _flag_values(command, "--served-model-name") == sorted(base_names)
    assert {"architect", "dispatcher", "monitor"} <= base_names


def test_names_follow_the_tier_settings_and_the_fleet_file(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.toml", adapters=1, plain=1)
    context = Context(fleet_path=str(fleet), architect_model="planner")
    command = vllm_command(deploy_config({}, context))
    assert _flag_values(command, "--served-model-name") == [
        "dispatcher",
        "m1",
        "monitor",
        "planner",
    ]
    assert _flag_values(command, "--lora-modules") == [f"m0={ADAPTERS_DIR}/s0"]


def test_adapters_override_picks_which_adapters_exist_but_not_their_names() -> None:
    context = Context()
    config = deploy_config({"HI_MOE_MODAL_ADAPTERS": "math=hf:org/math-lora"}, context)
    assert config.adapters == {"math": "hf:org/math-lora"}
    assert "python" in config.base_names
    assert set(served_names(vllm_command(config))) == required_models(context)

    alone = deploy_config({"HI_MOE_MODAL_ADAPTERS": ""}, context)
    assert alone.adapters == {} and set(alone.base_names) == required_models(context)

    with pytest.raises(ValueError, match="HI_MOE_MODAL_ADAPTERS names poetry: no specialist"):
        deploy_config({"HI_MOE_MODAL_ADAPTERS": "poetry=poetry"}, context)


def test_max_loras_covers_every_adapter_and_at_least_the_ensemble_width(tmp_path: Path) -> None:
    default = deploy_config({}, Context())
    assert default.max_loras == max(len(default.adapters), Context().ensemble_k)
    assert deploy_config({}, Context(ensemble_k=5)).max_loras == 5
    twelve = Context(fleet_path=str(write_fleet(tmp_path / "fleet.toml", adapters=12)))
    assert deploy_config({}, twelve).max_loras == 12  # the seed's 12+ concurrent specialists
    assert deploy_config({"HI_MOE_MODAL_MAX_LORAS": "4"}, twelve).max_loras == 4


def test_the_container_reads_back_the_deployed_config() -> None:
    config = deploy_config({"HI_MOE_MODAL_GPU": "A10G"}, Context())
    assert ServerConfig.from_env(config.to_env()) == config


def test_a_run_goes_to_the_end_on_an_endpoint_serving_the_modal_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hi-moe solve --endpoint modal` against a loopback stand-in for the deployed app."""
    names = served_names(vllm_command(deploy_config({}, Context())))
    with FakeEndpoint(names, ScriptedModel(load_dataset("builtin"))) as endpoint:
        monkeypatch.setenv("HI_MOE_MODAL_URL", endpoint.base_url)
        command = ["solve", "--endpoint", "modal", "--problem", "0", "--always-plan"]
        code = main([*command, "--home", str(tmp_path)])  # every tier asks under its name
        asked = {body["model"] for body in endpoint.requests}
    assert code == 0, capsys.readouterr().out
    [path] = (tmp_path / "results").glob("*.json")
    result = json.loads(path.read_text())
    assert result["status"] == "solved" and result["hidden"]["passed"] is True
    assert {"architect", "dispatcher", "python"} <= asked <= set(names)  # python: an adapter


# --- the command line and settings ---------------------------------------------------------------


def test_command_serves_base_model_with_lora_enabled() -> None:
    config = ServerConfig(adapters={"python": "python", "math": "hf:someone/math-lora"})
    command = vllm_command(config)
    assert command[:3] == ["vllm", "serve", config.base_model]
    assert "--enable-lora" in command
    assert _flag_value(command, "--host") == "0.0.0.0"
    assert _flag_value(command, "--port") == "8000"
    assert _flag_values(command, "--lora-modules") == [
        f"python={ADAPTERS_DIR}/python",
        "math=someone/math-lora",
    ]
    assert _flag_value(command, "--max-loras") == "1"
    assert _flag_value(command, "--max-lora-rank") == "16"
    assert _flag_value(command, "--max-model-len") == "8192"


def test_command_without_adapters_or_names_serves_the_base_model_under_its_id() -> None:
    command = vllm_command(ServerConfig())
    assert "--enable-lora" in command
    assert "--lora-modules" not in command
    assert served_names(command) == [DEFAULT_BASE_MODEL]


def test_command_keeps_the_api_key_out_of_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "s3cret-key")
    command = vllm_command(ServerConfig(adapters={"python": "python"}))
    assert "--api-key" not in command
    assert not any("s3cret-key" in arg for arg in command)


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HI_MOE_MODAL_BASE_MODEL", "org/base")
    monkeypatch.setenv("HI_MOE_MODAL_GPU", "A10G")
    monkeypatch.setenv("HI_MOE_MODAL_BASE_NAMES", "architect, monitor")
    monkeypatch.setenv("HI_MOE_MODAL_ADAPTERS", " python=python , math=hf:org/math ")
    monkeypatch.setenv("HI_MOE_MODAL_MAX_LORAS", "4")
    monkeypatch.setenv("HI_MOE_MODAL_MAX_LORA_RANK", "32")
    monkeypatch.setenv("HI_MOE_MODAL_MAX_MODEL_LEN", "4096")
    monkeypatch.setenv("HI_MOE_MODAL_SCALEDOWN", "120")
    config = ServerConfig.from_env()
    assert config == ServerConfig(
        base_model="org/base",
        gpu="A10G",
        base_names=("architect", "monitor"),
        adapters={"python": "python", "math": "hf:org/math"},
        max_loras=4,
        max_lora_rank=32,
        max_model_len=4096,
        scaledown_window=120,
    )
    assert ServerConfig.from_env(config.to_env()) == config


def test_config_defaults_from_empty_env() -> None:
    config = ServerConfig.from_env({})
    assert config.base_model == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert config.gpu == "L4"
    assert config.base_names == ()
    assert config.adapters == {}
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
        ({"base_names": ("a,b",)}, "without spaces, ','"),
        ({"base_model": "org/base", "adapters": {"org/base": "x"}}, "name both the base"),
        ({"base_names": ("python",), "adapters": {"python": "x"}}, "python: name both"),
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
