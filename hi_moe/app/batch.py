"""Batches of problems that outlive a failing endpoint.

Every batch command (solve --all, compare, eval, ab-test, bench model) runs its problems
through `Batch`: when the endpoint gives up on a problem (an EndpointError after its retries),
the problem is recorded as interrupted with its thread, whose checkpoints stay, and the batch
goes on. Only `DEAD_AFTER` give-ups in a row (a dead endpoint) stop it early. The command
writes the unfinished problems into its JSON and exits non-zero; run again with the same run
id, it resumes them (`runs.Solver` finds their threads).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from rich.console import Console

from hi_moe.errors import EXIT_INCOMPLETE
from hi_moe.llm.client import EndpointError

DEAD_AFTER = 3
"""Consecutive problems the endpoint gives up on before the batch stops."""
UNFINISHED = ("interrupted", "not_started")
"""The statuses of unfinished rows in a batch's JSON."""

warnings = Console(stderr=True, highlight=False)
Result = TypeVar("Result")


class HasId(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=HasId)


@dataclass(frozen=True)
class Unfinished:
    """A problem the batch did not finish: interrupted (its thread resumes) or not started."""

    problem_id: str
    thread_id: str
    error: str
    status: Literal["interrupted", "not_started"] = "interrupted"


def new_run_id(kind: str) -> str:
    """A fresh run id, e.g. `eval-20260101-120000-1a2b3c`."""
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def give_up_line(problem_id: str, thread_id: str, error: str) -> str:
    return (
        f"gave up on {problem_id} in thread {thread_id}: {error}; "
        f"`hi-moe resume {thread_id}` keeps its work"
    )


class Batch:
    """Runs a batch's problems so that one problem's failing endpoint never ends the others."""

    def __init__(self, run_id: str, dead_after: int = DEAD_AFTER) -> None:
        self.run_id = run_id
        self.dead_after = dead_after
        self.unfinished: list[Unfinished] = []
        self._in_a_row = 0
        self._lock = threading.Lock()

    def attempt(self, problem_id: str, thread_id: str, work: Callable[[], Result]) -> Result | None:
        """`work()` for one problem; None when the endpoint gave up on it or is dead."""
        with self._lock:
            if self._in_a_row >= self.dead_after:
                reason = f"not started: the endpoint failed {self.dead_after} problems in a row"
                self.unfinished.append(Unfinished(problem_id, "", reason, "not_started"))
                return None
        try:
            result = work()
        except EndpointError as exc:
            with self._lock:
                self.unfinished.append(Unfinished(problem_id, thread_id, str(exc)))
                self._in_a_row += 1
                dead = self._in_a_row == self.dead_after
            say(give_up_line(problem_id, thread_id, str(exc)))
            if dead:
                say(f"stopping early: the endpoint failed {self.dead_after} problems in a row")
            return None
        with self._lock:
            self._in_a_row = 0
        return result

    def run(
        self,
        items: Sequence[Item],
        thread_of: Callable[[Item], str],
        work: Callable[[Item, str], Result],
        concurrency: int = 1,
        after: Callable[[Item], None] | None = None,
    ) -> list[Result]:
        """`work(item, thread)` for every item, `concurrency` at a time; the finished results.

        `after(item)` follows each item, finished or not (e.g. to advance a progress bar).
        """

        def one(item: Item) -> Result | None:
            thread_id = thread_of(item)
            result = self.attempt(item.id, thread_id, lambda: work(item, thread_id))
            if after is not None:
                after(item)
            return result

        if concurrency == 1:
            results = [one(item) for item in items]
        else:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                results = list(pool.map(one, items))
        return [r for r in results if r is not None]

    def exit_code(self) -> int:
        """0 when every problem finished; else say how to resume and return EXIT_INCOMPLETE."""
        if not self.unfinished:
            return 0
        interrupted = sum(u.status == "interrupted" for u in self.unfinished)
        say(
            f"{interrupted} problem(s) interrupted, {len(self.unfinished) - interrupted} not "
            f"started; the same command with --run-id {self.run_id} resumes them"
        )
        return EXIT_INCOMPLETE


def say(line: str) -> None:
    """A warning line on stderr, never wrapped or read as markup."""
    warnings.print(line, markup=False, soft_wrap=True)
