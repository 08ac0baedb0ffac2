"""`hi-moe compare-runs`: two compare runs paired by problem, with paired statistics."""

from __future__ import annotations

from evals.compare import Row, RowStore
from evals.compare_runs import pair_system
from hi_moe.cli.main import main


def rows(passes: list[bool], format_errors: list[bool], tokens: int) -> list[Row]:
    return [
        Row(f"p/{i}", "hierarchy", passed, tokens, 3, 1.0, error)
        for i, (passed, error) in enumerate(zip(passes, format_errors, strict=True))
    ]


def test_runs_are_paired_by_problem_with_mcnemar_on_the_discordant_ones():
    off = rows([False] * 8, [True, True, True, True, False, False, False, False], 600)
    on = rows([True, True, True, False, False, False, False, False], [False] * 8, 200)
    extra = Row("p/99", "hierarchy", True, 1, 1, 1.0, False)
    paired = pair_system("hierarchy", off, [*on[:6], extra])
    assert paired is not None and paired.problems == 6  # p/6, p/7 and p/99 are not in both
    assert paired.passed == (0, 3) and paired.ci[0] >= 0.0 and paired.ci[1] > 0.0
    assert paired.pass_p == 0.25  # 3 discordant pairs, all one way: 2 * 0.5**3
    assert paired.format_errors == (4, 0) and paired.format_p == 0.125
    assert paired.tokens == (600, 200) and paired.calls == (3, 3)
    assert pair_system("baseline", off, on) is None


def test_class_runs_also_pair_their_methods_with_a_sign_test(tmp_path, capsys):
    def methods(passed: list[int]) -> list[Row]:
        return [Row(f"c/{i}", "hierarchy", False, 9, 2, 1.0, False, n, 4)
                for i, n in enumerate(passed)]  # fmt: skip

    for run, passed in (("a", [0, 1, 1, 2, 0, 3]), ("b", [1, 2, 2, 3, 1, 3])):
        RowStore(tmp_path / "compare" / f"{run}.json").add(methods(passed))
    paired = pair_system("hierarchy", methods([0, 1, 1, 2, 0, 3]), methods([1, 2, 2, 3, 1, 3]))
    assert paired is not None and paired.methods == (7, 12) and paired.methods_total == 24
    assert paired.methods_p == 0.0625  # 5 classes differ, all one way: 2 * 0.5**5
    assert main(["compare-runs", "a", "b", "--home", str(tmp_path)]) == 0
    assert "| hierarchy | 24 | 7 | 12 | 0.06 |" in capsys.readouterr().out


def test_the_command_reads_run_ids_and_names_a_missing_run(tmp_path, capsys):
    for run, passes in (("off", [False, False]), ("on", [True, False])):
        RowStore(tmp_path / "compare" / f"{run}.json").add(rows(passes, [False, False], 100))
    assert main(["compare-runs", "off", "on", "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "A = off, B = on" in out and "| hierarchy | 2 | 0 | 1 | +50.0%" in out
    assert main(["compare-runs", "off", "gone", "--home", str(tmp_path)]) == 2
    assert "no compare run 'gone'" in capsys.readouterr().out


def test_runs_without_a_shared_problem_are_a_clear_error(tmp_path, capsys):
    RowStore(tmp_path / "a.json").add(rows([True], [False], 10))
    RowStore(tmp_path / "b.json").add([Row("q/0", "hierarchy", True, 10, 1, 1.0, False)])
    assert main(["compare-runs", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    assert "share no finished problem" in capsys.readouterr().out
