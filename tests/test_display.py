"""Terminal output of long commands."""

from __future__ import annotations

from hi_moe.app import display


def test_off_a_terminal_the_progress_bar_prints_one_line_per_finished_step(capsys):
    # Captured output is a file, as under nohup or in CI: no terminal to redraw a bar on.
    with display.progress_bar() as bar:
        job = bar.add_task("compare humaneval", total=3, completed=1)
        bar.advance(job)
        bar.update(job, description="compare humaneval (last)")
        bar.update(job, completed=3)
    lines = capsys.readouterr().out.splitlines()
    counts = [line.rsplit(" (", 1)[0] for line in lines[:2]]
    assert counts == ["compare humaneval: 2/3", "compare humaneval (last): 3/3"]


def test_a_disabled_progress_bar_prints_nothing(capsys):
    with display.progress_bar(disable=True) as bar:
        bar.advance(bar.add_task("solving", total=1))
    assert capsys.readouterr().out == ""
