"""LLMClient, CallLog and TierCalls against the loopback FakeEndpoint (no real model)."""

import socket
import sqlite3
import time

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from graph.context import Context
from hi_moe.errors import UserError
from hi_moe.llm.call_log import CallLog, CallRecord
from hi_moe.llm.client import EndpointError, LLMClient, Retry, json_schema_format
from hi_moe.llm.endpoints import endpoint_retry
from hi_moe.llm.fake.endpoint import FakeEndpoint, count_tokens
from hi_moe.llm.tier_calls import TierCalls, parse_json

MODELS = ["python", "monitor"]
NO_RETRY = Retry(0, 0.0)
MESSAGES = [SystemMessage("You are terse."), HumanMessage("Say hello.")]


class Decision(BaseModel):
    decision: str
    reason: str


class Replies:
    """A responder that plays back fixed replies in order (the last one repeats)."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls = 0

    def __call__(self, model: str, messages: list[dict], response_format: dict | None) -> str:
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        return reply


@pytest.fixture
def call_log(tmp_path):
    return CallLog(tmp_path / "logs" / "calls.sqlite")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def complete(
    client: LLMClient,
    model: str = "python",
    thread_id: str = "t1",
    temperature: float = 0.0,
    **kwargs,
):
    return client.complete(
        tier="specialist",
        model=model,
        messages=MESSAGES,
        temperature=temperature,
        max_tokens=64,
        thread_id=thread_id,
        **kwargs,
    )


def test_complete_returns_text_usage_and_logs_the_call(call_log):
    with FakeEndpoint(MODELS, Replies("hello there")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
        completion = complete(client)
    assert completion.text == "hello there"
    assert completion.prompt_tokens == count_tokens("You are terse.") + count_tokens("Say hello.")
    assert completion.completion_tokens == count_tokens("hello there")
    assert completion.latency_s > 0
    [record] = call_log.for_thread("t1")
    assert record == CallRecord(
        "t1",
        "specialist",
        "python",
        completion.prompt_tokens,
        completion.completion_tokens,
        record.latency_s,
        ok=True,
        reply="hello there",
        prompt="[system]\nYou are terse.\n\n[human]\nSay hello.",
        request=record.request,
    )
    assert record.request is not None and len(record.request) == 64
    assert endpoint.requests[0]["model"] == "python"
    assert endpoint.requests[0]["messages"][1] == {"role": "user", "content": "Say hello."}


def test_response_format_reaches_the_endpoint(call_log):
    response_format = json_schema_format("Decision", Decision.model_json_schema())
    with FakeEndpoint(MODELS, Replies("{}")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
        complete(client, response_format=response_format)
    sent = endpoint.requests[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Decision"


def test_empty_completion_is_logged_as_not_ok(call_log):
    with FakeEndpoint(MODELS, Replies("   ")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
        complete(client)
    [record] = call_log.for_thread("t1")
    assert not record.ok
    assert record.error == "empty completion"


def test_call_log_keeps_threads_apart(call_log):
    with FakeEndpoint(MODELS, Replies("a")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
        complete(client, thread_id="one")
        complete(client, thread_id="two")
        complete(client, thread_id="one")
    assert len(call_log.for_thread("one")) == 2
    assert len(call_log.for_thread("two")) == 1
    assert call_log.for_thread("three") == []


def test_call_log_persists_across_instances(tmp_path):
    path = tmp_path / "calls.sqlite"
    CallLog(path).record(CallRecord("t", "monitor", "monitor", 3, 4, 0.5, ok=True))
    assert CallLog(path).for_thread("t") == [
        CallRecord("t", "monitor", "monitor", 3, 4, 0.5, ok=True)
    ]


def test_a_log_from_the_first_schema_gains_the_newer_columns(tmp_path):
    path = tmp_path / "calls.sqlite"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,"
            " thread_id TEXT, tier TEXT NOT NULL, model TEXT NOT NULL,"
            " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
            " latency_s REAL NOT NULL, ok INTEGER NOT NULL, error TEXT)"
        )
        old.execute("INSERT INTO calls VALUES (1, 0, 't', 'monitor', 'monitor', 3, 4, .5, 1, NULL)")
    log = CallLog(path)
    log.record(CallRecord("t", "monitor", "monitor", 5, 6, 0.5, ok=True, prompt="[human]\nhi"))
    assert log.for_thread("t") == [
        CallRecord("t", "monitor", "monitor", 3, 4, 0.5, ok=True),
        CallRecord("t", "monitor", "monitor", 5, 6, 0.5, ok=True, prompt="[human]\nhi"),
    ]


def test_require_models_accepts_served_models(call_log):
    with FakeEndpoint(MODELS, Replies("a")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log)
        client.require_models({"python", "monitor"})
        assert client.served_models == frozenset(MODELS)


def test_require_models_names_the_missing_model(call_log):
    with FakeEndpoint(MODELS, Replies("a")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log)
        with pytest.raises(EndpointError, match="does not serve model.*algorithms") as info:
            client.require_models({"python", "algorithms"})
    assert "it serves: monitor, python" in str(info.value)


def test_require_models_on_unreachable_endpoint(call_log):
    client = LLMClient(f"http://127.0.0.1:{closed_port()}/v1", "key", call_log)
    with pytest.raises(EndpointError, match="is unreachable"):
        client.require_models({"python"})


def test_unreachable_endpoint_fails_fast_and_is_logged(call_log):
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    client = LLMClient(base_url, "key", call_log, timeout_s=5, retry=NO_RETRY)
    start = time.monotonic()
    with pytest.raises(EndpointError, match="cannot connect"):
        complete(client, thread_id="down")
    assert time.monotonic() - start < 5
    [record] = call_log.for_thread("down")
    assert not record.ok
    assert (record.prompt_tokens, record.completion_tokens) == (0, 0)
    assert base_url in record.error


def test_unknown_model_is_an_http_error(call_log):
    with FakeEndpoint(MODELS, Replies("a")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
        with pytest.raises(EndpointError, match="HTTP 404"):
            complete(client, model="nosuch", thread_id="t404")
    assert call_log.for_thread("t404")[0].ok is False


def test_http_500_is_retried_and_succeeds(call_log):
    with FakeEndpoint(MODELS, Replies("recovered")) as endpoint:
        endpoint.fail_next(500, 1)
        client = LLMClient(endpoint.base_url, "key", call_log, retry=Retry(1, 0.0))
        completion = complete(client)
    assert completion.text == "recovered"
    assert len(endpoint.requests) == 2
    assert [r.ok for r in call_log.for_thread("t1")] == [False, True]


MALFORMED = {
    "cut_body": "a body that is not JSON",
    "html": "a body that is not JSON",
    "empty_body": "an empty body",
    "error_200": "an error object",
    "no_choices": "no choices",
}


@pytest.mark.parametrize(("fault", "defect"), MALFORMED.items())
def test_a_malformed_reply_is_an_endpoint_error_naming_endpoint_and_defect(call_log, fault, defect):
    with FakeEndpoint(MODELS, Replies("never")) as endpoint:
        endpoint.fail_next(fault)
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
        with pytest.raises(EndpointError) as info:
            complete(client)
    message = str(info.value)
    assert endpoint.base_url in message and defect in message and "after 1 tries" in message
    [record] = call_log.for_thread("t1")
    assert not record.ok and defect in record.error and record.reply is None


@pytest.mark.parametrize("fault", [*MALFORMED, "http_429", "reset", "timeout"])
def test_every_transient_fault_is_retried_like_a_5xx(call_log, fault):
    with FakeEndpoint(MODELS, Replies("recovered")) as endpoint:
        endpoint.fail_next(fault, 2)
        client = LLMClient(endpoint.base_url, "key", call_log, timeout_s=0.5, retry=Retry(2, 0.0))
        assert complete(client).text == "recovered"
    assert len(endpoint.requests) == 3
    assert [r.ok for r in call_log.for_thread("t1")] == [False, False, True]


def test_a_request_the_endpoint_refuses_is_not_retried(call_log):
    with FakeEndpoint(MODELS, Replies("a")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log, retry=Retry(3, 0.0))
        with pytest.raises(EndpointError, match="HTTP 404.*after 1 tries"):
            complete(client, model="nosuch")
        assert len(endpoint.requests) == 1


def test_retries_back_off_doubling_up_to_a_cap():
    retry = Retry(times=6, backoff_s=0.5)
    assert [retry.wait_s(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_retries_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("HI_MOE_ENDPOINT_RETRIES", "5")
    monkeypatch.setenv("HI_MOE_ENDPOINT_BACKOFF_S", "0.1")
    assert endpoint_retry(Context()) == Retry(5, 0.1)
    with pytest.raises(UserError, match="endpoint_retries"):
        endpoint_retry(Context(endpoint_retries=-1))


def test_http_500_without_retries_left_fails(call_log):
    with FakeEndpoint(MODELS, Replies("never")) as endpoint:
        endpoint.fail_next(500, 1)
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
        with pytest.raises(EndpointError, match="HTTP 500"):
            complete(client)
    assert [r.ok for r in call_log.for_thread("t1")] == [False]


# TierCalls

GOOD = '{"decision": "continue", "reason": "progress"}'
EXAMPLE = '{"decision": "continue", "reason": "..."}'


def tier_calls(endpoint: FakeEndpoint, call_log: CallLog) -> TierCalls:
    client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY)
    return TierCalls(client, "monitor", "monitor", 0.0, 128, "tc")


def test_json_valid_reply_is_parsed(call_log):
    with FakeEndpoint(MODELS, Replies("Sure: " + GOOD + " done")) as endpoint:
        calls = tier_calls(endpoint, call_log)
        result = calls.json(MESSAGES, Decision, EXAMPLE)
    assert result == Decision(decision="continue", reason="progress")
    assert calls.format_errors == 0
    assert len(endpoint.requests) == 1


def test_json_invalid_then_valid_takes_one_repair(call_log):
    with FakeEndpoint(MODELS, Replies("I think we should continue.", GOOD)) as endpoint:
        calls = tier_calls(endpoint, call_log)
        result = calls.json(MESSAGES, Decision, EXAMPLE)
    assert result == Decision(decision="continue", reason="progress")
    assert calls.format_errors == 1
    repair = endpoint.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "I think we should continue."}
    assert "no JSON object" in repair[-1]["content"]
    assert EXAMPLE in repair[-1]["content"]


def test_json_invalid_twice_gives_none(call_log):
    with FakeEndpoint(MODELS, Replies('{"decision": 3}', "still not json")) as endpoint:
        calls = tier_calls(endpoint, call_log)
        result = calls.json(MESSAGES, Decision, EXAMPLE)
    assert result is None
    assert calls.format_errors == 2
    assert len(endpoint.requests) == 2


def test_usage_is_summed_per_tier(call_log):
    with FakeEndpoint(MODELS, Replies("first reply", "second")) as endpoint:
        calls = tier_calls(endpoint, call_log)
        calls.text(MESSAGES)
        calls.text(MESSAGES)
    usage = calls.usage.by_tier["monitor"]
    prompt = count_tokens("You are terse.") + count_tokens("Say hello.")
    assert usage.calls == 2
    assert usage.prompt_tokens == 2 * prompt
    assert usage.completion_tokens == count_tokens("first reply") + count_tokens("second")
    assert list(calls.usage.by_tier) == ["monitor"]
    logged = call_log.for_thread("tc")
    assert sum(r.prompt_tokens for r in logged) == usage.prompt_tokens


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("nothing", "no JSON object"),
        ('{"decision": "x"}', "validation error"),
        ("{bad}", "Expecting property name"),
    ],
)
def test_parse_json_errors_are_value_errors(text, error):
    with pytest.raises(ValueError, match=error):
        parse_json(text, Decision)


def test_requests_carry_a_token_limit_llama_cpp_understands(call_log):
    with FakeEndpoint(MODELS, Replies("hello")) as endpoint:
        client = LLMClient(endpoint.base_url, "k", call_log)
        client.complete(
            tier="specialist", model="python", messages=MESSAGES, temperature=0, max_tokens=17
        )
        assert endpoint.requests[0]["max_tokens"] == 17


def test_structured_reply_cut_at_max_tokens_is_returned_as_text(call_log):
    class Truncating:
        def __call__(self, model, messages, response_format):
            return '{"decision": "replan", "rea'

    with FakeEndpoint(MODELS, Truncating(), finish_reason="length") as endpoint:
        client = LLMClient(endpoint.base_url, "k", call_log)
        reply = client.complete(
            tier="monitor",
            model="monitor",
            messages=MESSAGES,
            temperature=0,
            max_tokens=8,
            response_format=json_schema_format("Decision", Decision.model_json_schema()),
        )
    assert reply.text.startswith('{"decision"') and reply.completion_tokens > 0


def test_names_that_serve_the_same_weights_share_one_greedy_request(call_log):
    """The embedded server's aliases run on one GGUF: the hierarchy's routed specialist and
    the single call's `python` make one request, not two; other weights do not share it."""
    weights = {"python": "base.gguf+", "monitor": "base.gguf+", "math": "base.gguf+math.gguf"}
    with FakeEndpoint([*MODELS, "math"], Replies("first", "second")) as endpoint:
        client = LLMClient(endpoint.base_url, "key", call_log, retry=NO_RETRY, weights=weights)
        complete(client, model="monitor", thread_id="hierarchy")
        shared = complete(client, model="python", thread_id="baseline", shared_with=["hierarchy"])
        other = complete(client, model="math", thread_id="other", shared_with=["hierarchy"])
    assert shared.shared and shared.text == "first"
    assert not other.shared and other.text == "second"
    assert len(endpoint.requests) == 2


def test_sampled_requests_carry_a_seed_from_the_request_and_its_repeats(tmp_path):
    """The same sampled request in a fresh log gets the same seed (whatever the server served
    before); its repeat in the same thread gets another; greedy requests carry none."""
    seeds = []
    for run in ("a", "b"):
        log = CallLog(tmp_path / run / "calls.sqlite")
        with FakeEndpoint(list(MODELS), Replies("x")) as endpoint:
            client = LLMClient(endpoint.base_url, "key", log, retry=NO_RETRY)
            if run == "b":
                complete(client, thread_id="other", temperature=0.8)  # another request first
            complete(client, temperature=0.8)
            complete(client, temperature=0.8)
            complete(client, temperature=0.0, thread_id="greedy")
            seeds.append([body.get("seed") for body in endpoint.requests][-3:])
    assert seeds[0] == seeds[1]
    first, repeat, greedy = seeds[0]
    assert isinstance(first, int) and isinstance(repeat, int) and first != repeat
    assert greedy is None
