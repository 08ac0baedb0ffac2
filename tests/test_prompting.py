"""Prompt templates render under a hard token cap, keeping small fields and cutting large ones."""

import pytest

from hi_moe.llm.prompting import (
    TRUNCATED,
    estimate_tokens,
    fit_fields,
    fragment,
    load_template,
    prompt_tokens,
    render,
    truncate,
)

HUGE = "x" * 200_000


def architect_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "kind": "code",
        "title": "Reverse a string",
        "statement": "def reverse_string(s): ...",
        "progress": "0 of 1 parts solved, 0 skipped.",
        "parts": "- reverse_string: Return the string reversed.",
        "visible_tests": "reverse_string('abc') == 'cba'",
        "interfaces": "(none)\n",
        "routines": "",
        "history": "",
    }
    return {**fields, **overrides}


@pytest.mark.parametrize("cap", [300, 600, 1500, 4000])
def test_render_stays_under_cap_with_huge_fields(cap):
    fields = architect_fields(statement=HUGE, visible_tests=HUGE, history=HUGE)
    messages = render("architect", cap, **fields)
    assert prompt_tokens(messages) <= cap
    assert TRUNCATED in messages[1].content


def test_render_keeps_small_fields_intact_next_to_huge_ones():
    fields = architect_fields(history=HUGE)
    messages = render("architect", 800, **fields)
    user = messages[1].content
    assert "Task (code): Reverse a string" in user
    assert "def reverse_string(s): ..." in user
    assert "Parts to plan now:\n- reverse_string: Return the string reversed." in user
    assert "reverse_string('abc') == 'cba'" in user
    assert prompt_tokens(messages) <= 800


def test_render_without_pressure_changes_nothing():
    fields = architect_fields()
    messages = render("architect", 10_000, **fields)
    assert TRUNCATED not in messages[1].content
    assert messages[0].content == load_template("architect")[0]
    assert '{"goal": one sentence' in messages[1].content


def test_render_specialist_uses_system_and_user_messages():
    fields = {
        "specialist": "python",
        "description": "General Python.",
        "instructions": "Implement it.",
        "statement": "def f(): ...",
        "objective": "Implement f.",
        "constraints": "none",
        "interfaces": "",
        "feedback": "",
    }
    system, user = render("specialist", 2000, **fields)
    assert system.type == "system" and user.type == "human"
    assert "You are the python specialist" in system.content
    assert "Subtask: Implement f." in user.content


def test_fit_fields_respects_budget_even_when_tiny():
    fields = {f"k{i}": "y" * 100 for i in range(5)}
    for budget in (0, 1, 3, 7, 20, 60):
        fitted = fit_fields(fields, budget)
        assert sum(estimate_tokens(v) for v in fitted.values()) <= budget


def test_fit_fields_gives_leftover_share_to_larger_fields():
    fitted = fit_fields({"small": "a" * 30, "big": "b" * 3000}, 200)
    assert fitted["small"] == "a" * 30
    assert fitted["big"].endswith(TRUNCATED)
    assert estimate_tokens(fitted["big"]) == 190


def test_truncate_marks_the_cut():
    assert truncate("short", 10) == "short"
    cut = truncate("z" * 100, 10)
    assert len(cut) == 30
    assert cut.endswith(TRUNCATED)


def test_template_without_separator_raises(tmp_path):
    path = tmp_path / "broken.md"
    path.write_text("system only, no separator line\nuser {x}\n")
    with pytest.raises(ValueError, match="lacks the '---' line"):
        load_template(str(path))


def test_load_template_accepts_a_path_for_ab_variants(tmp_path):
    variant = tmp_path / "architect_b.md"
    variant.write_text("Variant B system.\n---\nPlan {title} briefly.\n")
    assert load_template(str(variant)) == ("Variant B system.", "Plan {title} briefly.")
    system, user = render(str(variant), 100, title="T" * 3000)
    assert system.content == "Variant B system."
    assert user.content.startswith("Plan TTT")
    assert prompt_tokens([system, user]) <= 100


def test_load_template_reads_from_a_prompts_dir(tmp_path):
    (tmp_path / "tiny.md").write_text("S\n---\nU {a}\n")
    assert load_template("tiny", tmp_path) == ("S", "U {a}")


def test_every_shipped_template_has_both_parts():
    for name in ("architect", "dispatcher", "monitor", "specialist"):
        system, user = load_template(name)
        assert system and user, name


def test_fragment_fills_in_its_fields():
    assert fragment("dispatcher.earlier", summary="failed: 0/2") == "Earlier try: failed: 0/2\n"
    feedback = fragment("specialist.feedback", code="x = {}\n", feedback="assert f() == 1")
    assert feedback.startswith("\nYour previous attempt:\n```python\nx = {}\n```\n")
    assert feedback.endswith("It failed: assert f() == 1\nFix it.\n")


def test_a_missing_fragment_is_named():
    for name in ("architect.nope", "monitor.actions", "monitor.actions.skip.more"):
        with pytest.raises(KeyError, match=f"no prompt fragment '{name}'"):
            fragment(name)
