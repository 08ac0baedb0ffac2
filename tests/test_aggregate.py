"""`hi-moe aggregate`: several runs' result files in one table with means and spread."""

from hi_moe.cli.main import main


def test_aggregate_two_batches(tmp_path, capsys):
    for run in ("a", "b"):
        home = str(tmp_path / run)
        assert main(["solve", "--mock", "--all", "--limit", "2", "--home", home]) == 0
    capsys.readouterr()
    batches = sorted(tmp_path.glob("*/results/batch-*.json"))
    assert main(["aggregate", *map(str, batches)]) == 0
    out = capsys.readouterr().out
    assert out.count("| batch-") == 2 and "| mean ± sd over 2 runs | 4 | 1 ± 0 |" in out


def test_aggregate_refuses_foreign_or_corrupt_files(tmp_path, capsys):
    (tmp_path / "old.json").write_text('[{"version": 0}]')
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["aggregate", str(tmp_path / "old.json")]) == 2
    assert "not a hi-moe result file of version" in capsys.readouterr().out
    assert main(["aggregate", str(tmp_path / "bad.json")]) == 2
    assert "cannot read result file" in capsys.readouterr().out
