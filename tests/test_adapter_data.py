"""Adapter training data: reference and harness examples, splits, bad files (no model)."""

from __future__ import annotations

import json

import pytest

from graph.context import Context
from hi_moe.adapters.data import DataError, read_examples, write_examples
from hi_moe.app.training_data import (
    build_examples,
    first_try_input,
    harness_examples,
    reference_examples,
    strip_docstring,
)
from hi_moe.problems.datasets import load_dataset
from hi_moe.problems.grading import grade
from hi_moe.problems.mathgen import generate
from hi_moe.problems.splits import SPLITS, evaluation_ids, split_of, training_problems
from nodes.specialist import specialist_messages


def test_training_splits_are_disjoint_from_every_evaluation_problem():
    evaluated = evaluation_ids()
    assert {f"HumanEval/{n}" for n in range(100)} <= evaluated
    assert {p.id for p in load_dataset("builtin") + load_dataset("math")} <= evaluated
    for split in SPLITS:
        ids = {p.id for p in training_problems(split)}
        assert ids and not ids & evaluated, split
    assert {p.id for p in training_problems("humaneval-train")} == {
        f"HumanEval/{n}" for n in range(100, 164)
    }
    math_statements = {p.statement for p in load_dataset("math")}
    assert not {p.statement for p in training_problems("mathgen-train")} & math_statements
    assert split_of("HumanEval/120") == "humaneval-train" and split_of("HumanEval/3") is None


def test_generated_math_problems_are_reproducible_and_their_references_are_right():
    first, again = generate(), generate()
    assert [p.model_dump() for p in first] == [p.model_dump() for p in again]
    assert len({p.statement for p in first}) == len(first) == 64
    for problem in first[:12]:
        assert grade(problem, problem.reference).passed, problem.id


def test_reference_examples_hold_the_exact_specialist_prompt_and_a_passing_answer():
    context = Context()
    examples = reference_examples("python", context)
    assert len(examples) == 64 and {e.split for e in examples} == {"humaneval-train"}
    example = next(e for e in examples if e.problem_id == "HumanEval/120")
    problem = next(p for p in training_problems("humaneval-train") if p.id == "HumanEval/120")
    prompt = specialist_messages(first_try_input(problem, "python"), context)
    assert [m["content"] for m in example.messages[:-1]] == [m.content for m in prompt]
    assert [m["role"] for m in example.messages] == ["system", "user", "assistant"]
    answer = example.messages[-1]["content"]
    assert answer.startswith("```python\n") and answer.endswith("```\nCONFIDENCE: 0.9")
    code = answer.removeprefix("```python\n").split("\n```")[0]
    assert '"""' not in code and grade(problem, code).passed


def test_strip_docstring_keeps_code_and_signature():
    source = 'import math\n\ndef f(x):\n    """Doc.\n    More.\n    """\n    return x\n'
    assert strip_docstring(source, "f") == "import math\n\ndef f(x):\n    return x\n"
    assert strip_docstring("def g():\n    return 1\n", "g") == "def g():\n    return 1\n"


def test_math_examples_and_a_specialist_without_a_split():
    examples = build_examples("math", ["reference"], Context())
    assert len(examples) == 64 and all(e.problem_id.startswith("mathgen/") for e in examples)
    with pytest.raises(DataError, match="no training split has reference solutions"):
        build_examples("debugging", ["reference"], Context())


