"""The state machine on the scripted fake model: every node, every edge, the fallbacks."""

from __future__ import annotations

import json

import pytest

from evals.baseline import task_prompt
from graph.builder import build_graph
from graph.edges import after_monitor, to_specialists
from graph.state import (
    Candidate,
    State,
    Subtask,
    TierUsage,
    Usage,
    add_usage,
    extend_or_clear,
)
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.llm.prompting import plain_prompt
from hi_moe.problems.datasets import get_problem, load_dataset
from hi_moe.problems.mbpp_pro import read_mbpp_pro
from hi_moe.problems.projects import get_project


def node_names(harness) -> list[str]:
    return [body["model"] for body in harness.endpoint.requests]


def test_graph_has_the_four_tiers_and_their_helpers():
    nodes = set(build_graph().get_graph().nodes)
    assert {"monitor", "architect", "dispatcher", "specialist", "validate", "select"} <= nodes
    assert "finalize" in nodes


def test_happy_path_visits_every_tier_once(make_harness):
    harness = make_harness()
    state = harness.solve("builtin/0")
    assert state.result is not None and state.result.status == "solved"
    assert node_names(harness) == ["architect", "dispatcher", "python"]
    assert [p.decision for p in state.progress] == ["plan", "done"]
    assert state.plan is not None and state.plan.version == 1
    assert len(state.attempts) == 1 and state.attempts[0].passed_all
    assert set(state.usage.by_tier) == {"architect", "dispatcher", "specialist"}
    assert state.usage.total_tokens > 0


def test_direct_first_a_single_part_task_answered_right_costs_one_call(make_harness):
    harness = make_harness()
    state = harness.solve("builtin/0", direct_first=True, direct_route_score=0.0)
    assert state.result is not None and state.result.status == "solved"
    assert node_names(harness) == ["python"]
    assert [p.decision for p in state.progress] == ["direct", "done"]
    assert "without a plan or dispatch call" in state.progress[0].reason
    assert set(state.usage.by_tier) == {"specialist"} and state.usage.calls == 1


def test_direct_first_escalates_to_the_monitor_and_a_real_plan_after_a_failure(make_harness):
    harness = make_harness(wrong_tries=2)
    state = harness.solve(
        "builtin/1", direct_first=True, direct_route_score=0.0, max_retries=1, max_replans=1
    )
    assert [p.decision for p in state.progress] == ["direct", "replan", "done"]
    assert state.result is not None and state.result.status == "solved"
    assert state.plan is not None and state.plan.version == 2
    assert len(harness.prompts("architect")) == 1 and len(harness.prompts("dispatcher")) == 1


def test_a_direct_first_try_is_the_plain_single_call_and_its_retry_the_specialist(make_harness):
    harness = make_harness(wrong_tries=1)
    state = harness.solve("builtin/1", direct_first=True, direct_route_score=0.0)
    assert state.result is not None and state.result.status == "solved"
    first, retry = [body for body in harness.endpoint.requests if body["model"] == "python"][:2]
    plain = plain_prompt("code", get_problem("builtin/1").statement, 1_200)
    assert [m["content"] for m in first["messages"]] == [m.content for m in plain]
    assert first["temperature"] == 0.0
    assert "CONFIDENCE" in retry["messages"][0]["content"] and retry["temperature"] > 0.0


def test_direct_first_asks_the_dispatcher_when_the_router_is_unsure(make_harness):
    """An endpoint named by URL may serve each specialist as its own adapter: the dispatcher's
    choice of model counts there."""
    harness = make_harness()
    state = harness.solve("builtin/0", direct_first=True, direct_route_score=1.01)
    assert node_names(harness) == ["dispatcher", "python"]
    assert "Subtask:" not in harness.prompts("python")[0], "the dispatcher picks, the try is plain"
    assert state.result is not None and state.result.status == "solved"


def test_an_unsure_router_needs_no_dispatcher_call_when_every_specialist_is_one_model(
    make_harness,
):
    """The embedded model without adapters: whichever specialist the dispatcher named, the
    plain first try would be the same call."""
    harness = make_harness()
    state = harness.solve("builtin/0", direct_first=True, direct_route_score=1.01, endpoint="local")
    assert node_names(harness) == ["python"]
    assert state.result is not None and state.result.status == "solved"


