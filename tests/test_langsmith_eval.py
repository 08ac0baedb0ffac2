"""LangSmith evaluation offline: mock model, local examples, no network, no hidden tests leaked."""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from langsmith import utils as ls_utils
from langsmith.schemas import Example

from evals.langsmith_eval import (
    EvalSummary,
    dataset_name,
    example_inputs,
    local_examples,
    render,
    run_eval,
    synced_examples,
)
from hi_moe.app.runs import Solver
from hi_moe.errors import EXIT_INCOMPLETE
from hi_moe.llm.client import EndpointError
from hi_moe.problems.datasets import load_dataset

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture
def network_blocked(monkeypatch) -> list:
    """Refuse (and record) every name lookup or connection to a non-loopback host."""
    attempts: list = []

    def guard(host: object) -> None:
        if isinstance(host, str) and host not in LOOPBACK:
            attempts.append(host)
            raise OSError(f"network blocked in tests: {host}")

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_create = socket.create_connection

    def getaddrinfo(host, *args, **kwargs):
        guard(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple):
            guard(address[0])
        return real_connect(self, address)

    def create_connection(address, *args, **kwargs):
        guard(address[0])
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return attempts


@pytest.fixture
def tracing_requested():
    """The hostile setting: tracing on in the environment but no API key."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
            mp.delenv(name, raising=False)
        mp.setenv("LANGSMITH_TRACING", "true")
        ls_utils.get_env_var.cache_clear()  # langsmith caches environment variables
        yield
    ls_utils.get_env_var.cache_clear()


def test_offline_eval_is_silent_and_local(tmp_path, network_blocked, tracing_requested, capfd):
    summary = run_eval("builtin", tmp_path, mock=True, limit=3)

    assert summary.experiment == "offline"
    assert [r["problem_id"] for r in summary.rows] == ["builtin/0", "builtin/1", "builtin/2"]
    assert all(r["hidden_pass"] == 1 for r in summary.rows)
    assert all(r["total_tokens"] > 0 and r["llm_calls"] > 0 for r in summary.rows)
    assert all(r["visible_pass"] == 1.0 for r in summary.rows)
    assert summary.means["hidden_pass"] == 1.0
    assert network_blocked == []
    out, err = capfd.readouterr()
    for word in ("langsmith", "api key", "warning", "error", "traceback", "connect"):
        assert word not in err.lower(), err
    assert "Starting evaluation" not in out


@pytest.mark.parametrize("dataset", ["builtin", "math", "humaneval"])
def test_examples_hold_no_hidden_tests(dataset):
    problems = load_dataset(dataset)
    examples = local_examples(dataset, problems)
    for problem, example in zip(problems, examples, strict=True):
        assert example.outputs is None
        assert example.inputs == {
            "problem_id": problem.id,
            "task": problem.visible_task().model_dump(mode="json"),
        }
        text = json.dumps([example.inputs, example.metadata])
        visible = {t.call for t in problem.visible_tests}
        for test in problem.hidden_tests:
            if test.call not in visible:
                assert json.dumps(test.call)[1:-1] not in text
        if problem.hidden_check:
            assert problem.hidden_check.removeprefix(problem.statement).strip() not in text


def test_examples_have_stable_ids():
    problems = load_dataset("builtin")[:2]
    first, again = local_examples("builtin", problems), local_examples("builtin", problems)
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == 2


class FakeClient:
    """The few dataset calls `synced_examples` makes, kept in memory."""

    def __init__(self) -> None:
        self.examples: dict[uuid.UUID, Example] = {}
        self.datasets: set[str] = set()
        self.created = self.updated = 0

    def has_dataset(self, *, dataset_name: str) -> bool:
        return dataset_name in self.datasets

    def create_dataset(self, name: str, **_: object) -> None:
        self.datasets.add(name)

    def list_examples(self, *, dataset_name: str) -> list[Example]:
        return list(self.examples.values())

    def create_examples(self, *, dataset_name: str, examples: list[dict]) -> None:
        for e in examples:
            example_id = uuid.uuid4()
            self.examples[example_id] = Example(id=example_id, **e)
            self.created += 1

    def update_examples(self, *, dataset_name: str, updates: list[dict]) -> None:
        for u in updates:
            old = self.examples[u["id"]]
            self.examples[u["id"]] = old.model_copy(update={"inputs": u["inputs"]})
            self.updated += 1


def test_sync_creates_missing_and_updates_changed_examples():
    client = FakeClient()
    problems = load_dataset("builtin")[:3]
    examples = synced_examples(client, "builtin", problems)
    assert client.datasets == {"hi-moe-builtin"}
    assert [e.inputs for e in examples] == [example_inputs(p) for p in problems]
    assert all(e.outputs is None for e in examples)

    changed = problems[0].model_copy(update={"statement": "def reverse_string(s): ..."})
    again = synced_examples(client, "builtin", [changed, *problems[1:], load_dataset("builtin")[3]])
    assert (client.created, client.updated) == (4, 1)
    assert again[0].inputs == example_inputs(changed)
    assert synced_examples(client, "builtin", problems[1:2])[0].id == examples[1].id


def test_dataset_names():
    assert dataset_name("builtin") == "hi-moe-builtin"
    assert dataset_name("some/dir/extra.jsonl") == "hi-moe-extra"


def test_render_shows_rows_and_means():
    rows = [
        {
            "problem_id": "builtin/0",
            "status": "solved",
            "hidden_pass": 1,
            "visible_pass": 1.0,
            "total_tokens": 700,
            "llm_calls": 3,
        },
        {
            "problem_id": "builtin/1",
            "status": "failed",
            "hidden_pass": 0,
            "visible_pass": None,
            "total_tokens": 901,
            "llm_calls": 5,
        },
    ]
    summary = EvalSummary("offline", rows, {"hidden_pass": 0.5, "total_tokens": 800.5})
    text = render(summary)
    assert "experiment: offline" in text
    assert "builtin/1" in text and "failed" in text
    assert "mean" in text and "0.50" in text and "800.50" in text


def test_eval_command_runs_offline_through_langsmith_evaluate(tmp_path, capsys):
    from hi_moe.cli.main import main

    assert main(["eval", "--dataset", "builtin", "--mock", "--limit", "2",
                 "--home", str(tmp_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "builtin/0" in out and "builtin/1" in out and "mean" in out


def test_eval_keeps_going_past_a_given_up_problem_and_the_run_id_resumes_it(
    tmp_path, capsys, monkeypatch
):
    from hi_moe.cli.main import main

    real = Solver.solve

    def flaky(self, problem, thread_id, on_step=None):
        if problem.id == "builtin/0":
            raise EndpointError("http://x/v1 answered HTTP 500 (gave up after 4 tries)")
        return real(self, problem, thread_id, on_step)

    monkeypatch.setattr(Solver, "solve", flaky)
    args = ["eval", "--mock", "--limit", "2", "--home", str(tmp_path), "--run-id", "e1"]
    assert main(args) == EXIT_INCOMPLETE
    data = json.loads((tmp_path / "eval" / "e1.json").read_text())
    statuses = {row["problem_id"]: row["status"] for row in data["rows"]}
    assert statuses == {"builtin/0": "unfinished", "builtin/1": "solved"}
    assert data["means"]["hidden_pass"] == 1.0  # the unfinished problem has no score
    [unfinished] = data["unfinished"]
    assert f"gave up on builtin/0 in thread {unfinished['thread_id']}" in capsys.readouterr().err

    monkeypatch.setattr(Solver, "solve", real)
    assert main(args) == 0
    data = json.loads((tmp_path / "eval" / "e1.json").read_text())
    assert {row["status"] for row in data["rows"]} == {"solved"} and data["unfinished"] == []
