"""The Progress Monitor's detections (stuck, drift, surprise) and the actions they lead to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.context import Context
from graph.state import OutcomeReport, PartLedger, Plan, ProgressReport, State, Subgoal
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.problems.datasets import get_problem, load_dataset
from nodes.monitor import assess, drifted, failure_options, is_stuck, next_step, surprised
from tests.conftest import REPO_FLEET


@pytest.mark.parametrize(
    ("rounds", "stuck"),
    [([0, 0, 0], True), ([1, 1, 1], True), ([2, 1, 0], True), ([0, 1, 1], False),
     ([0, 0], False), ([3, 0, 0, 0], True), ([0, 0, 1], False)],
)  # fmt: skip
def test_stuck_means_no_rise_over_the_last_rounds(rounds, stuck):
    assert is_stuck(rounds, 3) is stuck


def outcome(part: str = "is_even", code: str = "def is_even(n):\n    return n % 2 == 0\n",
            passed: int = 0, total: int = 2, confidence: float = 0.5,
            status: str = "failed") -> OutcomeReport:  # fmt: skip
    return OutcomeReport(
        subgoal_id=0, part=part, plan_version=1, status=status, summary=f"{status}",
        confidence=confidence, specialist="python", attempts=1, tests_passed=passed,
        tests_total=total, code=code,
    )  # fmt: skip


def two_part_task():
    project = get_problem("project/calendar-math")
    return project.visible_task()


def test_drift_is_code_that_misses_its_part_or_rewrites_others():
    task = two_part_task()
    first, second = task.parts[0].name, task.parts[1].name
    assert not drifted(outcome(first, f"def {first}(y):\n    return 1\n"), task)
    assert drifted(outcome(first, "def helper(y):\n    return 1\n"), task)
    assert drifted(
        outcome(second, f"def {first}(y):\n    return 1\n\ndef {second}(y, m):\n    return 2\n"),
        task,
    )


def test_surprise_is_confidence_far_from_the_pass_fraction():
    assert surprised(outcome(passed=0, confidence=0.9), 0.6)
    assert surprised(outcome(passed=2, confidence=0.1, status="success"), 0.6)
    assert not surprised(outcome(passed=1, confidence=0.6), 0.6)


def failed_state(signals_code: str, tried: list[str], progress: list[ProgressReport]) -> State:
    task = get_problem("builtin/1").visible_task()
    part = task.parts[0].name
    ledger = {part: PartLedger(rounds=[0] * len(tried), specialists=tried)}
    plan = Plan(
        version=1, goal="g", strategy="s", subgoals=[Subgoal(id=0, part=part, objective="o")]
    )
    return State(
        task=task, plan=plan, ledger=ledger,
        outcomes=[outcome(part, signals_code)], progress=progress,
    )  # fmt: skip


CONTEXT = Context(fleet_path=REPO_FLEET, endpoint="http://127.0.0.1:9/v1")
"""An endpoint that may serve each specialist as its own adapter: a reroute changes weights."""


def test_a_failed_part_is_rerouted_first_then_replanned_then_skipped():
    good_code = "def is_even(n):\n    return 1\n"
    state = failed_state(good_code, ["python"], [])
    assert failure_options(state, state.outcomes[-1], CONTEXT) == ["reroute", "replan"]
    rerouted = [ProgressReport(decision="reroute", reason="r", plan_version=1, part="is_even")]
    state = failed_state(good_code, ["python"], rerouted)
    assert failure_options(state, state.outcomes[-1], CONTEXT) == ["replan"]
    replanned = [*rerouted, ProgressReport(decision="replan", reason="r", plan_version=1)]
    state = failed_state(good_code, ["python"], replanned)
    assert failure_options(state, state.outcomes[-1], CONTEXT) == ["skip"]


def test_drift_recommends_a_replan_before_a_reroute():
    state = failed_state("def other(n):\n    return 1\n", ["python"], [])
    facts = assess(state, CONTEXT)
    assert facts.allowed == ["replan", "reroute"]
    assert "drift" in facts.signals and facts.part == "is_even"


def test_no_reroute_once_every_specialist_tried_the_part():
    everyone = ["python", "algorithms", "math", "debugging", "refactoring", "general"]
    state = failed_state("def is_even(n):\n    return 1\n", everyone, [])
    assert failure_options(state, state.outcomes[-1], CONTEXT) == ["replan"]


def test_no_reroute_where_every_specialist_runs_on_the_weights_already_tried(tmp_path):
    """The embedded model without adapters: another specialist would be one more sample."""
    fleet = tmp_path / "fleet.toml"  # beside no adapter files
    fleet.write_text(Path(REPO_FLEET).read_text())
    embedded = Context(fleet_path=str(fleet), endpoint="local")
    state = failed_state("def is_even(n):\n    return 1\n", ["python"], [])
    assert failure_options(state, state.outcomes[-1], embedded) == ["replan"]


def test_a_part_may_be_skipped_early_only_while_other_parts_are_open():
    task = two_part_task()
    first = task.parts[0].name
    subgoals = [Subgoal(id=i, part=p.name, objective="o") for i, p in enumerate(task.parts)]
    plan = Plan(version=1, goal="g", strategy="s", subgoals=subgoals)
    state = State(
        task=task, plan=plan, ledger={first: PartLedger(rounds=[0], specialists=["python"])},
        outcomes=[outcome(first, f"def {first}(y):\n    return 1\n")],
    )  # fmt: skip
    assert failure_options(state, state.outcomes[-1], CONTEXT) == ["reroute", "replan", "skip"]


def test_after_the_last_part_is_skipped_the_run_is_done():
    state = failed_state("def is_even(n):\n    return 1\n", ["python"], [])
    assert next_step(state, skipping="is_even").allowed == ["done"]


def test_skip_and_stuck_on_a_part_whose_visible_tests_are_broken(make_harness):
    task = get_problem("project/calendar-math").visible_task()
    last = task.parts[-1]
    broken = [t.model_copy(update={"expected": "-12345"}) for t in last.visible_tests]
    task.parts[-1] = last.model_copy(update={"visible_tests": broken})
    harness = make_harness(problems=[get_problem("project/calendar-math")])
    state = harness.solve(task, max_retries=2, max_reroutes=0, max_replans=0)
    assert state.result is not None and state.result.status == "partial"
    assert state.result.parts_solved == len(task.parts) - 1
    skip = next(p for p in state.progress if p.decision == "skip")
    assert skip.part == last.name and "stuck" in skip.signals
    assert state.progress[-1].decision == "done"


def test_a_failing_part_is_rerouted_to_another_specialist(make_harness):
    harness = make_harness(wrong_tries=2)
    state = harness.solve("builtin/1", max_retries=1, max_replans=0)
    assert [p.decision for p in state.progress] == ["plan", "reroute", "done"]
    reroute = state.progress[1]
    assert set(reroute.signals) == {"drift", "surprise"}
    assert not reroute.by_model and not harness.prompts("monitor"), "the one option: no call"
    first, second = state.ledger["is_even"].specialists
    assert first != second and state.ledger["is_even"].rounds == [0, 0, 2]
    assert state.result is not None and state.result.status == "solved"


def test_the_monitor_model_may_only_pick_an_allowed_action(make_harness):
    """Giving up on the only part is not on offer while escalations are left: the monitor's
    "skip" is overruled by the recommendation, and the last escalations need no monitor call."""
    scripted = ScriptedModel(load_dataset("builtin"), wrong_tries=99)

    def respond(model, messages, response_format):
        if model == "monitor":
            return json.dumps({"decision": "skip", "reason": "hopeless"})
        return scripted(model, messages, response_format)

    harness = make_harness(respond)
    state = harness.solve("builtin/1", max_retries=0)
    assert [p.decision for p in state.progress] == ["plan", "replan", "reroute", "skip", "done"]
    assert not state.progress[1].by_model and "unusable monitor reply" in state.progress[1].reason
    [monitor_prompt] = harness.prompts("monitor")
    assert "Allowed decisions: replan, reroute." in monitor_prompt
    assert "Signals on the latest outcome: drift, surprise" in monitor_prompt


def test_an_unusable_monitor_reply_falls_back_to_the_recommendation(make_harness):
    scripted = ScriptedModel(load_dataset("builtin"), wrong_tries=1)

    def respond(model, messages, response_format):
        if model == "monitor":
            return '{"decision": "continue", "reason": "not allowed"}'
        return scripted(model, messages, response_format)

    harness = make_harness(respond)
    state = harness.solve("builtin/1", max_retries=0)
    chosen = state.progress[1]
    assert chosen.decision == "replan" and not chosen.by_model  # drift: replan first
    assert "recommended" in chosen.reason
