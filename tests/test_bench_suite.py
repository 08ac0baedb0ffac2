"""`hi-moe bench`: every suite into one report, the suite registry, Ctrl-C and bad input."""

import json

import pytest

from evals import bench_suite, compare
from evals.bench_suite import ALL, SUITES, Interrupted, Suite, SuiteResult, select_suites
from hi_moe.cli.main import main
from hi_moe.errors import UserError

TINY = ["--runs", "1", "--split", "dev", "--k", "2", "--latency", "0.01", "--problems", "1",
        "--limit", "1", "--mock"]  # fmt: skip
TABLE = SuiteResult({"value": 1}, "one fake number\n\n| value |\n|---|\n| 1 |")


def section(markdown: str, name: str) -> str:
    """The part of report.md under a suite's heading."""
    return markdown.split(f"## {name}: ")[1].split("\n## ")[0]


def test_bench_without_a_suite_writes_one_report_with_every_suite(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), *TINY]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert list(report["suites"]) == list(SUITES) and report["not_run"] == []
    assert {s["status"] for s in report["suites"].values()} == {"done"}
    assert {"cores", "python", "platform", "commit", "date"} <= set(report["machine"])
    assert report["machine"]["cores"] >= 1 and report["settings"]["limit"] == 1
    markdown = (tmp_path / "report.md").read_text()
    assert markdown.startswith("# hi-moe benchmark report\n\n| cores | python |")
    for name in SUITES:
        assert section(markdown, name).startswith("done after")
        assert "|---|" in section(markdown, name), name
        assert (tmp_path / f"{name}.json").exists()
    model = report["suites"]["model"]["results"]
    assert model["problem_ids"] == ["HumanEval/0"] and not model["interrupted"]
    runs = {r["system"]: r for r in model["runs"]}
    assert set(runs) == {"baseline", "hierarchy"}
    # Adaptive depth: a problem the scripted model answers right costs the hierarchy one call.
    assert runs["baseline"]["calls"] == 1 and runs["hierarchy"]["calls"] == 1
    for run in runs.values():
        assert run["passed"] and run["prompt_tokens"] > 0 and run["completion_tokens"] > 0
    assert "| baseline | 1 | 100.0%" in section(markdown, "model")
    assert "completion tokens/s" in section(markdown, "model")


def test_one_suite_writes_only_its_own_files(tmp_path, capsys):
    assert main(["bench", "model", "--mock", "--limit", "2", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "report.json").exists()
    data = json.loads((tmp_path / "model.json").read_text())
    assert {(r["problem_id"], r["system"]) for r in data["runs"]} == {
        (p, s) for p in ("HumanEval/0", "HumanEval/1") for s in ("baseline", "hierarchy")
    }
    assert "| HumanEval/1 | hierarchy | pass |" in (tmp_path / "model.md").read_text()


def fake(name: str, outcome: SuiteResult | BaseException) -> Suite:
    """A registry entry whose suite returns `outcome` or raises it."""

    def run(settings, tick) -> SuiteResult:
        tick(1, 1)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return Suite(name, f"fake {name}", run)


def use_suites(monkeypatch, *suites: Suite) -> None:
    monkeypatch.setattr(bench_suite, "SUITES", {s.name: s for s in suites})


@pytest.mark.parametrize(
    "stop, partial",
    [(KeyboardInterrupt(), {}), (Interrupted(SuiteResult({"done": 3}, "partial")), {"done": 3})],
)
def test_ctrl_c_keeps_the_finished_suites(tmp_path, monkeypatch, capsys, stop, partial):
    use_suites(monkeypatch, fake("first", TABLE), fake("second", stop), fake("third", TABLE))
    assert main(["bench", "--out", str(tmp_path)]) == 130
    suites = json.loads((tmp_path / "report.json").read_text())["suites"]
    assert suites["first"]["status"] == "done" and suites["first"]["results"] == {"value": 1}
    assert suites["second"]["status"] == "interrupted"
    assert suites["second"]["results"] == partial and "third" not in suites
    markdown = (tmp_path / "report.md").read_text()
    assert "| 1 |" in section(markdown, "first")
    assert "not run (interrupted first): third" in markdown
    assert "interrupted" in capsys.readouterr().out


def test_a_failing_suite_is_reported_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    broken = fake("broken", UserError("llama-cpp-python is missing"))
    use_suites(monkeypatch, fake("first", TABLE), broken, fake("third", TABLE))
    assert main(["bench", "--out", str(tmp_path)]) == 2
    suites = json.loads((tmp_path / "report.json").read_text())["suites"]
    assert [s["status"] for s in suites.values()] == ["done", "failed", "done"]
    assert suites["broken"]["error"] == "llama-cpp-python is missing"
    assert "error: llama-cpp-python is missing" in (tmp_path / "report.md").read_text()
    use_suites(monkeypatch, fake("first", TABLE), fake("bug", RuntimeError("oops")))
    assert main(["bench", "--out", str(tmp_path)]) == 1


def test_the_model_suite_reports_the_problems_finished_before_ctrl_c(tmp_path, monkeypatch, capsys):
    def stopped(problems, context, store, *args, **kwargs):
        first = problems[0].id
        store.add([compare.Row(first, "baseline", True, 10, 1, 0.1, False),
                   compare.Row(first, "hierarchy", False, 50, 3, 0.5, True)])  # fmt: skip
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_compare", stopped)
    assert main(["bench", "model", "--mock", "--out", str(tmp_path)]) == 130
    data = json.loads((tmp_path / "model.json").read_text())
    assert data["interrupted"] and [r["system"] for r in data["runs"]] == ["baseline", "hierarchy"]
    assert len(data["problem_ids"]) == 5
    assert "interrupted after 1" in (tmp_path / "model.md").read_text()


@pytest.mark.parametrize("args", [["nope"], ["routing", "nope"], ["--skip", "nope"]])
def test_an_unknown_suite_is_one_clear_error(tmp_path, capsys, args):
    assert main(["bench", *args, "--out", str(tmp_path)]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("error: unknown suite 'nope'") and len(out.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_bad_settings_are_clear_errors(tmp_path, capsys):
    assert main(["bench", "sandbox", "--runs", "0", "--out", str(tmp_path)]) == 2
    assert "--runs must be at least 1" in capsys.readouterr().out


def test_fast_and_skip_leave_suites_out():
    assert select_suites([], [], fast=False) == list(SUITES)
    assert not {"model", "horizon"} & set(select_suites([ALL], [], fast=True))
    assert select_suites([], ["model", "routing"], fast=False) == [
        "routines", "ensemble", "sandbox", "overhead", "throughput", "horizon"
    ]  # fmt: skip
    assert select_suites(["sandbox", "routing"], [], fast=False) == ["routing", "sandbox"]
    with pytest.raises(UserError, match="nothing to run"):
        select_suites(["model"], [], fast=True)


def test_bench_help_lists_every_suite(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in SUITES) and "--fast" in out and "--skip" in out
