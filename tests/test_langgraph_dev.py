"""`langgraph dev` serves the graph from langgraph.json; a real SDK client runs a problem."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from graph.context import Context
from hi_moe.llm.endpoints import required_models
from hi_moe.llm.fake.endpoint import FakeEndpoint
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.problems.datasets import load_dataset

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dev_server(tmp_path):
    """langgraph dev on a free loopback port, its model calls going to the scripted fake."""
    langgraph = shutil.which("langgraph", path=str(Path(sys.executable).parent))
    assert langgraph, "langgraph-cli is not installed (pip install -e '.[dev]')"
    model = ScriptedModel(load_dataset("builtin"))
    with FakeEndpoint(sorted(required_models(Context())), model) as endpoint:
        port = free_port()
        env = {
            **os.environ,
            "HI_MOE_BASE_URL": endpoint.base_url,
            "HI_MOE_HOME": str(tmp_path / "home"),
            "LANGSMITH_TRACING": "false",
            "LANGGRAPH_NO_ANALYTICS": "1",
        }
        server = subprocess.Popen(
            [langgraph, "dev", "--port", str(port), "--no-browser", "--no-reload"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, server.stdout.read()
                try:
                    if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "langgraph dev did not come up"
                time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def test_sdk_client_runs_a_problem_through_langgraph_dev(dev_server):
    client = get_sync_client(url=dev_server)
    assistants = client.assistants.search(graph_id="hi_moe")
    assert assistants, "graph hi_moe is not served"
    thread = client.threads.create()
    nodes = []
    for chunk in client.runs.stream(
        thread["thread_id"], "hi_moe", input={"problem_id": "builtin/0"}, stream_mode="updates"
    ):
        if chunk.event == "updates":
            nodes.extend(chunk.data)
    assert nodes[:3] == ["monitor", "architect", "dispatcher"]
    assert {"specialist", "validate", "select", "finalize"} <= set(nodes)
    state = client.threads.get_state(thread["thread_id"])
    result = state["values"]["result"]
    assert result["status"] == "solved"
    assert "def reverse_string" in result["solution"]
    decisions = [p["decision"] for p in state["values"]["progress"]]
    assert decisions == ["direct", "done"], "adaptive depth: the architect's node made no call"
    assert "architect" not in state["values"]["usage"]["by_tier"]
