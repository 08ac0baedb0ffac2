"""`hi-moe ab-test`: paired statistics and the command on the scripted model."""

import json

import pytest

from evals.ab_test import compare_outcomes
from evals.stats import mcnemar_exact, paired_bootstrap
from hi_moe.app.runs import Solver
from hi_moe.cli.main import main
from hi_moe.errors import EXIT_INCOMPLETE
from hi_moe.llm.client import EndpointError


def test_mcnemar_exact_matches_the_binomial_test():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(3, 3) == 1.0


def test_bootstrap_interval_contains_the_observed_difference():
    a = [True] * 10 + [False] * 10
    b = [True] * 15 + [False] * 5
    low, high = paired_bootstrap(a, b)
    assert low <= 0.25 <= high and low > 0
    report = compare_outcomes("specialist", ("A", "B"), a, b)
    assert report.difference == pytest.approx(0.25) and (report.only_a, report.only_b) == (0, 5)


def test_ab_test_command_on_the_scripted_model(tmp_path, capsys):
    args = ["ab-test", "--tier", "specialist", "--variant", "A=prompts/specialist.md",
            "--variant", "B=prompts/specialist_terse.md", "--mock", "--limit", "2",
            "--home", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    assert "95% paired bootstrap CI" in capsys.readouterr().out
    report = json.loads((tmp_path / "ab" / "specialist-A-vs-B.json").read_text())
    assert report["problems"] == 2 and report["pass_rates"] == [1.0, 1.0]


def test_bad_variants_are_clear_errors(tmp_path, capsys):
    base = ["ab-test", "--tier", "specialist", "--mock", "--home", str(tmp_path)]
    assert main([*base, "--variant", "A=nope.md", "--variant", "B=prompts/specialist.md"]) == 2
    assert "does not exist" in capsys.readouterr().out
    assert main([*base, "--variant", "A=prompts/specialist.md"]) == 2
    assert "exactly two" in capsys.readouterr().out


def test_a_problem_given_up_under_one_variant_is_left_out_and_the_run_id_resumes_it(
    tmp_path, capsys, monkeypatch
):
    real = Solver.solve

    def flaky(self, problem, thread_id, on_step=None):
        if problem.id == "builtin/1" and "-B-" in thread_id:
            raise EndpointError("http://x/v1 timed out (gave up after 4 tries)")
        return real(self, problem, thread_id, on_step)

    monkeypatch.setattr(Solver, "solve", flaky)
    args = ["ab-test", "--tier", "specialist", "--variant", "A=prompts/specialist.md",
            "--variant", "B=prompts/specialist_terse.md", "--mock", "--limit", "2",
            "--home", str(tmp_path), "--run-id", "ab1"]  # fmt: skip
    assert main(args) == EXIT_INCOMPLETE
    report = json.loads((tmp_path / "ab" / "specialist-A-vs-B.json").read_text())
    assert report["problems"] == 1 and report["run_id"] == "ab1"
    [unfinished] = report["unfinished"]
    assert unfinished["problem_id"] == "builtin/1" and "-B-" in unfinished["thread_id"]
    assert "gave up on builtin/1" in capsys.readouterr().err

    monkeypatch.setattr(Solver, "solve", real)
    assert main(args) == 0
    report = json.loads((tmp_path / "ab" / "specialist-A-vs-B.json").read_text())
    assert report["problems"] == 2 and report["unfinished"] == []