def test_harness_examples_are_verified_training_problems_with_the_prompt_sent(make_harness):
    training = next(p for p in training_problems("humaneval-train") if p.id == "HumanEval/120")
    harness = make_harness(problems=[training, *load_dataset("builtin")[:1]])
    harness.solve("HumanEval/120")
    harness.solve("builtin/0")  # an evaluation problem: never training data
    examples = harness_examples(harness.checkpoint, harness.context)
    assert {e.problem_id for e in examples} == {"HumanEval/120"}
    assert all(e.source == "harness" and e.split == "humaneval-train" for e in examples)
    sent = [
        body["messages"]
        for body in harness.endpoint.requests
        if body["model"] not in ("architect", "dispatcher", "monitor")
    ]
    for example in examples:
        prompt = [{"role": m["role"], "content": m["content"]} for m in example.messages[:-1]]
        assert prompt in [[{"role": m["role"], "content": m["content"]} for m in s] for s in sent]
        assert "CONFIDENCE: 0.9" in example.messages[-1]["content"]
    assert harness_examples(harness.checkpoint, harness.context, specialist="nobody") == []


def test_repairs_are_verified_fixes_shown_after_the_failed_attempt_and_its_feedback(make_harness):
    training = next(p for p in training_problems("humaneval-train") if p.id == "HumanEval/120")
    harness = make_harness(wrong_tries=1, problems=[training, *load_dataset("builtin")[:1]])
    harness.solve("HumanEval/120")  # wrong first, fixed by the retry
    harness.solve("builtin/0")  # an evaluation problem: never training data
    [repair] = harness_examples(harness.checkpoint, harness.context, source="repair")
    assert (repair.problem_id, repair.source, repair.split) == (
        "HumanEval/120",
        "repair",
        "humaneval-train",
    )
    prompt, answer = repair.messages[-2]["content"], repair.messages[-1]["content"]
    assert "Your previous attempt:" in prompt and "It failed:" in prompt
    assert grade(training, answer.split("```python\n")[1].split("```")[0]).passed
    # the retry's own request, as the run sent it (retries repair in this harness)
    sent = [[m["content"] for m in body["messages"]] for body in harness.endpoint.requests]
    assert [m["content"] for m in repair.messages[:-1]] in sent
    hidden = [line.strip() for line in (training.hidden_check or "").splitlines()]
    assert not [line for line in hidden if line.startswith("assert") and line in prompt]
    # the fix is also a plain harness success; only the repair shows the failure
    [success] = harness_examples(harness.checkpoint, harness.context, source="harness")
    assert success.messages[-1] == repair.messages[-1]


def test_harness_source_without_checkpoints_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no checkpoint database"):
        harness_examples(str(tmp_path / "none.sqlite"), Context())


def test_written_examples_read_back_and_bad_lines_name_their_line(tmp_path):
    examples = reference_examples("math", Context())[:10]
    path = write_examples(examples, tmp_path / "data" / "math.jsonl")
    assert [p.name for p in path.parent.iterdir()] == ["math.jsonl"]
    assert read_examples(path, "math") == examples
    assert read_examples(path, "python", min_examples=0) == []

    lines = path.read_text().splitlines()
    bad = {
        "{not json": "not JSON",
        json.dumps({"specialist": "math", "messages": []}): "'problem_id'",
        json.dumps(
            {
                "specialist": "math",
                "problem_id": "x",
                "messages": [{"role": "user", "content": "q"}],
            }
        ): "at least a prompt and an answer",
        json.dumps(
            {
                "specialist": "math",
                "problem_id": "x",
                "messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "a"}],
            }
        ): "assistant's non-empty answer",
    }
    for line, reason in bad.items():
        broken = tmp_path / "broken.jsonl"
        broken.write_text("\n".join([*lines[:2], line, *lines[2:]]) + "\n")
        with pytest.raises(DataError, match=rf"broken.jsonl:3: bad training example: .*{reason}"):
            read_examples(broken)


def test_too_few_examples_or_no_file_is_one_clear_error(tmp_path):
    path = write_examples(reference_examples("math", Context())[:3], tmp_path / "few.jsonl")
    with pytest.raises(DataError, match="holds 3 examples for specialist 'math'; .* at least 8"):
        read_examples(path, "math")
    with pytest.raises(DataError, match="does not exist"):
        read_examples(tmp_path / "missing.jsonl")
