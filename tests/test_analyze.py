"""`hi-moe analyze`: failures clustered by type and message similarity."""

from evals.analyze import Failure, classify, cluster
from hi_moe.cli.main import main


def test_classify_failure_types():
    assert classify("f(1): error: TypeError: bad operand (line 2: x + [])") == "TypeError"
    assert classify("f(1): failed: expected 3, got 4") == "wrong answer"
    assert classify("timed out after 10 s") == "timeout"
    assert classify("") == "no feedback"


def test_similar_messages_of_one_type_share_a_cluster():
    failures = [
        Failure("p1", "TypeError", "TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
        Failure(
            "p2", "TypeError", "TypeError: unsupported operand type(s) for +: 'int' and 'list'"
        ),
        Failure("p3", "timeout", "timed out after 10 s"),
    ]
    clusters = cluster(failures)
    assert [(c.kind, c.problems) for c in clusters] == [
        ("TypeError", ["p1", "p2"]),
        ("timeout", ["p3"]),
    ]


def test_analyze_command_on_a_run_with_failures(tmp_path, capsys):
    home = str(tmp_path)
    args = ["solve", "--mock", "--all", "--limit", "2", "--mock-wrong-tries", "9"]
    assert main([*args, "--max-retries", "0", "--max-replans", "0", "--home", home]) == 0
    capsys.readouterr()
    batch = next((tmp_path / "results").glob("batch-*.json"))
    assert main(["analyze", str(batch)]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 runs failed their hidden tests" in out and "builtin/0" in out
