"""`hi-moe threads --prune`: finished threads keep their last checkpoint, unfinished ones all."""

from __future__ import annotations

import uuid

import pytest

from graph.builder import build_graph
from graph.checkpoint import open_checkpointer
from hi_moe.app.registry import RunRegistry, new_record
from hi_moe.app.runs import run_thread
from hi_moe.cli.main import main
from nodes import specialist


class Crash(Exception):
    """Stands in for the process dying inside a node."""


def checkpoints(target: str, thread: str) -> int:
    with open_checkpointer(target) as saver:
        return sum(1 for _ in saver.list({"configurable": {"thread_id": thread}}))


def test_prune_keeps_finished_results_and_unfinished_threads(make_harness, monkeypatch, capsys):
    harness = make_harness()
    home = harness.context.home_dir
    registry = RunRegistry(home / "runs.sqlite")
    finished, unfinished = uuid.uuid4().hex, uuid.uuid4().hex
    for thread in (finished, unfinished):
        registry.add(new_record(thread, "builtin/0", "builtin", harness.checkpoint, {}, mock=True))
    harness.solve("builtin/0", thread_id=finished)

    def crash(text: str) -> str:
        raise Crash("died")

    monkeypatch.setattr(specialist, "extract_code", crash)
    with open_checkpointer(harness.checkpoint) as saver, pytest.raises(Crash):
        run_thread(build_graph(saver), unfinished, harness.context, {"problem_id": "builtin/0"})
    monkeypatch.undo()
    kept_unfinished = checkpoints(harness.checkpoint, unfinished)
    assert checkpoints(harness.checkpoint, finished) > 5

    assert main(["threads", "--prune", "--home", str(home)]) == 0
    assert "pruned" in capsys.readouterr().out
    assert checkpoints(harness.checkpoint, finished) == 1
    assert checkpoints(harness.checkpoint, unfinished) == kept_unfinished
    with open_checkpointer(harness.checkpoint) as saver:
        graph = build_graph(saver)
        done = graph.get_state({"configurable": {"thread_id": finished}})
        assert done.values["result"].status == "solved"
        state = run_thread(graph, unfinished, harness.context, None)
    assert state.result is not None and state.result.status == "solved"
