"""`hi-moe costs`: per tier, model and thread from the call log, with a chart."""

from hi_moe.cli.main import main


def test_costs_report_after_a_run(tmp_path, capsys):
    home = str(tmp_path)
    assert (
        main(
            ["solve", "--mock", "--problem", "0", "--home", home, "--thread", "t1", "--always-plan"]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["costs", "t1", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "| tier |" in out and "| architect | 1 |" in out and "| t1 | 3 |" in out
    assert (tmp_path / "costs.png").read_bytes()[:4] == b"\x89PNG"


def test_costs_of_unknown_threads_or_without_a_log_are_clear_errors(tmp_path, capsys):
    assert main(["costs", "--home", str(tmp_path / "empty")]) == 2
    assert "no call log" in capsys.readouterr().out
    assert main(["solve", "--mock", "--problem", "0", "--home", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["costs", "nope", "--home", str(tmp_path)]) == 2
    assert "no calls logged for thread(s) nope" in capsys.readouterr().out