def test_after_a_replan_no_dispatcher_call_when_every_specialist_is_one_model(make_harness):
    """The embedded model without adapters: no model to choose, and the architect's new
    subgoal is the subtask as it stands."""
    harness = make_harness(wrong_tries=2)
    state = harness.solve(
        "builtin/1", direct_first=True, max_retries=1, max_replans=1, endpoint="local"
    )
    assert [p.decision for p in state.progress] == ["direct", "replan", "done"]
    assert state.result is not None and state.result.status == "solved"
    assert node_names(harness) == ["python", "python", "architect", "python"]
    assert state.plan is not None and state.plan.subgoals[0].objective in harness.prompts()[-1]


def test_direct_first_tries_each_part_plain_with_the_interfaces_it_calls(make_harness):
    """A two-part task (MBPP Pro): no plan or dispatch call; the second part's plain prompt
    shows the first part's interface, as comments before its statement."""
    project = read_mbpp_pro()[0]
    harness = make_harness(problems=[project])
    state = harness.solve(
        project.visible_task(), direct_first=True, direct_route_score=0.0, whole_first_parts=0
    )
    assert state.result is not None and state.result.status == "solved"
    assert len(node_names(harness)) == 2
    assert not harness.prompts("architect") and not harness.prompts("dispatcher")
    assert [p.decision for p in state.progress] == ["direct", "continue", "done"]
    assert state.plan is not None and state.plan.direct
    first, second = harness.prompts()
    assert "Already implemented" not in first
    interface = "# def similar_elements(test_tup1, test_tup2): Write a function to find the shared"
    assert interface in second and second.index(interface) < second.index("def shared_elements")


def test_a_small_task_answered_whole_by_its_first_call_costs_one_call(make_harness):
    """whole_first_parts: the first call is the single call itself (the baseline's prompt, both
    statements); the second part, which that answer already wrote, is checked without a call."""
    project = read_mbpp_pro()[0]
    harness = make_harness(problems=[project])
    state = harness.solve(
        project.visible_task(), direct_first=True, direct_route_score=0.0, whole_first_parts=2
    )
    assert state.result is not None and state.result.status == "solved"
    [only] = harness.endpoint.requests
    single_call = task_prompt(project, harness.context)
    assert [m["content"] for m in only["messages"]] == [m.content for m in single_call]
    assert state.usage.calls == 1 and len(state.outcomes) == 2
    assert "one call answers all the parts first" in state.progress[0].reason
    assert "def shared_elements" in state.result.solution


def test_a_part_the_whole_answer_left_out_gets_its_own_plain_call(make_harness):
    """The whole answer wrote only the base function: the second part's first try is its own
    plain call, after the base function's interface."""
    project = read_mbpp_pro()[0]
    scripted = ScriptedModel([project])
    base_only = "```python\n" + project.parts[0].reference + "\n```"

    def responder(model: str, messages: list[dict], response_format: dict | None) -> str:
        whole = "Reply with the complete code of all 2 functions" in messages[-1]["content"]
        return base_only if whole else scripted(model, messages, response_format)

    harness = make_harness(responder=responder)
    state = harness.solve(
        project.visible_task(), direct_first=True, direct_route_score=0.0, whole_first_parts=2
    )
    assert state.result is not None and state.result.status == "solved"
    whole, second = harness.prompts()
    assert "def shared_elements" in whole and "all 2 functions" not in second
    interface = "# def similar_elements(test_tup1, test_tup2): Write a function to find the shared"
    assert interface in second and second.index(interface) < second.index("def shared_elements")
    assert state.usage.calls == 2


def test_direct_first_takes_window_after_window_directly(make_harness):
    harness = make_harness(problems=[get_project("bundle/2")])
    state = harness.solve("bundle/2", direct_first=True, direct_route_score=0.0, plan_window=1)
    assert [p.decision for p in state.progress] == ["direct", "direct", "done"]
    assert not harness.prompts("architect") and not harness.prompts("dispatcher")
    assert state.plan is not None and state.plan.direct and state.plan.version == 2


