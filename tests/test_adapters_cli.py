"""`hi-moe train-adapter`, `hi-moe adapters ...`, `compare --adapters`, and the checks made
before an adapter is served, pushed or evaluated (offline; no model is loaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import compare
from graph.context import Context
from hi_moe.adapters.meta import AdapterError, check_uncontaminated, fleet_adapters
from hi_moe.cli.adapters import push_command
from hi_moe.cli.main import main
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.models import resolve_model
from hi_moe.problems.datasets import load_dataset

REPO_FLEET = Path(__file__).resolve().parent.parent / "fleet.toml"
PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter.gguf")


def fake_adapter(directory: Path, **meta: object) -> Path:
    """An adapter directory with placeholder files and the given metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in PEFT_FILES:
        (directory / name).write_text("placeholder")
    fields = {
        "specialist": directory.name,
        "base_model": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "base_model_hf": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "rank": 8,
        "problem_ids": ["HumanEval/120"],
        **meta,
    }
    (directory / "metadata.json").write_text(json.dumps(fields))
    return directory


def fleet_with_adapter(tmp_path: Path, adapter: str) -> Path:
    """A copy of the repo's fleet whose only adapter is `adapter`, on the python specialist."""
    text = (
        REPO_FLEET.read_text()
        .replace("\nadapter =", "\n# adapter =")
        .replace(
            'name = "python"\nmodel = "python"\n',
            f'name = "python"\nmodel = "python"\nadapter = "{adapter}"\n',
            1,
        )
    )
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def test_push_command_uploads_the_directory_as_the_adapter_name():
    assert push_command(Path("adapters/python"), "python") == [
        "modal", "volume", "put", "--force", "hi-moe-adapters", "adapters/python", "python",
    ]  # fmt: skip
    assert push_command(Path("/x/math"), "math", "vol")[-3:] == ["vol", "/x/math", "math"]


def test_push_dry_run_prints_the_command_for_a_servable_adapter(tmp_path, monkeypatch, capsys):
    fake_adapter(tmp_path / "smollm2-135m" / "python")
    monkeypatch.setenv("HI_MOE_MODAL_BASE_MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")
    push = ["adapters", "push", "python", "--model", "smollm2-135m", "--dir", str(tmp_path)]
    assert main([*push, "--dry-run"]) == 0
    out = capsys.readouterr().out
    adapter = tmp_path / "smollm2-135m" / "python"
    assert f"modal volume put --force hi-moe-adapters {adapter} python" in out


