"""Training data files for specialist adapters: chat examples as JSONL, one per line.

A line is `{"specialist", "problem_id", "split", "source", "messages"}`; `messages` is the exact
prompt the specialist sees (system, user) followed by the assistant's answer. The examples are
built by hi_moe.app.training_data.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from hi_moe.errors import UserError
from hi_moe.problems.text_files import numbered_lines

MIN_EXAMPLES = 8
ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class DataError(UserError):
    """A training data file is missing, malformed or too small; the message says where."""


@dataclass(frozen=True)
class Example:
    """One chat example: the specialist's prompt and the answer it should give."""

    specialist: str
    problem_id: str
    split: str
    source: str
    messages: list[dict[str, str]]

    def to_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def write_examples(examples: list[Example], path: Path) -> Path:
    """Write JSONL atomically: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.writelines(example.to_line() + "\n" for example in examples)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def parse_line(raw: str) -> Example:
    """One JSONL line as an Example; ValueError says what is wrong with it."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for key in ("specialist", "problem_id"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"{key!r} must be a non-empty string")
    messages = data.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        raise ValueError("'messages' must be a list of at least a prompt and an answer")
    for index, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES.values()
            or not isinstance(message.get("content"), str)
        ):
            raise ValueError(f"message {index} needs a role (system/user/assistant) and content")
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise ValueError("the last message must be the assistant's non-empty answer")
    return Example(
        data["specialist"],
        data["problem_id"],
        str(data.get("split") or "unknown"),
        str(data.get("source") or "unknown"),
        messages,
    )


def read_examples(
    path: Path, specialist: str | None = None, min_examples: int = MIN_EXAMPLES
) -> list[Example]:
    """Examples of a JSONL file (those of `specialist` when given); errors name the line."""
    examples = []
    for number, raw in numbered_lines(path, "training data file", DataError):
        try:
            example = parse_line(raw)
        except ValueError as exc:
            raise DataError(f"{path}:{number}: bad training example: {exc}") from exc
        if specialist is None or example.specialist == specialist:
            examples.append(example)
    if len(examples) < min_examples:
        whose = f" for specialist {specialist!r}" if specialist else ""
        raise DataError(
            f"{path} holds {len(examples)} examples{whose}; training needs at least {min_examples}"
        )
    return examples
