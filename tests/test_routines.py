"""The routine cache: storage, retrieval without leakage, old schemas, corrupt stores."""

from __future__ import annotations

import chromadb
from chromadb.config import Settings

from hi_moe.routing.routines import Routine, RoutineCache


def routine(source: str, summary: str) -> Routine:
    return Routine(
        source_id=source,
        summary=summary,
        strategy="one pass",
        interface=f"def f_{source.replace('/', '_')}(x)",
        solution="def f(x):\n    return x\n",
    )


def test_routines_are_retrieved_by_similarity_and_never_from_the_same_problem(tmp_path):
    cache = RoutineCache(tmp_path / "routines")
    cache.add(routine("builtin/0", "Reverse a string and return it"))
    cache.add(routine("builtin/1", "Return True if the integer is even"))
    cache.add(routine("builtin/0", "Reverse a string and return it"))  # same routine: upsert
    assert cache.count() == 2
    found = cache.similar("reverse the characters of a text", set(), 1)
    assert [r.source_id for r in found] == ["builtin/0"]
    assert 0 <= found[0].distance < 1
    unleaked = cache.similar("reverse the characters of a text", {"builtin/0"}, 2)
    assert [r.source_id for r in unleaked] == ["builtin/1"]
    assert cache.similar("anything", set(), 0) == []


def test_a_routine_beyond_the_relevance_bar_is_left_out(tmp_path):
    cache = RoutineCache(tmp_path / "routines")
    cache.add(routine("builtin/0", "Reverse a string and return it"))
    cache.add(routine("builtin/1", "Return True if the integer is even"))
    query = "reverse the characters of a text"
    near, far = cache.similar(query, set(), 2)
    assert near.distance <= 0.5 < far.distance
    assert [r.source_id for r in cache.similar(query, set(), 2, max_distance=0.5)] == ["builtin/0"]


def test_a_cache_from_an_older_schema_is_dropped(tmp_path):
    store = tmp_path / "routines"
    client = chromadb.PersistentClient(
        path=str(store), settings=Settings(anonymized_telemetry=False)
    )
    old = client.get_or_create_collection("routines-v0")
    old.add(ids=["x"], documents=["old"], embeddings=[[0.1] * 384], metadatas=[{"a": 1}])
    del client
    cache = RoutineCache(store)
    assert cache.count() == 0
    cache.add(routine("builtin/2", "Sum a list"))
    assert [r.source_id for r in cache.similar("sum", set(), 3)] == ["builtin/2"]


def test_a_corrupt_store_is_rebuilt(tmp_path):
    store = tmp_path / "routines"
    store.mkdir()
    (store / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    cache = RoutineCache(store)
    cache.add(routine("builtin/3", "Count vowels"))
    assert cache.count() == 1


def test_solved_parts_become_routines_the_architect_sees(make_harness):
    harness = make_harness()
    harness.solve("builtin/1")  # is_even
    state = harness.solve("builtin/11")  # sum_of_evens: a related routine
    assert state.routines_used and all(r.source_id == "builtin/1" for r in state.routines_used)
    assert "Similar parts solved before" in harness.prompts("architect")[-1]
    again = harness.solve("builtin/1")
    assert all(r.source_id != "builtin/1" for r in again.routines_used)


def test_an_unrelated_routine_never_reaches_the_architect(make_harness):
    harness = make_harness()
    harness.solve("builtin/0")  # reverse_string
    state = harness.solve("builtin/3")  # factorial: nothing in common
    assert state.routines_used == []
    assert "Similar parts solved before" not in harness.prompts("architect")[-1]


def test_routines_can_be_turned_off(make_harness):
    harness = make_harness()
    harness.solve("builtin/0", routines_shown=0)
    state = harness.solve("builtin/3", routines_shown=0)
    assert state.routines_used == []
    assert "Similar parts solved before" not in harness.prompts("architect")[-1]
