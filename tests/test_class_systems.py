"""ClassEval's systems in `hi-moe compare`: the holistic call, incremental and compositional
generation, the class and method verdicts, and the method-level report."""

from __future__ import annotations

import json

import pytest

from evals import class_strategies, compare, compare_report
from evals.baseline import Sample, completion_cap, format_error, task_prompt
from graph.context import Context
from graph.state import Attempt, Part, SpecialistInput, Subtask
from hi_moe.cli.main import main
from hi_moe.problems.class_code import assemble_class, method_source
from hi_moe.problems.classeval import ClassTask
from hi_moe.problems.datasets import load_dataset
from hi_moe.problems.grading import grade
from nodes.specialist import reply_cap, specialist_messages


@pytest.fixture(scope="module")
def task() -> ClassTask:
    """AreaCalculator: five methods, none calling another."""
    [found] = [t for t in load_dataset("classeval") if t.id == "ClassEval_1"]
    assert isinstance(found, ClassTask)
    return found


def references(task: ClassTask) -> dict[str, str]:
    """Each method's reference definition."""
    return {part.entry_point: part.reference for part in task.parts}


def broken_method(name: str) -> str:
    return f"def {name}(self, *args, **kwargs):\n    raise RuntimeError('broken')\n"


def scripted(monkeypatch, task: ClassTask) -> list[tuple[str, str, int]]:
    """Replace each method call with a reply holding that method's reference; return each
    call's (tier, user prompt, reply cap)."""
    seen: list[tuple[str, str, int]] = []
    methods = references(task)

    def fake(context, messages, temperature, thread_id, tier, max_tokens, shared_with=()):
        prompt = str(messages[-1].content)
        seen.append((tier, prompt, max_tokens))
        name = next(n for n in methods if f"method `{n}`" in prompt)
        return Sample(methods[name], f"```python\n{methods[name]}```", 10, 0.5)

    monkeypatch.setattr(class_strategies, "complete", fake)
    return seen


def test_incremental_shows_the_methods_so_far_and_compositional_does_not(monkeypatch, task):
    first, second = task.parts[0], task.parts[1]
    body = first.reference.strip().splitlines()[-1].strip()
    assert body not in task.skeleton
    seen = scripted(monkeypatch, task)
    context = Context()
    run = class_strategies.incremental(context, task, "t")
    assert [tier for tier, _, _ in seen] == ["incremental"] * len(task.parts)
    assert {cap for _, _, cap in seen} == {context.method_completion_tokens}
    assert f"`{second.entry_point}`" in seen[1][1] and body in seen[1][1]
    assert body not in seen[0][1]
    seen.clear()
    composed = class_strategies.compositional(context, task, "t")
    assert [tier for tier, _, _ in seen] == ["compositional"] * len(task.parts)
    assert all(body not in prompt for _, prompt, _ in seen)
    for built in (run, composed):
        assert built.calls == len(task.parts) and built.tokens == 10 * len(task.parts)
        assert built.wall_s == 0.5 * len(task.parts) and not built.unanswered
        assert built.submission == built.assembled and body in built.submission
        assert not format_error(task, built.submission)


def test_a_reply_without_its_method_leaves_the_stub_and_is_a_format_error(monkeypatch, task):
    monkeypatch.setattr(class_strategies, "complete",
                        lambda *args, **kwargs: Sample("x = 1\n", "x = 1", 5, 0.1))  # fmt: skip
    run = class_strategies.compositional(Context(), task, "t")
    assert run.unanswered == [p.entry_point for p in task.parts]
    assert run.submission == assemble_class(task.skeleton, task.class_name, {})
    row = compare.single_context_row(task, "compositional", run)
    assert row.format_error and not row.passed and row.parts_passed == 0
    assert row.parts_total == len(task.method_test_classes)


def test_the_holistic_call_asks_for_the_whole_class_with_the_class_caps(task):
    context = Context()
    prompt = "\n".join(str(m.content) for m in task_prompt(task, context))
    assert f"class {task.class_name}" in prompt
    assert completion_cap(task, context) == context.class_completion_tokens
    assert completion_cap(task.parts[0], context) == context.max_completion_tokens


def test_the_hierarchys_opening_call_alone_gets_the_class_cap(task):
    """The first method's subtask opens with the whole class; its retries are one method."""
    context = Context()
    part = Part(name=task.parts[0].entry_point, statement=task.parts[0].statement)
    subtask = Subtask(subgoal_id=1, part=part.name, objective="", specialists=["python"],
                      plain=True, whole=True)  # fmt: skip
    tries = [SpecialistInput(part=part, subtask=subtask, specialist="python", try_index=index,
                             class_name=task.class_name) for index in (0, 1)]  # fmt: skip
    assert [reply_cap(t, context) for t in tries] == [
        context.class_completion_tokens,
        context.method_completion_tokens,
    ]


def test_a_method_repair_shows_that_method_of_the_failed_class_and_the_failure(task):
    context = Context(retry_resample=False)
    first, other = task.parts[0].entry_point, task.parts[1].entry_point
    part = Part(name=first, statement=task.parts[0].statement)
    subtask = Subtask(subgoal_id=1, part=first, objective="", specialists=["python"])
    failed = assemble_class(task.skeleton, task.class_name, references(task))
    previous = Attempt(subgoal_id=1, try_index=0, specialist="python", code=failed, ran_ok=True,
                       tests_passed=0, tests_total=1, feedback="got 3, expected 4")  # fmt: skip
    retry = SpecialistInput(part=part, subtask=subtask, specialist="python", try_index=1,
                            previous=previous, class_name=task.class_name)  # fmt: skip
    prompt = "\n".join(str(m.content) for m in specialist_messages(retry, context))
    assert method_source(failed, first, task.class_name) in prompt
    assert f"def {other}" not in prompt and "got 3, expected 4" in prompt


