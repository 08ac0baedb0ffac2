"""The embedded endpoint: a real llama.cpp server with Qwen2.5-Coder-0.5B (the default's family
at a third of its size, to keep the suite short), the whole hierarchy on it."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from langchain_core.messages import HumanMessage

from evals.model_speed import retry_prompt_reuse
from graph.builder import build_graph
from graph.checkpoint import open_checkpointer
from graph.context import Context
from hi_moe.app.runs import run_thread
from hi_moe.llm.call_log import CallLog
from hi_moe.llm.client import EndpointError
from hi_moe.llm.endpoints import client_for, required_models
from hi_moe.llm.local_server import LocalServer, weights_at
from hi_moe.llm.models import MODELS, resolve_model

pytestmark = pytest.mark.integration
MODEL = "qwen2.5-coder-0.5b"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("local-model")
    with LocalServer.for_context(Context(home=str(home), model=MODEL)) as running:
        yield running


def test_every_named_model_is_installed_and_verified():
    for name, spec in MODELS.items():
        path = resolve_model(name).path
        assert path.read_bytes()[:4] == b"GGUF"
        assert spec.size is None or path.stat().st_size == spec.size


def test_the_model_answers_in_its_own_chat_template_and_stops_at_its_end_token(server):
    body = {
        "model": "python",
        "messages": [{"role": "user", "content": "Reply with the single word: yes"}],
        "max_tokens": 64,
        "temperature": 0,
    }
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).json()
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "stop", "generation ran to max_tokens: no stop token"
    text = choice["message"]["content"]
    assert "yes" in text.lower() and "<|im_" not in text


def test_a_retry_evaluates_only_what_its_prompt_does_not_share_with_the_last_one(server):
    reuse = retry_prompt_reuse(server, "python")
    assert reuse.sent > 100
    assert 0 < reuse.evaluated < reuse.sent // 4, reuse
    totals = server.prompt_tokens()
    assert totals.sent >= reuse.sent and totals.evaluated >= reuse.evaluated


def test_server_serves_every_tier_and_specialist_name(server):
    served = {m["id"] for m in httpx.get(f"{server.base_url}/models").json()["data"]}
    assert required_models(Context()) <= served


def test_names_on_the_same_weights_share_a_greedy_request_as_compare_makes_it(server, tmp_path):
    """Through the client `compare` uses (its context names the server this process started):
    a greedy request under one name on the base weights answers the same under another."""
    context = Context(home=str(tmp_path), model=MODEL, base_url=server.base_url)
    weights = weights_at(server.base_url)
    first, second = [name for name in sorted(weights) if weights[name] == f"{server.gguf}+"][:2]
    client = client_for(context)
    messages = [HumanMessage("Say OK.")]
    ask = {"tier": "specialist", "messages": messages, "temperature": 0, "max_tokens": 4}
    made = client.complete(model=first, thread_id="hierarchy", **ask)
    again = client.complete(model=second, thread_id="baseline", shared_with=["hierarchy"], **ask)
    assert again.shared and again.text == made.text
    assert [c.thread_id for c in CallLog(context.call_log_path).all()] == ["hierarchy"]


def test_a_sampled_request_answers_the_same_whatever_the_server_sampled_before(server, tmp_path):
    """Seeded per request (client.sampling_seed): the same first sample in another thread,
    after the server has sampled something else in between."""
    client = client_for(Context(home=str(tmp_path), model=MODEL, base_url=server.base_url))
    ask = {"tier": "specialist", "model": "python", "temperature": 1.0, "max_tokens": 24}
    story = [HumanMessage("Write one sentence about a river.")]
    first = client.complete(messages=story, thread_id="a", **ask)
    client.complete(messages=[HumanMessage("Name a colour.")], thread_id="x", **ask)
    again = client.complete(messages=story, thread_id="b", **ask)
    assert again.text == first.text and not again.shared


def test_unknown_model_names_fail_loudly(server, tmp_path):
    reply = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "no-such-adapter", "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
    )
    assert reply.status_code >= 400
    context = Context(home=str(tmp_path), base_url=server.base_url, architect_model="nope")
    with pytest.raises(EndpointError, match="nope"):
        client_for(context)


def test_hierarchy_runs_end_to_end_on_the_real_model(server, tmp_path):
    context = Context(
        home=str(tmp_path),
        base_url=server.base_url,
        model=MODEL,
        max_retries=0,
        max_replans=1,
        direct_first=False,  # every tier calls the real model
    )
    with open_checkpointer(str(tmp_path / "checkpoints.sqlite")) as saver:
        state = run_thread(build_graph(saver), "real-1", context, {"problem_id": "builtin/14"})
    assert state.result is not None and state.result.status in {"solved", "partial", "failed"}
    with sqlite3.connect(tmp_path / "calls.sqlite") as conn:
        rows = conn.execute(
            "SELECT tier, prompt_tokens, completion_tokens, ok FROM calls WHERE thread_id = ?",
            ("real-1",),
        ).fetchall()
    tiers = {tier for tier, *_ in rows}
    assert {"architect", "dispatcher", "specialist"} <= tiers
    assert all(prompt > 0 and completion > 0 for _, prompt, completion, _ in rows)
    # every specialist runs on the 0.5B without adapters and the task has one part: after a
    # failure the replan (then the skip) is the only action left, recorded without a monitor call
    assert "monitor" not in tiers
    failures = [p for p in state.progress if p.part is not None]
    if any(o.status != "success" for o in state.outcomes):
        assert failures[0].decision == "replan" and not failures[0].by_model, failures
    assert sum(u.calls for u in state.usage.by_tier.values()) == len(rows)


def test_ensemble_completes_on_a_server_that_answers_one_request_at_a_time(server, tmp_path):
    context = Context(
        home=str(tmp_path),
        base_url=server.base_url,
        routing_mode="ensemble",
        ensemble_k=2,
        max_retries=0,
        max_replans=0,
    )
    with open_checkpointer(str(tmp_path / "checkpoints.sqlite")) as saver:
        state = run_thread(build_graph(saver), "ens-1", context, {"problem_id": "builtin/0"})
    assert state.result is not None
    assert len(state.attempts) == 2 and len({a.specialist for a in state.attempts}) == 2
    assert state.usage.by_tier["specialist"].calls == 2
