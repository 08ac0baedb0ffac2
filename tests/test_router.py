"""The embedding router, its Chroma store, the three routing modes and the routing log."""

from __future__ import annotations

import collections
import contextlib
import threading

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings

from evals.bench_routing import held_out_scores
from hi_moe.errors import UserError
from hi_moe.llm.fake.endpoint import FakeEndpoint
from hi_moe.routing.classifier import Classifier
from hi_moe.routing.embeddings import DIMENSIONS, MAX_TOKENS, embed_matrix, embedder
from hi_moe.routing.fleet import load_fleet
from hi_moe.routing.log import RoutingLog
from hi_moe.routing.router import COLLECTION_PREFIX, Router, choose
from tests.conftest import REPO_FLEET

SCORES = {"python": 0.5, "algorithms": 0.3, "math": 0.2}


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    return Router(load_fleet(REPO_FLEET), tmp_path_factory.mktemp("router"))


def test_scores_are_a_distribution_over_the_fleet_best_first(router):
    scores = router.score("How many ways can 4 books be arranged on a shelf?")
    assert list(scores)[0] == "math"
    assert set(scores) == set(load_fleet(REPO_FLEET).names)
    assert sum(scores.values()) == pytest.approx(1.0)
    assert list(scores.values()) == sorted(scores.values(), reverse=True)


def test_the_direct_forward_pass_matches_sentence_transformers_encode():
    texts = ["merge overlapping intervals", "x", "fix the off-by-one error " * 60, ""]
    expected = embedder().encode(texts, normalize_embeddings=True, show_progress_bar=False)
    assert embedder().max_seq_length == MAX_TOKENS
    np.testing.assert_allclose(embed_matrix(texts), expected, atol=1e-5)
    assert embed_matrix([]).shape == (0, DIMENSIONS) == (0, expected.shape[1])


def test_the_classifier_is_deterministic_and_sees_every_stored_document(router):
    fleet = load_fleet(REPO_FLEET)
    assert len(router.documents.texts) == sum(1 + len(s.examples) for s in fleet.specialists)
    vector = embed_matrix(["Compute the area of a trapezoid with bases 3 and 5 and height 2"])[0]
    again = Classifier(router.documents, fleet.names).score(vector)
    assert again == router.classifier.score(vector)
    assert list(again)[0] == "math"


def test_a_registry_example_is_scored_without_itself(router):
    example = load_fleet(REPO_FLEET).get("debugging").examples[-1]
    held_out = router.documents.without(example)
    assert example not in held_out.texts
    assert len(held_out.texts) == len(router.documents.texts) - 1
    assert held_out.vectors.shape[0] == len(held_out.texts) == len(held_out.owners)
    own = router.score(example)
    assert held_out_scores(router, example, own) != own
    unseen = "Sort a list of tuples by their second element"
    assert held_out_scores(router, unseen, router.score(unseen)) == router.score(unseen)


def test_store_is_reused_until_the_registry_changes(tmp_path):
    fleet = load_fleet(REPO_FLEET)
    first = Router(fleet, tmp_path)
    count = first._collection.count()
    again = Router(fleet, tmp_path)
    assert again._collection.name == first._collection.name
    assert again._collection.count() == count
    changed = tmp_path / "fleet.toml"
    changed.write_text(
        '[[specialist]]\nname = "solo"\nmodel = "solo"\ndescription = "does everything"\n'
    )
    rebuilt = Router(load_fleet(str(changed)), tmp_path)
    assert rebuilt._collection.name != first._collection.name
    assert rebuilt.score("anything") == {"solo": 1.0}
    client = chromadb.PersistentClient(
        path=str(tmp_path), settings=Settings(anonymized_telemetry=False)
    )
    names = [c.name for c in client.list_collections()]
    assert [n for n in names if n.startswith(COLLECTION_PREFIX)] == [rebuilt._collection.name]


