"""Best-of-n and retry: budget-matched to the hierarchy, retry's context grows by each failure."""

from evals import budgeted
from evals.baseline import Sample
from graph.context import Context
from hi_moe.problems.datasets import load_dataset

PROBLEM = load_dataset("builtin")[0]


def failing(tokens: int = 100, reply: str = "```python\nx = 1\n```") -> Sample:
    return Sample("x = 1\n", reply, tokens, 0.1, True, 0, 2, "f(1): failed: 1 != 2")


def passing(tokens: int = 100) -> Sample:
    return Sample("ok\n", "ok", tokens, 0.1, True, 2, 2, "")


def fake_sampler(monkeypatch, replies):
    """Replace the endpoint call with `replies` in turn; return the messages each call got."""
    seen = []

    def fake(context, problem, messages, temperature, thread_id, tier):
        seen.append((list(messages), temperature, tier))
        return replies[len(seen) - 1]

    monkeypatch.setattr(budgeted, "sample", fake)
    return seen


def test_best_of_n_spends_the_budget_and_overshoots_it_by_at_most_one_sample(monkeypatch):
    for budget in (0, 99, 100, 250, 1000, 1234):
        seen = fake_sampler(monkeypatch, [failing(100 + i) for i in range(20)])
        run = budgeted.best_of_n(Context(), PROBLEM, failing(), budget, "t")
        biggest = max(s.tokens for s in run.samples)
        assert run.tokens <= budget + biggest and run.calls >= 1
        assert run.tokens >= budget or run.calls == 20 + 1  # stops only once the budget is spent
        assert {t for _, t, _ in seen} <= {budgeted.SAMPLE_TEMPERATURE}


def test_best_of_n_stops_at_the_first_sample_passing_every_visible_test(monkeypatch):
    seen = fake_sampler(monkeypatch, [failing(), passing(), failing()])
    run = budgeted.best_of_n(Context(), PROBLEM, failing(), 10_000, "t")
    assert run.calls == 3 and len(seen) == 2 and run.best.code == "ok\n"
    assert budgeted.best_of_n(Context(), PROBLEM, passing(), 10_000, "t").calls == 1


def test_best_of_n_submits_the_sample_passing_most_visible_tests():
    run = budgeted.SystemRun([failing(), Sample("two\n", "", 10, 0.1, True, 1, 2, "x"), failing()])
    assert run.best.code == "two\n"
    broken = Sample("broken\n", "", 10, 0.1, False, 0, 0, "the code failed to run")
    assert budgeted.SystemRun([broken, failing()]).best.code == "x = 1\n"


def test_retry_is_one_conversation_that_grows_by_each_reply_and_its_feedback(monkeypatch):
    replies = [failing(reply=f"reply {i}") for i in range(1, 20)]
    seen = fake_sampler(monkeypatch, replies)
    context = Context()
    run = budgeted.retry(context, PROBLEM, failing(reply="reply 0"), 100_000, "t")
    assert run.calls == budgeted.max_tries(context) == 9
    first_prompt = len(seen[0][0]) - 2
    for turn, (messages, temperature, tier) in enumerate(seen):
        assert len(messages) == first_prompt + 2 * (turn + 1) and temperature == 0.0
        assert tier == "retry"
        assert messages[-2].content == f"reply {turn}"
        assert "f(1): failed: 1 != 2" in messages[-1].content
        if turn:  # everything the previous turn saw, then its reply and the feedback on it
            assert [m.content for m in messages[:-2]] == [m.content for m in seen[turn - 1][0]]


def test_retry_stops_at_the_budget_and_at_a_pass(monkeypatch):
    fake_sampler(monkeypatch, [failing(300) for _ in range(10)])
    assert budgeted.retry(Context(), PROBLEM, failing(100), 500, "t").tokens == 700
    fake_sampler(monkeypatch, [failing(), passing(), failing()])
    assert budgeted.retry(Context(), PROBLEM, failing(), 100_000, "t").calls == 3
