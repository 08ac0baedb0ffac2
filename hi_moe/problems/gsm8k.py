"""Convert GSM8K's JSONL (question, answer ending in `#### N`) into hi-moe math problems."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hi_moe.errors import UserError
from hi_moe.problems.text_files import numbered_lines

FINAL_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")


def convert_line(line: str, index: int) -> dict:
    """One GSM8K record as a hi-moe math problem; raises ValueError when malformed."""
    record = json.loads(line)
    question, answer = record["question"], record["answer"]
    match = FINAL_ANSWER.search(answer.strip())
    if match is None:
        raise ValueError("the answer does not end in '#### <number>'")
    number = match.group(1).replace(",", "")
    return {
        "id": f"gsm8k/{index}",
        "title": question.split(".")[0][:60],
        "domain": "gsm8k",
        "kind": "math",
        "statement": question.strip(),
        "answer": number,
        "reference": f"print({number})",
    }


def convert_file(source: Path, target: Path) -> int:
    """Convert every line of `source` into `target`; a bad line is an error naming it."""
    problems: list[dict] = []
    for number, line in numbered_lines(source, "GSM8K file", UserError):
        try:
            problems.append(convert_line(line, len(problems)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{source}:{number}: not a GSM8K record ({exc})") from exc
    if not problems:
        raise UserError(f"GSM8K file {source} holds no records")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(p) + "\n" for p in problems))
    return len(problems)
