"""Prompt templates from prompts/, rendered under a hard token cap.

A template file holds the system message, a line `---`, then the user message, with
`{field}` placeholders. When the fields would push a prompt past its cap, the largest fields are
truncated first (fair shares), so every tier's prompt stays bounded however long the run gets.
The shorter texts the nodes put into those fields are named fragments of prompts/fragments.toml.
"""

from __future__ import annotations

import math
import tomllib
from functools import cache
from pathlib import Path

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from graph.context import REPO_ROOT

PROMPTS_DIR = REPO_ROOT / "prompts"
FRAGMENTS_FILE = PROMPTS_DIR / "fragments.toml"
CHARS_PER_TOKEN = 3.0
"""Conservative: real tokenizers average closer to 4 characters per token on code and prose."""
TRUNCATED = " [...]"
GREEDY = 0.0
"""The temperature of a plain single call."""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def truncate(text: str, max_tokens: int) -> str:
    """Cut `text` to about `max_tokens`, marking the cut."""
    limit = int(max_tokens * CHARS_PER_TOKEN)
    if len(text) <= limit:
        return text
    if limit < 2 * len(TRUNCATED):
        return text[: max(limit, 0)]
    return text[: limit - len(TRUNCATED)] + TRUNCATED


@cache
def load_text(name: str) -> str:
    """A plain prompt file of prompts/ by stem."""
    return (PROMPTS_DIR / f"{name}.md").read_text().strip()


@cache
def load_template(name: str, prompts_dir: Path = PROMPTS_DIR) -> tuple[str, str]:
    """(system, user) of a template file; `name` is a file stem or a path to a .md file."""
    path = Path(name) if name.endswith(".md") else prompts_dir / f"{name}.md"
    system, separator, user = path.read_text().partition("\n---\n")
    if not separator:
        raise ValueError(f"prompt template {path} lacks the '---' line between system and user")
    return system.strip(), user.strip()


@cache
def load_fragments() -> dict[str, object]:
    """The tables of prompts/fragments.toml."""
    with FRAGMENTS_FILE.open("rb") as file:
        return tomllib.load(file)


def fragment(name: str, **fields: object) -> str:
    """Fragment `name` (dotted: "table.key") of prompts/fragments.toml with `fields` filled in."""
    text: object = load_fragments()
    for key in name.split("."):
        text = text.get(key) if isinstance(text, dict) else None
    if not isinstance(text, str):
        raise KeyError(f"no prompt fragment {name!r} in {FRAGMENTS_FILE}")
    return text.format(**fields)


def fit_fields(fields: dict[str, str], budget_tokens: int) -> dict[str, str]:
    """Truncate the largest fields so that all together fit `budget_tokens`."""
    remaining = max(budget_tokens, 0)
    fitted = {}
    by_size = sorted(fields.items(), key=lambda item: estimate_tokens(item[1]))
    for index, (key, value) in enumerate(by_size):
        share = remaining // (len(by_size) - index)
        fitted[key] = truncate(value, share)
        remaining -= estimate_tokens(fitted[key])
    return fitted


def render(name: str, cap_tokens: int, **fields: object) -> list[BaseMessage]:
    """System and user messages of template `name`, at most `cap_tokens` (estimated) in all."""
    system, user = load_template(name)
    text_fields = {key: str(value) for key, value in fields.items()}
    fixed = estimate_tokens(system.format(**dict.fromkeys(text_fields, "")))
    fixed += estimate_tokens(user.format(**dict.fromkeys(text_fields, "")))
    fitted = fit_fields(text_fields, cap_tokens - fixed)
    return [SystemMessage(system.format(**fitted)), HumanMessage(user.format(**fitted))]


def plain_prompt(kind: str, statement: str, cap_tokens: int) -> list[BaseMessage]:
    """The plain single-call prompt a practitioner would write for one statement: "complete
    the following code" (or, for math, "compute and print the answer"), nothing else asked."""
    template = "baseline_math" if kind == "math" else "baseline"
    return render(template, cap_tokens, statement=statement.rstrip())


def plain_parts_prompt(overview: str, statements: list[str], cap_tokens: int) -> list[BaseMessage]:
    """The plain single-call prompt for a task of several functions (MBPP Pro's base function
    and the one that calls it): the overview, then every statement, all in one answer."""
    parts = "\n\n".join(f"```python\n{statement.rstrip()}\n```" for statement in statements)
    return render(
        "baseline_parts", cap_tokens, overview=overview, count=len(statements), parts=parts
    )


def plain_class_prompt(skeleton: str, cap_tokens: int) -> list[BaseMessage]:
    """The plain single-call prompt for a whole class (ClassEval's holistic generation): the
    skeleton (imports, constructor, every method's signature and docstring), all in one answer."""
    return render("baseline_class", cap_tokens, skeleton=skeleton.rstrip())


def prompt_tokens(messages: list[BaseMessage]) -> int:
    """Estimated tokens of a rendered prompt."""
    return sum(estimate_tokens(str(m.content)) for m in messages)