def test_a_failed_part_of_a_direct_plan_escalates_and_the_next_part_is_tried_plain(make_harness):
    """Each part fails its plain try and its retry, is rerouted (a dispatcher call, the
    specialist prompt) and solved; the second part still opens with its plain try (its own:
    the task is not answered whole first)."""
    project = get_project("bundle/2")
    harness = make_harness(wrong_tries=2, problems=[project])
    state = harness.solve(
        "bundle/2",
        direct_first=True,
        direct_route_score=0.0,
        max_retries=1,
        max_replans=0,
        whole_first_parts=0,
    )
    decisions = [p.decision for p in state.progress]
    assert decisions == ["direct", "reroute", "continue", "reroute", "done"]
    assert len(harness.prompts("dispatcher")) == 2 and not harness.prompts("architect")
    second = project.parts[1].entry_point
    tries = [r for r in harness.endpoint.requests if second in r["messages"][-1]["content"]]
    tries = [r for r in tries if r["model"] not in ("dispatcher", "monitor")]
    assert tries[0]["temperature"] == 0.0 and "CONFIDENCE" not in tries[0]["messages"][0]["content"]
    assert all("CONFIDENCE" in r["messages"][0]["content"] for r in tries[1:])


def test_math_problem_routes_to_the_math_specialist(make_harness):
    harness = make_harness()
    state = harness.solve("math/0")
    assert state.result is not None and state.result.status == "solved"
    assert "math" in node_names(harness)
    assert "print" in state.result.solution


def test_self_correction_loop_retries_with_feedback(make_harness):
    harness = make_harness(wrong_tries=1)
    state = harness.solve("builtin/2")
    first, second = state.attempts
    assert not first.passed_all and first.feedback
    assert second.passed_all and second.try_index == 1
    retry_prompt = harness.prompts("python")[1]
    assert "Your previous attempt" in retry_prompt
    assert first.feedback.splitlines()[0] in retry_prompt
    assert state.outcomes[-1].attempts == 2


def test_replan_after_a_failed_subgoal(make_harness):
    harness = make_harness(wrong_tries=2)
    state = harness.solve("builtin/1", max_retries=1, max_replans=1)
    decisions = [p.decision for p in state.progress]
    assert decisions == ["plan", "replan", "done"]
    assert state.plan is not None and state.plan.version == 2
    assert state.result is not None and state.result.status == "solved"
    assert state.progress[1].by_model
    architect_prompts = harness.prompts("architect")
    assert len(architect_prompts) == 2 and "previous plan failed" in architect_prompts[1]


def test_a_hopeless_part_is_skipped_when_no_reroute_or_replan_is_left(make_harness):
    harness = make_harness(wrong_tries=99)
    state = harness.solve("builtin/1", max_retries=1, max_replans=0, max_reroutes=0)
    assert [p.decision for p in state.progress] == ["plan", "skip", "done"]
    assert state.result is not None and state.result.status == "failed"
    assert state.outcomes[-1].status == "failed"
    assert "monitor" not in node_names(harness)


def test_budget_exhaustion_gives_up(make_harness):
    harness = make_harness(wrong_tries=99)
    state = harness.solve("builtin/1", max_retries=0, max_replans=5, token_budget=100)
    assert state.progress[-1].decision == "give_up"
    assert "budget" in state.progress[-1].reason


def garbage_responder(problems):
    """Tiers that must answer JSON answer prose; specialists answer correctly."""
    scripted = ScriptedModel(problems)

    def respond(model, messages, response_format):
        if model in ("architect", "dispatcher", "monitor"):
            return "I think we should just do it!"
        return scripted(model, messages, response_format)

    return respond


def test_malformed_json_gets_one_repair_then_a_fallback(make_harness):
    harness = make_harness(garbage_responder(load_dataset("builtin")))
    state = harness.solve("builtin/0")
    assert state.result is not None and state.result.status == "solved"
    assert node_names(harness).count("architect") == 2
    assert node_names(harness).count("dispatcher") == 2
    assert state.format_errors == 4
    assert state.plan is not None and [g.part for g in state.plan.subgoals] == ["reverse_string"]
    assert state.subtask is None and state.attempts[0].specialist == "python"  # router alone


def test_plan_draft_with_unknown_parts_is_repaired_to_the_task_parts(make_harness):
    scripted = ScriptedModel(load_dataset("builtin"))

    def respond(model, messages, response_format):
        if model == "architect":
            return json.dumps(
                {"goal": "g", "strategy": "s", "subgoals": [{"part": "nope", "objective": "x"}]}
            )
        return scripted(model, messages, response_format)

    harness = make_harness(respond)
    state = harness.solve("builtin/0")
    assert state.plan is not None
    assert [g.part for g in state.plan.subgoals] == ["reverse_string"]
    assert state.result is not None and state.result.status == "solved"


