"""ScriptedModel (the `--mock` model): reference answers after scripted wrong tries."""

import json

from hi_moe.llm.extraction import extract_code, extract_confidence
from hi_moe.llm.fake.scripted_model import ScriptedModel, wrong_answer
from hi_moe.problems.datasets import get_problem
from hi_moe.problems.grading import grade

REVERSE = get_problem("builtin/0")
GCD = get_problem("builtin/7")
APPLES = get_problem("math/0")


def ask(model: ScriptedModel, text: str, name: str = "python") -> str:
    messages = [{"role": "system", "content": "You are a specialist."}]
    messages.append({"role": "user", "content": text})
    return model(name, messages, None)


def test_specialist_answers_the_reference_for_the_problem_in_the_prompt():
    model = ScriptedModel([REVERSE, GCD])
    reply = ask(model, f"Solve this:\n{GCD.statement}\nSubtask: implement gcd")
    assert extract_code(reply).strip() == GCD.reference.strip()
    assert extract_confidence(reply) == 0.9
    assert grade(GCD, extract_code(reply)).passed


def test_wrong_tries_come_first_then_the_reference():
    model = ScriptedModel([REVERSE], wrong_tries=2)
    prompt = f"Task:\n{REVERSE.statement}"
    replies = [ask(model, prompt) for _ in range(3)]
    assert replies[:2] == [wrong_answer(REVERSE)] * 2
    assert not grade(REVERSE, extract_code(replies[0])).passed
    assert grade(REVERSE, extract_code(replies[2])).passed


def test_wrong_tries_are_counted_per_problem():
    model = ScriptedModel([REVERSE, GCD], wrong_tries=1)
    assert ask(model, REVERSE.statement) == wrong_answer(REVERSE)
    assert ask(model, GCD.statement) == wrong_answer(GCD)
    assert REVERSE.reference.strip() in ask(model, REVERSE.statement)


def test_replies_a_resumed_thread_already_got_count_as_tries():
    model = ScriptedModel([REVERSE, GCD], wrong_tries=2, answered=[wrong_answer(REVERSE), "{}"])
    assert ask(model, REVERSE.statement) == wrong_answer(REVERSE)
    assert REVERSE.reference.strip() in ask(model, REVERSE.statement)
    assert ask(model, GCD.statement) == wrong_answer(GCD)


def test_math_problem_answers_with_a_program_that_grades():
    model = ScriptedModel([APPLES])
    reply = ask(model, f"Task (math): {APPLES.statement}", name="math")
    assert grade(APPLES, extract_code(reply)).passed


def test_unknown_prompt_gets_a_low_confidence_stub():
    reply = ask(ScriptedModel([REVERSE]), "something unrelated")
    assert extract_code(reply) == "pass\n"
    assert extract_confidence(reply) == 0.1


def test_architect_plans_one_subgoal_per_part():
    prompt = "Parts to plan now:\n- a: first\n- b: second\nVisible tests:\na() == 1"
    plan = json.loads(ask(ScriptedModel([]), prompt, name="architect"))
    assert [s["part"] for s in plan["subgoals"]] == ["a", "b"]
    assert plan["goal"] and plan["strategy"]


def test_monitor_picks_an_allowed_decision():
    model = ScriptedModel([])
    replan = json.loads(ask(model, "Allowed decisions: continue, replan.", name="monitor"))
    assert replan["decision"] == "replan"
    done = json.loads(ask(model, "Allowed decisions: done, give_up.", name="monitor"))
    assert done["decision"] == "done"


def test_dispatcher_routes_math_to_the_math_specialist():
    model = ScriptedModel([])
    math = json.loads(ask(model, "Subgoal of a math task", name="dispatcher"))
    code = json.loads(ask(model, "Subgoal of a task", name="dispatcher"))
    assert (math["specialist"], code["specialist"]) == ("math", "python")
