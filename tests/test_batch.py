"""Batch: one problem's failing endpoint never ends the others; a dead endpoint stops the batch."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from graph.context import Context
from hi_moe.app.batch import DEAD_AFTER, Batch, Unfinished
from hi_moe.cli.main import main
from hi_moe.errors import EXIT_INCOMPLETE
from hi_moe.llm.client import EndpointError
from hi_moe.llm.endpoints import required_models
from hi_moe.llm.fake.endpoint import FakeEndpoint
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.problems.datasets import load_dataset


@dataclass(frozen=True)
class Item:
    id: str


def solve_unless(failing: set[str]):
    """Work that gives up (an EndpointError) on the items named in `failing`."""

    def work(item: Item, thread: str) -> str:
        if item.id in failing:
            raise EndpointError(f"http://x/v1 answered HTTP 500 ({item.id})")
        return f"{item.id} done in {thread}"

    return work


def thread_of(item: Item) -> str:
    return f"thread-{item.id}"


def test_a_given_up_problem_is_recorded_and_the_batch_goes_on(capsys):
    batch = Batch("run-1")
    items = [Item("a"), Item("b"), Item("c")]
    assert batch.run(items, thread_of, solve_unless({"b"})) == [
        "a done in thread-a", "c done in thread-c"
    ]  # fmt: skip
    assert batch.unfinished == [Unfinished("b", "thread-b", "http://x/v1 answered HTTP 500 (b)")]
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gave up on b in thread thread-b: http://x/v1 answered HTTP 500")
    assert line.endswith("`hi-moe resume thread-b` keeps its work")
    assert batch.exit_code() == EXIT_INCOMPLETE
    assert "the same command with --run-id run-1 resumes them" in capsys.readouterr().err


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_dead_endpoint_stops_the_batch_after_consecutive_give_ups(capsys, concurrency):
    items = [Item(str(n)) for n in range(DEAD_AFTER + 3)]
    batch = Batch("run-2")
    assert batch.run(items, thread_of, solve_unless({i.id for i in items}), concurrency) == []
    statuses = [u.status for u in batch.unfinished]
    assert statuses.count("interrupted") >= DEAD_AFTER and "not_started" in statuses
    assert f"stopping early: the endpoint failed {DEAD_AFTER} problems in a row" in (
        capsys.readouterr().err
    )


def test_a_finished_problem_resets_the_count_of_give_ups_in_a_row():
    items = [Item(str(n)) for n in range(2 * DEAD_AFTER)]
    failing = {i.id for n, i in enumerate(items) if n % DEAD_AFTER}  # one success per DEAD_AFTER
    batch = Batch("run-3")
    batch.run(items, thread_of, solve_unless(failing))
    assert {u.status for u in batch.unfinished} == {"interrupted"}
    assert len(batch.unfinished) == len(failing)


def test_a_complete_batch_exits_zero(capsys):
    batch = Batch("run-4")
    batch.run([Item("a")], thread_of, solve_unless(set()))
    assert batch.exit_code() == 0 and capsys.readouterr().err == ""


def test_other_errors_are_not_swallowed():
    def broken(item: Item, thread: str) -> str:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        Batch("run-5").run([Item("a")], thread_of, broken)


def test_solve_all_against_a_dead_endpoint_stops_early_and_lists_every_problem(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HI_MOE_ENDPOINT_RETRIES", "0")
    problems = load_dataset("builtin")
    models = sorted(required_models(Context()))
    with FakeEndpoint(models, ScriptedModel(problems)) as endpoint:
        endpoint.fail_next(500, times=1000)
        code = main(["solve", "--all", "--endpoint", endpoint.base_url, "--run-id", "dead",
                     "--home", str(tmp_path), "--quiet"])  # fmt: skip
        assert len(endpoint.requests) == DEAD_AFTER
    assert code == EXIT_INCOMPLETE
    rows = json.loads((tmp_path / "results" / "batch-dead.json").read_text())
    assert [r["problem_id"] for r in rows] == [p.id for p in problems]
    assert [r["status"] for r in rows] == ["interrupted"] * DEAD_AFTER + ["not_started"] * (
        len(problems) - DEAD_AFTER
    )
    err = capsys.readouterr().err
    assert err.count("gave up on builtin/") == DEAD_AFTER and "stopping early" in err