def test_hidden_tests_never_reach_a_prompt(make_harness):
    harness = make_harness(wrong_tries=1)
    problems = load_dataset("builtin")
    for problem in problems[:8]:
        harness.solve(problem.id)
    text = "\n".join(harness.prompts())
    for problem in problems[:8]:
        visible = {t.call for t in problem.visible_tests}
        for test in problem.hidden_tests:
            if test.call not in visible and test.call not in problem.statement:
                assert test.call not in text, f"{problem.id}: hidden test {test.call} leaked"


def test_every_prompt_stays_under_the_cap(make_harness):
    harness = make_harness(wrong_tries=2)
    harness.solve("builtin/14", prompt_token_cap=300, max_retries=2)
    for prompt in harness.prompts():
        assert len(prompt) / 3.0 <= 300 + 5


def test_reducers_merge_parallel_writes():
    a = Usage(by_tier={"specialist": TierUsage(calls=1, prompt_tokens=10, completion_tokens=2)})
    b = Usage(by_tier={"specialist": TierUsage(calls=1, prompt_tokens=5, completion_tokens=1)})
    merged = add_usage(add_usage(None, a), b)
    assert merged.by_tier["specialist"] == TierUsage(calls=2, prompt_tokens=15, completion_tokens=3)
    assert a.by_tier["specialist"].calls == 1
    one = Candidate(subgoal_id=0, try_index=0, specialist="python", code="x")
    two = one.model_copy(update={"specialist": "math"})
    assert extend_or_clear(extend_or_clear([], [one]), [two]) == [one, two]
    assert extend_or_clear([one, two], None) == []


def test_fan_out_sends_one_branch_per_specialist():
    task = get_problem("builtin/0").visible_task()
    subtask = Subtask(
        subgoal_id=0, part="reverse_string", objective="o", specialists=["python", "algorithms"]
    )
    sends = to_specialists(State(task=task, subtask=subtask))
    assert [s.node for s in sends] == ["specialist", "specialist"]
    assert [s.arg.specialist for s in sends] == ["python", "algorithms"]


def test_after_monitor_routes_each_decision():
    assert after_monitor(State(decision="plan")) == "architect"
    assert after_monitor(State(decision="replan")) == "architect"
    assert after_monitor(State(decision="direct")) == "architect"
    assert after_monitor(State(decision="continue")) == "dispatcher"
    assert after_monitor(State(decision="reroute")) == "dispatcher"
    assert after_monitor(State(decision="done")) == "finalize"
    assert after_monitor(State(decision="give_up")) == "finalize"


def test_retries_rise_in_temperature_when_asked(make_harness):
    harness = make_harness(wrong_tries=2)
    harness.solve("builtin/2", max_retries=2, retry_temperature_step=0.4)
    temperatures = [body["temperature"] for body in harness.endpoint.requests
                    if body["model"] == "python"]  # fmt: skip
    assert temperatures == pytest.approx([0.2, 0.6, 1.0])


def test_resampled_retries_show_no_earlier_attempt(make_harness):
    harness = make_harness(wrong_tries=1)
    state = harness.solve("builtin/2", retry_resample=True)
    assert state.result is not None and state.result.status == "solved"
    specialist = harness.prompts("python")
    assert len(specialist) == 2 and not any("previous attempt" in p for p in specialist)
    feedback = make_harness(wrong_tries=1)
    feedback.solve("builtin/2")
    assert "Your previous attempt" in feedback.prompts("python")[1]


def test_a_part_keeps_its_best_try_when_later_tries_are_worse(make_harness):
    """Try 0 passes one of two visible tests, tries 1 and 2 pass none: try 0's code is kept."""
    scripted = ScriptedModel(load_dataset("builtin"))
    answers = iter(["def reverse_string(s):\n    return 'cba'\n"]
                   + ["def reverse_string(s):\n    return ''\n"] * 20)  # fmt: skip

    def worse_each_time(model, messages, response_format):
        if model in ("architect", "dispatcher", "monitor"):
            return scripted(model, messages, response_format)
        return f"```python\n{next(answers)}```\nCONFIDENCE: 0.5"

    harness = make_harness(worse_each_time)
    state = harness.solve("builtin/0", max_retries=2, max_reroutes=0, max_replans=0)
    first = state.outcomes[0]
    assert first.attempts == 3 and first.tests_passed == 1 and "'cba'" in first.code
