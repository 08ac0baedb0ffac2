"""The hi-moe state machine: four tiers as nodes, routing and self-correction as edges."""

from __future__ import annotations

from typing import TypeAlias

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.context import Context
from graph.edges import after_monitor, after_select, to_specialists
from graph.state import InputState, SpecialistInput, State
from nodes import architect, dispatcher, finalize, monitor, select, specialist, validate

Graph: TypeAlias = CompiledStateGraph[State, Context, InputState, State]
"""The compiled hi-moe graph: its state, runtime context, input and output types."""


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> Graph:
    """Compile the graph; `langgraph dev` uses it without a checkpointer (it brings its own)."""
    builder = StateGraph(State, context_schema=Context, input_schema=InputState)
    builder.add_node("monitor", monitor.node)
    builder.add_node("architect", architect.node)
    builder.add_node("dispatcher", dispatcher.node)
    builder.add_node("specialist", specialist.node, input_schema=SpecialistInput)
    builder.add_node("validate", validate.node)
    builder.add_node("select", select.node)
    builder.add_node("finalize", finalize.node)

    builder.add_edge(START, "monitor")
    builder.add_conditional_edges("monitor", after_monitor)
    builder.add_edge("architect", "dispatcher")
    builder.add_conditional_edges("dispatcher", to_specialists, ["specialist"])
    builder.add_edge("specialist", "validate")
    builder.add_edge("validate", "select")
    builder.add_conditional_edges("select", after_select, ["specialist", "monitor"])
    builder.add_edge("finalize", END)
    return builder.compile(checkpointer=checkpointer, name="hi-moe")


graph = build_graph()
