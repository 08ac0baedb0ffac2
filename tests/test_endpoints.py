"""Endpoint profiles: local, modal and any URL resolve, and a wrong one fails fast and clearly."""

import socket
import time

import pytest

from graph.context import Context
from hi_moe.cli.main import main
from hi_moe.errors import UserError
from hi_moe.llm.endpoints import resolve_endpoint


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_explicit_base_url_wins():
    assert resolve_endpoint(Context(base_url="http://x/v1", api_key="k")) == ("http://x/v1", "k")


def test_modal_profile_reads_its_url_and_key(monkeypatch):
    monkeypatch.setenv("HI_MOE_MODAL_URL", "https://ws--hi-moe-vllm-serve.modal.run/v1")
    monkeypatch.setenv("HI_MOE_MODAL_API_KEY", "secret")
    url, key = resolve_endpoint(Context(endpoint="modal"))
    assert url.endswith(".modal.run/v1") and key == "secret"


def test_modal_profile_without_url_says_what_to_set():
    with pytest.raises(UserError, match="HI_MOE_MODAL_URL"):
        resolve_endpoint(Context(endpoint="modal"))


def test_any_openai_compatible_url(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert resolve_endpoint(Context(endpoint="http://127.0.0.1:8000/v1")) == (
        "http://127.0.0.1:8000/v1",
        "sk-test",
    )


def test_unknown_profile_is_an_error():
    with pytest.raises(UserError, match="unknown endpoint"):
        resolve_endpoint(Context(endpoint="gpu-cluster"))


def test_wrong_modal_url_fails_in_seconds(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HI_MOE_MODAL_URL", f"http://127.0.0.1:{closed_port()}/v1")
    started = time.monotonic()
    code = main(["solve", "--endpoint", "modal", "--problem", "0", "--home", str(tmp_path)])
    assert code == 2 and time.monotonic() - started < 15
    out = capsys.readouterr().out
    assert "error:" in out and "unreachable" in out and "Traceback" not in out


def test_extra_body_reaches_every_request(tmp_path):
    from langchain_core.messages import HumanMessage

    from hi_moe.llm.endpoints import client_for, required_models
    from hi_moe.llm.fake.endpoint import FakeEndpoint

    base = Context(home=str(tmp_path))
    with FakeEndpoint(sorted(required_models(base)), lambda *_: "ok") as endpoint:
        context = Context(
            home=str(tmp_path), base_url=endpoint.base_url, extra_body='{"top_k": 20}'
        )
        client_for(context).complete(
            tier="monitor", model="monitor", messages=[HumanMessage("hi")], temperature=0,
            max_tokens=5,
        )  # fmt: skip
        assert endpoint.requests[-1]["top_k"] == 20


def test_malformed_extra_body_is_a_clear_error():
    with pytest.raises(UserError, match="extra_body"):
        Context(extra_body="{nope").extra_body_fields()