def test_push_refuses_another_base_model_a_too_large_rank_or_no_adapter(
    tmp_path, monkeypatch, capsys
):
    fake_adapter(tmp_path / "qwen2.5-coder-1.5b" / "python")
    assert main(["adapters", "push", "python", "--dir", str(tmp_path), "--dry-run"]) == 2
    assert "trained for 'SmolLM2-135M-Instruct.Q4_1.gguf'" in capsys.readouterr().out

    monkeypatch.setenv("HI_MOE_MODAL_BASE_MODEL", "HuggingFaceTB/SmolLM2-1.7B-Instruct")
    wide = tmp_path / "qwen2.5-coder-1.5b" / "wide"
    fake_adapter(wide, rank=32, base_model="HuggingFaceTB/SmolLM2-1.7B-Instruct")
    assert main(["adapters", "push", "wide", "--dir", str(tmp_path), "--dry-run"]) == 2
    assert "rank 32, more than the server's maximum 16" in capsys.readouterr().out

    assert main(["adapters", "push", "nothing", "--dir", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().out


def test_build_data_writes_jsonl_and_unknown_sources_are_errors(tmp_path, capsys):
    out = tmp_path / "math.jsonl"
    assert main(["adapters", "build-data", "math", "--out", str(out)]) == 0
    assert "wrote 64 examples (64 problems, splits mathgen-train)" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 64
    assert main(["adapters", "build-data", "general", "--out", str(tmp_path / "g.jsonl")]) == 2
    assert "no training split has reference solutions" in capsys.readouterr().out
    assert not (tmp_path / "g.jsonl").exists()


def test_train_adapter_reports_bad_data_as_one_error_line(tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"specialist": "math"}\n')
    assert main(["train-adapter", "math", "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    out = capsys.readouterr().out
    assert out.count("error:") == 1 and "bad.jsonl:1: bad training example" in out
    assert not (tmp_path / "o").exists()


def test_list_shows_adapters_with_their_metadata(tmp_path, capsys):
    fake_adapter(tmp_path / "python", loss_before=1.2, loss_after=0.6, steps=20)
    assert main(["adapters", "list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert '"specialist": "python"' in out and '"loss": "1.2 -> 0.6"' in out


def test_server_refuses_a_missing_adapter_or_one_of_another_base_model(tmp_path):
    gguf = resolve_model("smollm2-135m").path
    with pytest.raises(AdapterError, match="no metadata.json"):
        (tmp_path / "loose").mkdir()
        (tmp_path / "loose" / "adapter.gguf").write_text("x")
        LocalServer(gguf, {"python": str(tmp_path / "loose" / "adapter.gguf")})
    with pytest.raises(Exception, match="does not exist"):
        LocalServer(gguf, {"python": str(tmp_path / "missing.gguf")})
    other = fake_adapter(tmp_path / "python", base_model_sha256="0" * 64)
    with pytest.raises(AdapterError, match="trained for base model"):
        LocalServer(gguf, {"python": str(other / "adapter.gguf")})


def test_fleet_adapters_are_per_model_and_relative_to_the_fleet_file(tmp_path, capsys):
    fleet = fleet_with_adapter(tmp_path, "adapters/{model}/python/adapter.gguf")
    fake_adapter(tmp_path / "adapters" / "smollm2-135m" / "python")
    small = Context(fleet_path=str(fleet), model="smollm2-135m")
    assert fleet_adapters(small) == {
        "python": tmp_path / "adapters" / "smollm2-135m" / "python" / "adapter.gguf"
    }
    # No adapter trained for the default model: its python specialist is the base model.
    assert fleet_adapters(Context(fleet_path=str(fleet))) == {}
    assert fleet_adapters(Context()).keys() <= {"python", "math"}
    listing = ["adapters", "list", "--dir", str(tmp_path / "adapters")]
    assert main([*listing, "--model", "qwen2.5-coder-0.5b"]) == 0
    assert "python: base model (no adapter for this model)" in capsys.readouterr().out


def test_contaminated_adapters_are_refused(tmp_path):
    adapter = fake_adapter(tmp_path / "python", problem_ids=["HumanEval/3", "HumanEval/120"])
    check_uncontaminated([adapter], ["HumanEval/0", "HumanEval/1"])
    with pytest.raises(AdapterError, match=r"trained on 1 of the evaluated problems \(HumanEval/3"):
        check_uncontaminated([adapter], ["HumanEval/2", "HumanEval/3"])


def test_compare_refuses_an_adapter_trained_on_an_evaluated_problem(tmp_path, monkeypatch, capsys):
    fake_adapter(tmp_path / "adapters" / "python", problem_ids=["HumanEval/1"])
    fleet = fleet_with_adapter(tmp_path, "adapters/python/adapter.gguf")
    monkeypatch.setenv("HI_MOE_FLEET_PATH", str(fleet))
    args = ["compare", "--dataset", "humaneval", "--limit", "2", "--mock", "--home", str(tmp_path)]
    assert main([*args, "--adapters", "on"]) == 2
    assert "trained on 1 of the evaluated problems (HumanEval/1)" in capsys.readouterr().out
    assert not (tmp_path / "compare").exists()
    # Without --adapters the fleet's adapters are served, so they are checked too.
    problems = load_dataset("humaneval")[:2]
    with pytest.raises(AdapterError, match="HumanEval/1"):
        compare.check_adapters(Context(), problems, None)
    compare.check_adapters(Context(), problems, None, mock=True)  # the mock serves none
    compare.check_adapters(Context(), problems[:1], None)


def test_compare_adapters_on_needs_adapters_and_off_needs_the_local_endpoint(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HI_MOE_FLEET_PATH", str(tmp_path / "fleet.toml"))
    (tmp_path / "fleet.toml").write_text(REPO_FLEET.read_text().replace("adapter =", "# adapter ="))
    args = ["compare", "--limit", "1", "--mock", "--home", str(tmp_path)]
    assert main([*args, "--adapters", "on"]) == 2
    assert "no adapter is trained for qwen2.5-coder-1.5b" in capsys.readouterr().out
    remote = ["compare", "--limit", "1", "--home", str(tmp_path), "--adapters", "off"]
    assert main([*remote, "--endpoint", "http://127.0.0.1:9/v1"]) == 2
    assert "--adapters off needs the embedded local endpoint" in capsys.readouterr().out


def test_compare_adapters_off_runs_with_the_mock(tmp_path, monkeypatch, capsys):
    fake_adapter(tmp_path / "adapters" / "python", problem_ids=["builtin/0"])
    fleet = fleet_with_adapter(tmp_path, "adapters/python/adapter.gguf")
    monkeypatch.setenv("HI_MOE_FLEET_PATH", str(fleet))
    args = ["compare", "--limit", "1", "--mock", "--home", str(tmp_path), "--adapters", "off"]
    assert main(args) == 0  # builtin/0 is in the adapter's data, but no adapter is served
    assert "| hierarchy | 1 |" in capsys.readouterr().out


def test_modal_training_job_is_validated_before_anything_is_sent():
    from modal_app.train_adapter import TrainJob, app, train

    job = TrainJob(specialist="python", data='{"x": 1}\n')
    assert job.volume_dir == "/adapters/python" and job.rank == 16
    assert job.base_model == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert app.name == "hi-moe-train" and callable(train.remote)
    for bad in ({"specialist": "a/b"}, {"rank": 12}, {"steps": 0}, {"data": " "}):
        with pytest.raises(ValueError):
            TrainJob(**{"specialist": "python", "data": "x", **bad})
