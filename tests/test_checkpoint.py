"""Checkpoint stores: a new SQLite file, refusing corrupt or foreign files, and PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid

import pytest

from graph.builder import build_graph
from graph.checkpoint import CheckpointError, open_checkpointer
from hi_moe.cli.main import main

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# --- SQLite --------------------------------------------------------------------------------------


def test_new_sqlite_file_is_created_with_the_saver_tables(tmp_path):
    path = tmp_path / "nested" / "dir" / "checkpoints.sqlite"
    with open_checkpointer(str(path)) as saver:
        graph = build_graph(saver)
        assert graph.get_state({"configurable": {"thread_id": "nothing"}}).values == {}
    assert path.is_file()
    assert {"checkpoints", "writes"} <= tables(path)
    # An existing checkpoint file opens again.
    with open_checkpointer(str(path)) as saver:
        assert list(saver.list({"configurable": {"thread_id": "nothing"}})) == []


GARBAGE = random.Random(0).randbytes(4096)
"""Fixed bytes: a random header whose write-version byte happens to say WAL (about 1 draw in
256) makes SQLite create journal files, the case the WAL header below pins."""


def test_empty_file_is_accepted_as_new(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    with open_checkpointer(str(path)):
        pass
    assert {"checkpoints", "writes"} <= tables(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (GARBAGE, "not a SQLite database"),
        (b"SQLite format 3\x00" + GARBAGE, "corrupt"),
        (b"SQLite format 3\x00\x10\x00\x02\x02" + GARBAGE, "corrupt"),
        (b"just some text\n", "not a SQLite database"),
    ],
    ids=["random-bytes", "sqlite-header-then-garbage", "wal-header-then-garbage", "text"],
)
def test_corrupt_file_raises_and_is_untouched(tmp_path, content, reason):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=reason) as error, open_checkpointer(str(path)):
        pytest.fail("a corrupt checkpoint file was opened")
    assert str(path) in str(error.value)
    assert path.read_bytes() == content
    assert sorted(os.listdir(tmp_path)) == ["broken.sqlite"]


def test_foreign_sqlite_database_raises_and_is_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="customers") as error, open_checkpointer(str(path)):
        pytest.fail("a foreign database was opened")
    assert "another program" in str(error.value)
    assert path.read_bytes() == before
    assert tables(path) == {"customers"}


def test_directory_and_unusable_paths_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="directory"), open_checkpointer(str(tmp_path)):
        pass
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    with (
        pytest.raises(CheckpointError, match="cannot create"),
        open_checkpointer(str(blocker / "checkpoints.sqlite")),
    ):
        pass
    assert blocker.read_text() == "keep me"


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_unreachable_postgres_is_a_quick_clear_error():
    started = time.monotonic()
    with (
        pytest.raises(CheckpointError, match="cannot connect to PostgreSQL") as error,
        open_checkpointer("postgresql://postgres@127.0.0.1:1/test"),
    ):
        pass
    assert time.monotonic() - started < 10
    assert "127.0.0.1" in str(error.value) and "\n" not in str(error.value)


def test_unreachable_postgres_from_the_cli(tmp_path, capsys):
    url = "postgresql://postgres@127.0.0.1:1/test"
    code = main(["solve", "--mock", "--problem", "1", "--checkpoint", url, "--home", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 2
    assert "Traceback" not in out
    assert out.startswith("error:") and "cannot connect to PostgreSQL" in out


@pytest.fixture
def postgres_url() -> str:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432: {reason}")
    return PG_URL


def test_postgres_solve_then_resume_reports_finished(postgres_url, tmp_path, capsys):
    thread = f"pg-test-{uuid.uuid4().hex[:8]}"
    home = ["--home", str(tmp_path)]
    try:
        code = main(
            ["solve", "--mock", "--problem", "1", "--checkpoint", postgres_url]
            + ["--thread", thread, "--quiet", *home]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        assert "status solved" in out
        result = json.loads((tmp_path / "results" / f"{thread}.json").read_text())
        assert result["status"] == "solved" and result["hidden"]["passed"] is True
        assert not (tmp_path / "checkpoints.sqlite").exists()

        with open_checkpointer(postgres_url) as saver:
            snapshot = build_graph(saver).get_state({"configurable": {"thread_id": thread}})
            assert snapshot.values["result"].status == "solved"

        code = main(["resume", thread, *home])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "already finished" in out and "solved" in out

        code = main(["threads", "--json", *home])
        [row] = json.loads(capsys.readouterr().out)
        assert row["thread_id"] == thread and row["status"] == "solved"
    finally:
        with open_checkpointer(postgres_url) as saver:
            saver.delete_thread(thread)
