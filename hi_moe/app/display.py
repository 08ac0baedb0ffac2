"""Readable terminal output: one line per graph step, a summary per run, a table per batch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.syntax import Syntax
from rich.table import Table

from hi_moe.app.runs import RunResult

console = Console(highlight=False)


def print_report(text: str) -> None:
    """A plain-text report (Markdown tables): printed as is, never wrapped or read as markup."""
    console.print(text, markup=False, soft_wrap=True)


class LineProgress(Progress):
    """Progress for output that is not a terminal (a log file, CI), where a bar cannot redraw:
    each change of a task's count prints one line, description, done/total and elapsed."""

    def update(self, task_id: TaskID, **changes: Any) -> None:
        before = self._tasks[task_id].completed
        super().update(task_id, **changes)
        self._line_if_moved(task_id, before)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _line_if_moved(self, task_id: TaskID, before: float) -> None:
        task = self._tasks[task_id]
        if task.completed == before:
            return
        total = "" if task.total is None else f"/{task.total:g}"
        elapsed = timedelta(seconds=int(task.elapsed or 0))
        self.console.print(f"{task.description}: {task.completed:g}{total} ({elapsed})",
                           markup=False, highlight=False)  # fmt: skip


def progress_bar(disable: bool = False) -> Progress:
    """The bar every multi-problem command shows: description, bar, done/total, elapsed; off a
    terminal, one line per step instead (see LineProgress)."""
    kind = Progress if disable or console.is_terminal else LineProgress
    return kind(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )


def step_line(node: str, update: dict) -> str | None:
    """A one-line description of what a node just did, or None for nothing worth showing."""
    if node == "monitor" and update.get("progress"):
        report = update["progress"][-1]
        return f"[bold]monitor[/]     {report.decision}: {report.reason}"
    if node == "architect" and update.get("plan"):
        plan = update["plan"]
        return f"[bold]architect[/]   plan v{plan.version}, {len(plan.subgoals)} subgoal(s)"
    if node == "dispatcher" and update.get("subtask"):
        subtask = update["subtask"]
        chosen = ", ".join(subtask.specialists)
        return f"[bold]dispatcher[/]  subgoal {subtask.subgoal_id} ({subtask.part}) -> {chosen}"
    if node == "validate":
        return "\n".join(
            f"[bold]validate[/]    {a.specialist} try {a.try_index + 1}: "
            f"{a.tests_passed}/{a.tests_total} visible tests"
            + ("" if a.passed_all else f" [dim]({a.feedback.splitlines()[0][:80]})[/]")
            for a in update.get("attempts", [])
            if a.feedback or a.passed_all
        )
    if node == "select" and update.get("outcomes"):
        return f"[bold]select[/]      {update['outcomes'][-1].summary}"
    if node == "finalize" and update.get("result"):
        return f"[bold]finalize[/]    {update['result'].status}"
    return None


def print_step(node: str, update: dict) -> None:
    line = step_line(node, update)
    if line:
        console.print(line)


STATUS_STYLE = {"solved": "green", "partial": "yellow", "failed": "red"}


def print_result(result: RunResult, path: str, show_solution: bool = True) -> None:
    """The summary of one run: status, tests, tokens per tier, time, where the JSON is."""
    style = STATUS_STYLE.get(result.status, "white")
    hidden = result.hidden
    verdict = "[green]pass[/]" if hidden["passed"] else "[red]fail[/]"
    console.print(
        f"\n[bold]{result.problem_id}[/]  status [{style}]{result.status}[/]  "
        f"hidden tests {verdict} ({hidden['tests_passed']}/{hidden['tests_total']})  "
        f"visible {result.visible['tests_passed']}/{result.visible['tests_total']}  "
        f"{result.total_tokens} tokens in {result.llm_calls} calls  {result.wall_s:.1f} s  "
        f"est. ${result.estimated_cost_usd:.4f}"
    )
    table = Table("tier", "calls", "prompt tokens", "completion tokens", "est. cost", box=None)
    for tier, usage in result.tokens.items():
        table.add_row(
            tier,
            str(usage["calls"]),
            str(usage["prompt_tokens"]),
            str(usage["completion_tokens"]),
            f"${result.cost_by_tier.get(tier, 0.0):.4f}",
        )
    console.print(table)
    if show_solution:
        console.print(Syntax(result.solution.strip() or "# (no code)", "python"))
    console.print(f"thread [bold]{result.thread_id}[/]   result {path}")


def print_batch(results: list[RunResult]) -> None:
    """One row per problem and the totals."""
    table = Table("problem", "status", "hidden", "visible", "tokens", "calls", "seconds")
    for r in results:
        table.add_row(
            r.problem_id,
            f"[{STATUS_STYLE.get(r.status, 'white')}]{r.status}[/]",
            "pass" if r.hidden["passed"] else "fail",
            f"{r.visible['tests_passed']}/{r.visible['tests_total']}",
            str(r.total_tokens),
            str(r.llm_calls),
            f"{r.wall_s:.1f}",
        )
    console.print(table)
    passed = sum(r.hidden["passed"] for r in results)
    console.print(
        f"hidden tests passed on [bold]{passed}/{len(results)}[/] problems; "
        f"{sum(r.total_tokens for r in results)} tokens in {sum(r.llm_calls for r in results)} "
        "calls"
    )
