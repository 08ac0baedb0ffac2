"""What every benchmark suite shares: the progress callback type and Markdown tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

Tick = Callable[[int, int], None]
"""Progress of a suite: called with (units done, units in total) after each unit of work."""


def no_tick(done: int, total: int) -> None:
    """The progress callback that shows nothing."""


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; cells are formatted with str()."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
