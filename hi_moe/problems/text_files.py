"""Line-oriented data files (JSONL datasets, training examples): lines with their numbers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hi_moe.errors import UserError


def numbered_lines(path: Path, what: str, error: type[UserError]) -> Iterator[tuple[int, str]]:
    """The non-blank lines of `path` with their 1-based numbers, for errors that name the line;
    a missing file is `error` naming `what` it should have been."""
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            yield number, line
