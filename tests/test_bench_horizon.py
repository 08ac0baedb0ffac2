"""The horizon benchmark on the scripted model: bounded prompts vs a growing history."""

from __future__ import annotations

import json

import pytest

from evals.bench_horizon import bundles_for, flatness, horizon, write_report
from hi_moe.errors import UserError


@pytest.fixture(scope="module")
def rows():
    return horizon(ks=(1, 4), pool=4, mock=True)


def test_every_k_covers_the_same_problems():
    for k in (1, 2, 4):
        ids = [p.id for bundle in bundles_for(k, 4) for p in bundle.parts]
        assert ids == [f"HumanEval/{i}" for i in range(4)]
    with pytest.raises(UserError, match="not a multiple"):
        bundles_for(3, 4)


def test_hierarchy_prompts_stay_flat_while_the_single_context_grows(rows):
    by = {(r.system, r.k): r for r in rows}
    assert {r.parts_solved for r in rows} == {4}  # the scripted model solves every part
    assert abs(flatness(rows, "hierarchy")) <= 0.2
    assert flatness(rows, "single_context") > 1.0
    assert by["single_context", 4].max_prompt_tokens > by["hierarchy", 4].max_prompt_tokens
    for k in (1, 4):  # direct first: every part is tried before any plan is asked for
        assert "architect" not in by["hierarchy", k].max_prompt_by_tier
    for row in rows:  # the per-tier maxima explain the overall max
        assert max(row.max_prompt_by_tier.values()) == row.max_prompt_tokens
    assert "specialist" in by["hierarchy", 4].max_prompt_by_tier
    assert set(by["single_context", 4].max_prompt_by_tier) == {"single_context"}


def test_the_report_has_json_markdown_and_a_plot(rows, tmp_path):
    paths = write_report(rows, tmp_path, mock=True)
    data = json.loads(paths["json"].read_text())
    assert data["model"] == "scripted mock" and len(data["rows"]) == 4
    markdown = paths["markdown"].read_text()
    assert "| hierarchy | 4 |" in markdown and "- hierarchy, k=4: specialist " in markdown
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_a_cut_run_resumes_from_its_finished_bundles(tmp_path):
    ticks = []

    def cut_after_the_first_bundle(done, total):
        ticks.append(done)
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        horizon(ks=(1,), pool=2, mock=True, tick=cut_after_the_first_bundle, work=tmp_path)
    saved = json.loads((tmp_path / "bundles.json").read_text())
    assert len(saved["runs"]) == 1

    ticks.clear()
    resumed = horizon(ks=(1,), pool=2, mock=True, tick=lambda d, t: ticks.append(d), work=tmp_path)
    assert ticks == [1, 2, 3, 4]  # the saved bundle counts as done; three are left
    fresh = horizon(ks=(1,), pool=2, mock=True)
    for mine, theirs in zip(resumed, fresh, strict=True):
        assert (mine.system, mine.parts_solved, mine.calls) == (
            theirs.system,
            theirs.parts_solved,
            theirs.calls,
        )


def test_a_run_made_with_another_pool_is_refused(tmp_path):
    horizon(ks=(1,), pool=1, mock=True, work=tmp_path)
    with pytest.raises(UserError, match="another --run-id"):
        horizon(ks=(1,), pool=2, mock=True, work=tmp_path)
