"""The versioned SQLite saver: values once per version, growing lists stored as their new items."""

from __future__ import annotations

import operator
import sqlite3
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graph.checkpoint import open_checkpointer
from graph.versioned_saver import MAX_CHAIN, VALUES_TABLE
from hi_moe.app.checkpoint_prune import prune_finished

STEPS = 40
ITEM = "x" * 1000


class Growing(TypedDict):
    items: Annotated[list[str], operator.add]
    step: int


def grow(state: Growing) -> dict:
    return {"items": [f"{state['step']}:{ITEM}"], "step": state["step"] + 1}


def growing_graph(saver):
    builder = StateGraph(Growing)
    builder.add_node("grow", grow)
    builder.add_edge(START, "grow")
    builder.add_conditional_edges("grow", lambda s: "grow" if s["step"] < STEPS else END)
    return builder.compile(checkpointer=saver)


def stored(path, channel: str) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT type, length(value) FROM {VALUES_TABLE} WHERE channel = ?", (channel,)
        ).fetchall()


def test_a_growing_list_is_stored_as_its_new_items_and_loads_whole(tmp_path):
    path = tmp_path / "checkpoints.sqlite"
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 2 * STEPS}
    with open_checkpointer(str(path)) as saver:
        final = growing_graph(saver).invoke({"items": [], "step": 0}, config)
    assert len(final["items"]) == STEPS

    rows = stored(path, "items")
    whole = [size for kind, size in rows if not kind.startswith("append|")]
    # Each item is stored about once (plus a whole list every MAX_CHAIN versions); whole copies
    # of every version would take about STEPS**2 / 2 items.
    assert sum(size for _, size in rows) < 4 * STEPS * len(ITEM)
    assert len(rows) == STEPS + 1 and 1 < len(whole) <= STEPS // MAX_CHAIN + 2

    with open_checkpointer(str(path)) as saver:  # a new process: nothing remembered
        graph = growing_graph(saver)
        history = list(graph.get_state_history(config))
        assert graph.get_state(config).values["items"] == final["items"]
        lengths = {len(snapshot.values.get("items", [])) for snapshot in history}
        assert lengths == set(range(STEPS + 1))  # every earlier version rebuilds too
        assert prune_finished(saver, ["t"]) == len(history) - 1
    with open_checkpointer(str(path)) as saver:  # pruning kept the versions the last one extends
        assert growing_graph(saver).get_state(config).values["items"] == final["items"]
    assert len(stored(path, "items")) < len(rows)


class Counters(TypedDict):
    counters: Annotated[list[dict], operator.add]


def test_an_item_changed_in_place_is_stored_again_not_lost(tmp_path):
    def bump(state: Counters) -> dict:
        if state["counters"]:
            state["counters"][0]["n"] += 1  # bad practice, but it must not corrupt the store
        return {"counters": [{"n": 0}]}

    builder = StateGraph(Counters)
    builder.add_node("bump", bump)
    builder.add_edge(START, "bump")
    builder.add_conditional_edges("bump", lambda s: "bump" if len(s["counters"]) < 5 else END)
    path, config = str(tmp_path / "c.sqlite"), {"configurable": {"thread_id": "t"}}
    with open_checkpointer(path) as saver:
        graph = builder.compile(checkpointer=saver)
        final = graph.invoke({"counters": []}, config, durability="sync")
    with open_checkpointer(path) as saver:
        loaded = builder.compile(checkpointer=saver).get_state(config).values
    assert loaded["counters"] == final["counters"]


def test_a_thread_deleted_and_run_again_under_its_id_loads_whole(tmp_path):
    path = str(tmp_path / "checkpoints.sqlite")
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 2 * STEPS}
    with open_checkpointer(path) as saver:
        graph = growing_graph(saver)
        first = graph.invoke({"items": [], "step": 0}, config)
        saver.delete_thread("t")  # the new run's first list extends the deleted run's last one
        again = graph.invoke({"items": [*first["items"], "more"], "step": STEPS - 1}, config)
    with open_checkpointer(path) as saver:
        assert growing_graph(saver).get_state(config).values["items"] == again["items"]
