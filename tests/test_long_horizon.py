"""Multi-part tasks on the scripted model: windows of planning, interfaces, bounded prompts."""

from __future__ import annotations

from graph.context import Context
from graph.state import Part, TestCase
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.llm.prompting import estimate_tokens
from hi_moe.problems.datasets import get_problem
from hi_moe.problems.grading import grade
from hi_moe.problems.projects import humaneval_bundle
from nodes.architect import TESTS_IN_VIEW, TESTS_PER_PART, window_view

TIERS = {"architect", "dispatcher", "monitor"}


def specialist_prompts(harness) -> list[str]:
    return [
        "\n".join(str(m["content"]) for m in body["messages"])
        for body in harness.endpoint.requests
        if body["model"] not in TIERS
    ]


def test_a_project_is_built_part_by_part_and_later_parts_see_earlier_interfaces(make_harness):
    project = get_problem("project/text-stats")
    harness = make_harness(problems=[project])
    state = harness.solve(project.id)
    assert state.result is not None and state.result.status == "solved"
    assert grade(project, state.result.solution).passed
    prompts = specialist_prompts(harness)
    assert len(prompts) == len(project.parts)
    assert "Already available" not in prompts[0]
    first = project.parts[0].entry_point
    assert f"def {first}(" in prompts[1] and "Already available" in prompts[1]
    interfaces = [o.interface for o in state.outcomes]
    assert interfaces[0].startswith(f"def {first}(") and ": " in interfaces[0]


def test_a_later_part_that_rewrites_a_built_function_keeps_the_built_one(make_harness):
    task = get_problem("mbpp-pro/0")
    base, new = (p.entry_point for p in task.parts)
    scripted = ScriptedModel([task])
    wrong_base = f"def {base}(a, b):\n    return ()\n\n"

    def rewriting(model, messages, response_format):
        reply = scripted(model, messages, response_format)
        asks_new = f"`{new}` exactly" in str(messages[-1]["content"])
        return reply.replace("```python\n", "```python\n" + wrong_base, 1) if asks_new else reply

    harness = make_harness(rewriting, problems=[task])
    state = harness.solve(task.id)
    assert state.result is not None
    prompts = specialist_prompts(harness)
    assert f"call `{base}`" in prompts[-1] and f"- def {base}(" in prompts[-1]
    assert "return ()\n\n" not in state.result.solution
    assert state.result.solution.count(f"def {base}(") == 1
    assert grade(task, state.result.solution).passed


def test_the_architect_plans_one_window_of_parts_at_a_time(make_harness):
    bundle = humaneval_bundle(5)
    harness = make_harness(problems=[bundle])
    state = harness.solve(bundle.id, plan_window=2)
    assert state.result is not None and state.result.parts_solved == 5
    architect = harness.prompts("architect")
    assert len(architect) == 3
    names = [p.entry_point for p in bundle.parts]
    formats = [b["response_format"] for b in harness.endpoint.requests if b["model"] == "architect"]
    windows = [names[0:2], names[2:4], names[4:5]]
    for prompt, response_format, window in zip(architect, formats, windows, strict=True):
        listed = prompt.partition("Parts to plan now:")[2].partition("Visible tests:")[0]
        assert [n for n in names if f"- {n}:" in listed] == window
        # The reply schema holds the model to the window: one subgoal per part at most.
        schema = response_format.get("schema") or response_format["json_schema"]["schema"]
        assert schema["properties"]["subgoals"]["maxItems"] == len(window)
        part = schema["$defs"]["SubgoalDraft"]["properties"]["part"]
        assert part.get("enum", [part.get("const")]) == window
    decisions = [p.decision for p in state.progress]
    assert decisions == ["plan", "continue", "plan", "continue", "plan", "done"]
    assert [p.version for p in [state.plan]] == [3]


def test_prompt_sizes_do_not_grow_with_the_number_of_parts(make_harness):
    sizes = {}
    for k in (1, 8):
        bundle = humaneval_bundle(k)
        harness = make_harness(problems=[bundle])
        harness.solve(bundle.id)
        by_model: dict[str, int] = {}
        for body in harness.endpoint.requests:
            tokens = sum(estimate_tokens(str(m["content"])) for m in body["messages"])
            tier = body["model"] if body["model"] in TIERS else "specialist"
            by_model[tier] = max(by_model.get(tier, 0), tokens)
        sizes[k] = by_model
    first_part = humaneval_bundle(1)
    assert first_part.parts[0].id == "HumanEval/0"
    # The architect sees a window of parts, never the whole task.
    assert sizes[8]["architect"] <= sizes[1]["architect"] + 4 * 120
    assert sizes[8]["dispatcher"] <= sizes[1]["dispatcher"] * 1.2
    assert sizes[8]["specialist"] <= Context().prompt_token_cap


def test_hidden_tests_of_bundle_parts_never_reach_a_prompt(make_harness):
    bundle = humaneval_bundle(4)
    harness = make_harness(problems=[bundle])
    harness.solve(bundle.id)
    text = "\n".join(harness.prompts())
    assert "def check(" not in text
    for part in bundle.parts:
        assert part.hidden_check is not None
        body = part.hidden_check.split("def check(")[1]
        assert body[:80] not in text


def test_the_window_view_shows_a_fixed_number_of_tests_dealt_one_per_part():
    def part(name: str) -> Part:
        tests = [TestCase(call=f"{name}({i})", expected=str(i)) for i in range(3)]
        return Part(
            name=name, statement=f"def {name}(x):\n    '''Do {name}.'''", visible_tests=tests
        )

    listed, tests = window_view([part("a")])
    assert listed == "- a: Do a." and tests.splitlines() == ["a(0) == 0", "a(1) == 1"]
    assert TESTS_PER_PART == 2
    _, tests = window_view([part(name) for name in "abcde"])
    assert len(tests.splitlines()) == TESTS_IN_VIEW == 4
    assert tests.splitlines() == ["a(0) == 0", "b(0) == 0", "c(0) == 0", "d(0) == 0"]
    _, tests = window_view([part("a"), part("b")])
    assert tests.splitlines() == ["a(0) == 0", "a(1) == 1", "b(0) == 0", "b(1) == 1"]
