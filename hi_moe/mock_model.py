"""The scripted model behind `--mock`: instant, deterministic answers for every tier.

Specialists answer with the reference solution of the problem whose statement is in their
prompt (after `wrong_tries` deliberately wrong answers, to exercise self-correction); the
architect, dispatcher and monitor answer with valid JSON derived from their prompts.
"""

from __future__ import annotations

import json
import re
import threading

from hi_moe.problems import Problem
from hi_moe.projects import Project

PARTS = re.compile(r"^- (\w+): ", re.MULTILINE)
PARTS_HEADING = "Parts to plan now:"
ALLOWED = re.compile(r"Allowed decisions: (.+)\.")
WRONG_CODE = "```python\ndef wrong():\n    return None\n```\nCONFIDENCE: 0.9"


class ScriptedModel:
    """A `Responder` for FakeEndpoint that plays every tier."""

    def __init__(self, problems: list[Problem | Project], wrong_tries: int = 0) -> None:
        self.problems = [
            part
            for problem in problems
            for part in (problem.parts if isinstance(problem, Project) else [problem])
        ]
        self.wrong_tries = wrong_tries
        self._tries: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, model: str, messages: list[dict], response_format: dict | None) -> str:
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        if model == "architect":
            return self.plan(prompt)
        if model == "dispatcher":
            specialist = "math" if "(math)" in prompt or "math task" in prompt else "python"
            return json.dumps(
                {"objective": "Implement it.", "constraints": [], "specialist": specialist}
            )
        if model == "monitor":
            allowed = ALLOWED.search(prompt)
            options = allowed.group(1).split(", ") if allowed else ["give_up"]
            choice = "replan" if "replan" in options else options[0]
            return json.dumps({"decision": choice, "reason": "scripted monitor"})
        return self.solve(str(messages[-1].get("content", "")) if messages else "")

    def plan(self, prompt: str) -> str:
        listing = prompt.partition(PARTS_HEADING)[2].partition("Visible tests:")[0]
        parts = PARTS.findall(listing)
        kind = "math task" if "Task (math)" in prompt else "task"
        return json.dumps(
            {
                "goal": f"Solve the {kind}.",
                "strategy": "One part at a time.",
                "subgoals": [
                    {"part": p, "objective": f"Implement {p}.", "acceptance": ["tests pass"]}
                    for p in parts
                ],
            }
        )

    def solve(self, prompt: str) -> str:
        """The reference of the problem whose statement is in `prompt` (the latest message)."""
        for problem in self.problems:
            if problem.statement[:200] in prompt:
                with self._lock:
                    tries = self._tries.get(problem.id, 0)
                    self._tries[problem.id] = tries + 1
                if tries < self.wrong_tries:
                    return WRONG_CODE
                return f"```python\n{problem.reference}\n```\nCONFIDENCE: 0.9"
        return "```python\npass\n```\nCONFIDENCE: 0.1"