def test_a_corrupt_store_is_rebuilt(tmp_path):
    store = tmp_path / "router"
    store.mkdir()
    (store / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    scores = Router(load_fleet(REPO_FLEET), store).score("merge overlapping intervals")
    assert list(scores)[0] == "algorithms"


def test_winner_take_all_takes_the_best():
    assert choose(SCORES, "winner_take_all", 3, "s")[0] == ["python"]


def test_ensemble_takes_the_top_k_best_first():
    assert choose(SCORES, "ensemble", 2, "s")[0] == ["python", "algorithms"]
    with pytest.raises(UserError, match="ensemble of 4"):
        choose(SCORES, "ensemble", 4, "s")


def test_probabilistic_is_seeded_and_follows_the_scores():
    assert choose(SCORES, "probabilistic", 1, "seed-1") == choose(
        SCORES, "probabilistic", 1, "seed-1"
    )
    picks = collections.Counter(
        choose(SCORES, "probabilistic", 1, f"seed-{i}")[0][0] for i in range(3000)
    )
    for name, weight in SCORES.items():
        assert picks[name] / 3000 == pytest.approx(weight, abs=0.04)


def test_dispatcher_preference_is_a_prior_on_the_scores():
    chosen, combined = choose(SCORES, "winner_take_all", 1, "s", "math", 0.4)
    assert chosen == ["math"]
    assert sum(combined.values()) == pytest.approx(1.0)
    assert choose(SCORES, "winner_take_all", 1, "s", "math", 0.0)[0] == ["python"]


def test_unknown_mode_is_an_error():
    with pytest.raises(UserError, match="routing mode"):
        choose(SCORES, "round_robin", 1, "s")


def test_each_decision_is_logged_with_scores_and_outcome(make_harness):
    harness = make_harness()
    harness.solve("builtin/0", thread_id="logged")
    (decision,) = RoutingLog(harness.context.routing_log_path).decisions()
    assert decision.thread_id == "logged" and decision.mode == "winner_take_all"
    assert decision.chosen == ["python"] and set(decision.scores) >= {"python", "math"}
    assert decision.outcome == {"python": True}
    assert "reverse_string" in decision.task


class Overlap:
    """Wraps a responder and records how many specialist calls were in flight at once.

    The first `width` specialist calls wait for each other at a barrier (up to a minute, so a
    busy machine cannot make parallel calls look sequential); sequential calls break it."""

    def __init__(self, inner, width: int = 3) -> None:
        self.inner, self.active, self.most, self.calls = inner, 0, 0, 0
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(width, timeout=60)

    def __call__(self, model, messages, response_format):
        if model in ("architect", "dispatcher", "monitor"):
            return self.inner(model, messages, response_format)
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
            first_round = self.calls < self.barrier.parties
            self.calls += 1
        if first_round:  # calls that do not overlap break the barrier: `most` stays lower
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait()
        with self.lock:
            self.active -= 1
        return self.inner(model, messages, response_format)


def test_ensemble_runs_specialists_in_parallel_and_keeps_the_best(make_harness):
    from hi_moe.llm.fake.scripted_model import ScriptedModel
    from hi_moe.problems.datasets import load_dataset

    overlap = Overlap(ScriptedModel(load_dataset("builtin"), wrong_tries=2))
    harness = make_harness(overlap)
    state = harness.solve("builtin/2", routing_mode="ensemble", ensemble_k=3)
    assert overlap.most == 3, "the three specialists did not run at the same time"
    assert len(state.attempts) == 3 and len({a.specialist for a in state.attempts}) == 3
    assert sum(a.passed_all for a in state.attempts) == 1
    outcome = state.outcomes[-1]
    assert outcome.status == "success"
    assert outcome.specialist == next(a.specialist for a in state.attempts if a.passed_all)
    assert state.usage.by_tier["specialist"].calls == 3


def test_fake_endpoint_is_loopback_only():
    with FakeEndpoint(["m"], lambda *_: "x") as endpoint:
        assert endpoint.base_url.startswith("http://127.0.0.1:")


def test_cli_refuses_an_ensemble_wider_than_the_fleet(tmp_path, capsys):
    from hi_moe.cli.main import main

    args = ["solve", "--mock", "--problem", "0", "--routing-mode", "ensemble", "--ensemble-k"]
    assert main([*args, "9", "--home", str(tmp_path)]) == 2
    assert "exceeds the fleet" in capsys.readouterr().out
