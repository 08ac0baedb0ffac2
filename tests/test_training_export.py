"""`hi-moe export-training` and `hi-moe bench`: settled decisions only, split by thread."""

import json

from hi_moe.cli.main import main
from hi_moe.routing.log import RoutingLog
from hi_moe.routing.training_export import in_validation


def test_export_writes_only_settled_decisions_split_by_thread(tmp_path, capsys):
    log = RoutingLog(tmp_path / "routing.sqlite")
    for index in range(40):
        decision = log.record(f"t{index}", 0, f"task {index}", "ensemble", {"a": 0.6}, ["a", "b"])
        log.record_outcome(decision, {"a": index % 2 == 0, "b": True})
    log.record("unfinished", 0, "pending task", "winner_take_all", {"a": 1.0}, ["a"])
    out = tmp_path / "export"
    code = main(["export-training", "--home", str(tmp_path), "--out", str(out)])
    assert code == 0 and "1 decisions without a known outcome skipped" in capsys.readouterr().out
    train = [json.loads(x) for x in (out / "routing_train.jsonl").read_text().splitlines()]
    val = [json.loads(x) for x in (out / "routing_validation.jsonl").read_text().splitlines()]
    assert len(train) + len(val) == 40 and train and val
    assert not {r["thread_id"] for r in train} & {r["thread_id"] for r in val}
    assert all(in_validation(r["thread_id"], 0.2) for r in val)
    first = next(r for r in train + val if r["task"] == "task 1")
    assert first["label"] == "b" and first["passed"] == {"a": False, "b": True}


def test_export_without_a_log_is_a_clear_error(tmp_path, capsys):
    assert main(["export-training", "--home", str(tmp_path / "none")]) == 2
    assert "no routing log" in capsys.readouterr().out


def test_bench_routing_prints_accuracy_confusion_and_latency(tmp_path, capsys):
    assert main(["bench", "routing", "--split", "dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "top-1 accuracy" in out and "p50" in out and "| label \\ predicted |" in out
    report = json.loads((tmp_path / "routing.json").read_text())
    assert report["examples"] == 60 and 0 <= report["accuracy"] <= 1


def test_bench_routines_reports_what_each_relevance_bar_keeps(tmp_path, capsys):
    assert main(["bench", "routines", "--out", str(tmp_path)]) == 0
    assert "| 0.5 (setting) |" in capsys.readouterr().out
    report = json.loads((tmp_path / "routines.json").read_text())
    assert report["tasks"] == 378 and report["related_median"] < report["unrelated_median"]
    kept = [row["related_kept"] for row in report["rows"]]
    assert kept == sorted(kept) and kept[0] > 0 and kept[-1] == 1


def test_bench_ensemble_reports_the_fan_out(tmp_path, capsys):
    assert main(["bench", "ensemble", "--latency", "0.2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "ensemble.json").read_text())
    assert report["k"] == 3 and report["fan_out_s"] >= 0.2


def test_bench_sandbox_reports_the_isolation_and_timings(tmp_path, capsys):
    assert main(["bench", "sandbox", "--runs", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "default isolation here:" in out and "median" in out
    assert (tmp_path / "sandbox.md").read_text().startswith("default isolation here:")


def test_bench_overhead_and_throughput_report_their_numbers(tmp_path, capsys):
    args = ["--latency", "0.01", "--out", str(tmp_path)]
    assert main(["bench", "overhead", *args]) == 0
    report = json.loads((tmp_path / "overhead.json").read_text())
    assert report["problems"] == 8 and report["checkpoint_bytes_per_step"] > 0
    assert {"monitor", "architect", "specialist", "validate"} <= set(report["overhead_ms_per_node"])
    assert report["seconds_per_problem"] >= report["llm_seconds_per_problem"] > 0
    assert main(["bench", "throughput", *args]) == 0
    rates = json.loads((tmp_path / "throughput.json").read_text())["problems_per_minute"]
    assert set(rates) == {"1", "2", "4"} and all(rate > 0 for rate in rates.values())
