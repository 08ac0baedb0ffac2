"""`hi-moe compare`: the hierarchy against single-context systems, resumable, with a chart."""

import json
import sqlite3

import pytest

from evals import compare
from hi_moe.app.registry import RunRegistry
from hi_moe.cli.main import main
from hi_moe.errors import EXIT_INCOMPLETE
from hi_moe.llm.client import EndpointError
from hi_moe.llm.fake.scripted_model import ScriptedModel
from hi_moe.problems.classeval import ClassTask, read_classeval
from hi_moe.problems.datasets import load_dataset


def baseline_calls(home) -> int:
    with sqlite3.connect(home / "calls.sqlite") as conn:
        return conn.execute("SELECT COUNT(*) FROM calls WHERE tier = 'baseline'").fetchone()[0]


def test_compare_writes_rows_table_and_chart_and_resumes(tmp_path, capsys):
    args = ["compare", "--mock", "--limit", "3", "--home", str(tmp_path), "--run-id", "r1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for system in compare.DEFAULT_SYSTEMS:
        assert f"| {system} | 3 | 100.0% [43.8%, 100.0%]" in out
    assert out.count("| 0/3 |") == 4  # the scripted model makes no format errors
    rows = json.loads((tmp_path / "compare" / "r1.json").read_text())["rows"]
    assert {(r["problem_id"], r["system"]) for r in rows} == {
        (p.id, s) for p in load_dataset("builtin")[:3] for s in compare.DEFAULT_SYSTEMS
    }
    singles = [r for r in rows if r["system"] != "hierarchy"]
    # The greedy answer passes every visible test: best-of-n and retry stop at it.
    assert all(r["calls"] == 1 and r["tokens"] > 0 for r in singles)
    assert not any(r["format_error"] for r in rows)
    assert (tmp_path / "compare" / "r1.png").read_bytes()[:4] == b"\x89PNG"
    calls = baseline_calls(tmp_path)
    assert main([*args[:3], "4", *args[4:]]) == 0
    assert "3 problems already done" in capsys.readouterr().out
    assert baseline_calls(tmp_path) == calls + 1


def test_compare_runs_the_four_systems_on_humaneval_offline(tmp_path, capsys):
    args = ["compare", "--mock", "--dataset", "humaneval", "--limit", "3", "--home", str(tmp_path)]
    assert main([*args, "--run-id", "he"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {system} | 3 | 100.0%" in out for system in compare.DEFAULT_SYSTEMS)
    assert "| baseline | 3 | 100.0% [43.8%, 100.0%] | 1 |" in out  # McNemar: no discordant pair


def test_the_single_call_shares_the_hierarchys_identical_first_request(tmp_path):
    args = ["compare", "--mock", "--dataset", "humaneval", "--limit", "2", "--home", str(tmp_path)]
    assert main([*args, "--run-id", "shared", "--systems", "baseline,hierarchy"]) == 0
    with sqlite3.connect(tmp_path / "calls.sqlite") as conn:
        first = conn.execute(
            "SELECT request, tier, thread_id FROM calls WHERE tier = 'specialist' ORDER BY id"
        ).fetchall()
        made = conn.execute("SELECT request, COUNT(*) FROM calls GROUP BY request").fetchall()
    assert baseline_calls(tmp_path) == 0  # both answered from the hierarchy's first call
    assert all(count == 1 for _, count in made)  # no request is made twice
    assert len({thread for _, _, thread in first}) == 2
    rows = json.loads((tmp_path / "compare" / "shared.json").read_text())["rows"]
    baseline = [r for r in rows if r["system"] == "baseline"]
    assert all(r["calls"] == 1 and r["tokens"] > 0 and r["passed"] for r in baseline)


def test_compare_runs_only_the_systems_asked_for(tmp_path, capsys):
    args = ["compare", "--mock", "--limit", "2", "--home", str(tmp_path), "--run-id", "two"]
    assert main([*args, "--systems", "hierarchy,baseline"]) == 0
    rows = json.loads((tmp_path / "compare" / "two.json").read_text())["rows"]
    assert {r["system"] for r in rows} == {"baseline", "hierarchy"}
    assert main([*args, "--systems", "baseline,hierarchy,retry"]) == 2
    out = capsys.readouterr().out
    assert "run two was made with systems ['baseline', 'hierarchy']" in out
    assert len(json.loads((tmp_path / "compare" / "two.json").read_text())["rows"]) == 4


def routine_sources(home, run_id: str, problem: str) -> list[str]:
    """Problems whose routines the hierarchy's architect was shown on `problem` in the run."""
    (result,) = (home / "results").glob(f"{run_id}-{problem}-*-hierarchy.json")
    return [use["source_id"] for use in json.loads(result.read_text())["routines"]]


def test_routines_on_lets_the_hierarchy_reuse_the_parts_it_solved_earlier_in_the_run(tmp_path):
    args = ["compare", "--mock", "--limit", "12", "--home", str(tmp_path),
            "--systems", "hierarchy", "--always-plan"]  # fmt: skip
    assert main([*args, "--run-id", "memory", "--routines", "on"]) == 0
    assert routine_sources(tmp_path, "memory", "builtin-11") == ["builtin/1"]  # is_even
    assert (tmp_path / "compare" / "memory-routines").is_dir()
    description = json.loads((tmp_path / "compare" / "memory.json").read_text())["run"]
    assert description["hierarchy"].endswith(", routine cache")
    assert main([*args, "--run-id", "plain"]) == 0
    assert routine_sources(tmp_path, "plain", "builtin-11") == []
    assert not (tmp_path / "compare" / "plain-routines").exists()
    assert not (tmp_path / "routines").exists()


def test_compare_skip_starts_after_the_first_problems(tmp_path, capsys):
    args = ["compare", "--mock", "--skip", "1", "--limit", "2", "--home", str(tmp_path)]
    assert main([*args, "--run-id", "later", "--systems", "baseline,hierarchy"]) == 0
    rows = json.loads((tmp_path / "compare" / "later.json").read_text())["rows"]
    assert {r["problem_id"] for r in rows} == {p.id for p in load_dataset("builtin")[1:3]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--systems", "baseline,nope"], "unknown system 'nope' in --systems"),
        (["--systems", "best-of-n"], "best-of-n spends the hierarchy's tokens"),
        (["--limit", "0"], "--limit must be at least 1, not 0"),
        (["--skip", "-1"], "--skip must be from 0 to 24 (builtin has 25 tasks to compare), not -1"),
        (["--skip", "25"], "--skip must be from 0 to 24 (builtin has 25 tasks to compare), not 25"),
    ],
)
def test_compare_bad_input_is_one_clear_error(tmp_path, capsys, extra, message):
    assert main(["compare", "--mock", "--home", str(tmp_path), *extra]) == 2
    out = capsys.readouterr().out
    assert message in out and "Traceback" not in out
    assert not (tmp_path / "compare").exists()


def recorded_prompts(monkeypatch) -> list[str]:
    """Every prompt the scripted model is sent from now on, its messages joined."""
    prompts: list[str] = []
    answer = ScriptedModel.__call__

    def recording(self, model, messages, response_format):
        prompts.append("\n".join(str(m.get("content", "")) for m in messages))
        return answer(self, model, messages, response_format)

    monkeypatch.setattr(ScriptedModel, "__call__", recording)
    return prompts


def test_two_part_tasks_run_offline_and_no_prompt_holds_a_hidden_test(
    tmp_path, capsys, monkeypatch
):
    prompts = recorded_prompts(monkeypatch)
    args = ["compare", "--mock", "--dataset", "mbpp-pro", "--limit", "3", "--home", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert all(f"| {system} | 3 | 100.0%" in out for system in compare.DEFAULT_SYSTEMS)
    assert "left out 24 tasks whose new statement repeats" in out
    text = "\n".join(prompts)
    for task in load_dataset("mbpp-pro")[:3]:
        assert all(part.statement.strip()[:60] in text for part in task.parts)
        new = task.parts[1]
        assert new.hidden_check is not None
        for line in new.hidden_check.splitlines()[1:]:
            assert line.strip() not in text, f"{task.id}: hidden test {line.strip()} leaked"
    assert "def check(" not in text


def distinctive_lines(task: ClassTask, *texts: str) -> set[str]:
    """The lines of `texts` long enough to be the task's own and shown nowhere in its
    statement (a line the skeleton has is visible anyway)."""
    lines = {line.strip() for text in texts for line in text.splitlines()}
    return {line for line in lines if len(line) >= 20 and line not in task.statement}


def hidden_class_lines(task: ClassTask) -> set[str]:
    """Distinctive lines of a class's unittest source and reference solutions."""
    solutions = [task.reference, *(part.reference for part in task.parts)]
    return distinctive_lines(task, task.hidden_test, *solutions)


def leaked(lines: set[str], text: str) -> list[str]:
    """The `lines` in `text` (a prompt, or a JSON dump with its quotes escaped)."""
    return sorted(line for line in lines if line in text or json.dumps(line)[1:-1] in text)


@pytest.mark.parametrize("task", read_classeval(), ids=lambda t: t.id)
def test_no_class_test_or_solution_line_reaches_the_visible_task(task):
    hidden = hidden_class_lines(task)
    assert len(hidden) > 5
    assert leaked(hidden, task.visible_task().model_dump_json()) == []


def test_the_class_leak_check_detects_a_leak():
    task = read_classeval()[0]
    hidden = hidden_class_lines(task)
    line = sorted(hidden)[0]
    leaky = task.model_copy(update={"statement": f"{task.statement}\n# {line}\n"})
    assert leaked(hidden, leaky.visible_task().model_dump_json()) == [line]


def test_a_class_task_runs_offline_and_no_prompt_holds_its_hidden_test(
    tmp_path, capsys, monkeypatch
):
    """The scripted model answers with the references, so later prompts (retries, the methods
    written so far) hold them: the unittest source is what must never reach a prompt."""
    prompts = recorded_prompts(monkeypatch)
    args = ["compare", "--mock", "--dataset", "classeval", "--limit", "1", "--home", str(tmp_path)]
    assert main(args) == 0
    text = "\n".join(prompts)
    task = read_classeval()[0]
    assert task.skeleton.strip()[:200] in text
    assert leaked(distinctive_lines(task, task.hidden_test), text) == []
    assert "unittest" not in text


def test_compare_refuses_rows_from_another_version(tmp_path, capsys):
    (tmp_path / "compare").mkdir()
    (tmp_path / "compare" / "old.json").write_text('{"version": 0, "rows": []}')
    args = ["compare", "--mock", "--limit", "1", "--home", str(tmp_path), "--run-id", "old"]
    assert main(args) == 2
    assert "cannot resume" in capsys.readouterr().out
    assert (tmp_path / "compare" / "old.json").read_text() == '{"version": 0, "rows": []}'


def test_compare_unknown_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["compare", "--dataset", "nope", "--home", str(tmp_path)]) == 2
    assert "unknown dataset" in capsys.readouterr().out


def test_compare_ab_test_and_eval_refuse_the_multi_part_projects(tmp_path, capsys):
    for command in (
        ["compare", "--mock"],
        [
            "ab-test",
            "--mock",
            "--tier",
            "architect",
            "--variant",
            "A=prompts/architect.md",
            "--variant",
            "B=prompts/architect.md",
        ],
        ["eval", "--mock"],
    ):
        assert main([*command, "--dataset", "projects", "--home", str(tmp_path)]) == 2
        out = capsys.readouterr().out
        assert f"{command[0]} works on single problems" in out and "bench horizon" in out
    assert not (tmp_path / "compare").exists()


def test_a_problem_the_endpoint_gives_up_on_is_unfinished_and_the_run_id_resumes_it(
    tmp_path, capsys, monkeypatch
):
    real = compare.greedy_sample

    def flaky(context, problem, thread_id, shared_with=()):
        if problem.id == "builtin/1":
            raise EndpointError("http://x/v1 answered HTTP 503 (gave up after 4 tries)")
        return real(context, problem, thread_id, shared_with)

    monkeypatch.setattr(compare, "greedy_sample", flaky)
    args = ["compare", "--mock", "--limit", "3", "--home", str(tmp_path), "--run-id", "r2"]
    assert main(args) == EXIT_INCOMPLETE
    data = json.loads((tmp_path / "compare" / "r2.json").read_text())
    assert {r["problem_id"] for r in data["rows"]} == {"builtin/0", "builtin/2"}
    [unfinished] = data["unfinished"]
    thread = unfinished["thread_id"]
    assert unfinished["problem_id"] == "builtin/1" and thread.endswith("-hierarchy")
    assert f"gave up on builtin/1 in thread {thread}" in capsys.readouterr().err

    monkeypatch.setattr(compare, "greedy_sample", real)
    assert main(args) == 0
    data = json.loads((tmp_path / "compare" / "r2.json").read_text())
    assert len(data["rows"]) == 12 and data["unfinished"] == []
    runs = RunRegistry(tmp_path / "runs.sqlite").for_run("r2")
    assert [r.thread_id for r in runs if r.problem_id == "builtin/1"] == [thread]