def test_grade_of_a_class_is_class_level_and_method_level(task):
    methods = references(task)
    verdict = grade(task, assemble_class(task.skeleton, task.class_name, methods))
    assert verdict.passed, verdict.detail
    assert verdict.tests_passed == verdict.tests_total == len(task.method_test_classes)
    name = task.parts[-1].entry_point  # calculate_annulus_area: its unittest class alone calls it
    broken = assemble_class(task.skeleton, task.class_name, {**methods, name: broken_method(name)})
    verdict = grade(task, broken)
    assert not verdict.passed
    assert [method for method, ok in verdict.parts.items() if not ok] == [name]
    assert verdict.tests_passed == verdict.tests_total - 1


def test_compare_runs_the_class_systems_with_method_level_pass_at_1(tmp_path, capsys):
    systems = ("baseline", "incremental", "compositional")
    args = ["compare", "--mock", "--dataset", "classeval", "--limit", "2", "--home",
            str(tmp_path), "--run-id", "ce", "--systems", ",".join(systems)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "method-level pass@1 [95% CI]" in out
    for system in systems:
        assert f"| {system} | 2 | 100.0% [34.2%, 100.0%] | 100.0% [" in out
    tasks = load_dataset("classeval")[:2]
    methods = {t.id: len(t.method_test_classes) for t in tasks if isinstance(t, ClassTask)}
    rows = json.loads((tmp_path / "compare" / "ce.json").read_text())["rows"]
    assert {(r["problem_id"], r["system"]) for r in rows} == {
        (p, s) for p in methods for s in systems
    }
    for row in rows:
        assert row["passed"] and not row["format_error"]
        assert row["parts_passed"] == row["parts_total"] == methods[row["problem_id"]]
        calls = len(next(t for t in tasks if t.id == row["problem_id"]).parts)
        assert row["calls"] == (1 if row["system"] == "baseline" else calls)


def test_the_held_out_classes_are_reported_apart(tmp_path, capsys):
    args = ["compare", "--mock", "--dataset", "classeval", "--home", str(tmp_path),
            "--run-id", "ce", "--systems", "baseline"]  # fmt: skip
    assert main([*args, "--limit", "1"]) == 0
    assert "held out" not in capsys.readouterr().out
    assert main([*args, "--skip", "39", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "held out (ClassEval_40..59, never tuned on): 2 classes" in out
    assert out.split("held out")[1].count("| baseline | 2 |") == 1
    assert "| baseline | 3 |" in out.split("held out")[0]


def test_the_default_systems_follow_the_dataset():
    classes = load_dataset("classeval")[:1]
    assert compare.parse_systems(None, classes) == compare.SYSTEMS
    assert compare.parse_systems(None, load_dataset("builtin")[:1]) == compare.DEFAULT_SYSTEMS
    assert "incremental" not in compare.DEFAULT_SYSTEMS


def test_method_by_method_systems_are_refused_on_tasks_that_are_not_classes(tmp_path, capsys):
    args = ["compare", "--mock", "--home", str(tmp_path), "--systems", "baseline,incremental"]
    assert main(args) == 2
    out = capsys.readouterr().out
    assert "error:" in out and "incremental builds a class method by method" in out
    assert "Traceback" not in out and not (tmp_path / "compare").exists()


def test_the_method_column_shows_only_with_class_rows():
    plain = compare_report.summarize([compare_report.Row("p", "baseline", True, 1, 1, 1.0, False)],
                                     ["baseline"])  # fmt: skip
    assert "method-level" not in compare_report.render(plain)
    rows = [
        compare_report.Row("c/0", "baseline", False, 10, 1, 1.0, False, 3, 4),
        compare_report.Row("c/1", "baseline", True, 10, 1, 1.0, False, 2, 2),
    ]
    [summary] = compare_report.summarize(rows, ["baseline"])
    assert (summary.parts_passed, summary.parts_total) == (5, 6)
    assert "| baseline | 2 | 50.0% [9.5%, 90.5%] | 83.3% [" in compare_report.render([summary])


def test_methods_are_compared_to_the_hierarchy_by_a_sign_test_over_classes():
    def row(problem: str, system: str, parts_passed: int) -> compare_report.Row:
        return compare_report.Row(problem, system, False, 10, 1, 1.0, False, parts_passed, 4)

    rows = [row(f"c/{i}", "hierarchy", 3) for i in range(7)]
    rows += [row(f"c/{i}", "baseline", 1) for i in range(6)] + [row("c/6", "baseline", 3)]
    hierarchy, baseline = compare_report.summarize(rows, ["hierarchy", "baseline"])
    assert hierarchy.methods_p_vs_hierarchy is None
    # 6 classes where the hierarchy passes more methods, none fewer, one tie: 2 / 2**6
    assert baseline.methods_p_vs_hierarchy == pytest.approx(2 / 64)
    assert "| 0.0312 |" in compare_report.render([hierarchy, baseline])
