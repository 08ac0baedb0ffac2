"""Estimated cost from the price table, per tier and in the result JSON."""

import json

import pytest

from hi_moe.cli.main import main
from hi_moe.errors import UserError
from hi_moe.llm.call_log import CallRecord
from hi_moe.llm.pricing import cost_by_tier, load_prices


def write(path, text):
    path.write_text(text)
    return str(path)


def test_cost_uses_the_models_price_or_the_default(tmp_path):
    prices = load_prices(
        write(
            tmp_path / "p.toml",
            "[default]\nprompt = 1.0\ncompletion = 2.0\n[python]\nprompt = 10.0\ncompletion = 0\n",
        )
    )
    calls = [
        CallRecord("t", "architect", "architect", 1_000_000, 500_000, 1.0, True),
        CallRecord("t", "specialist", "python", 2_000_000, 100, 1.0, True),
    ]
    assert cost_by_tier(calls, prices) == {"architect": 2.0, "specialist": 20.0}


def test_invalid_price_tables_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_prices(str(tmp_path / "missing.toml"))
    with pytest.raises(UserError, match="invalid"):
        load_prices(write(tmp_path / "bad.toml", "[default]\nprompt = 'x'\n"))


def test_result_json_carries_the_estimated_cost(tmp_path, monkeypatch):
    table = write(tmp_path / "p.toml", "[default]\nprompt = 1000.0\ncompletion = 1000.0\n")
    monkeypatch.setenv("HI_MOE_PRICE_TABLE", table)
    home = tmp_path / "home"
    assert main(["solve", "--mock", "--problem", "0", "--home", str(home), "--quiet"]) == 0
    result = json.loads(next((home / "results").glob("*.json")).read_text())
    assert result["estimated_cost_usd"] == pytest.approx(result["total_tokens"] * 1000 / 1e6)
    assert set(result["cost_by_tier"]) == set(result["tokens"])


def test_a_bad_price_table_fails_before_any_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HI_MOE_PRICE_TABLE", str(tmp_path / "nope.toml"))
    assert main(["solve", "--mock", "--problem", "0", "--home", str(tmp_path / "h")]) == 2
    assert "price table" in capsys.readouterr().out
    assert not (tmp_path / "h" / "calls.sqlite").exists()
