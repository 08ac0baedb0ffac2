"""The scripted model behind `--mock`: instant, deterministic answers for every tier.

Specialists answer with the reference solution of the problem whose statement is in their
prompt (after `wrong_tries` deliberately wrong answers, to exercise self-correction), a class's
method where the prompt asks for one ("Implement the method `m` of the class `C`"), or the whole
reference class where the prompt shows a class task's class; the
architect, dispatcher and monitor answer with valid JSON derived from their prompts. Tries are
counted per problem; a resumed thread's earlier tries are counted from the replies it got
(`answered`), so a resumed run answers as the uninterrupted one would.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence

from hi_moe.llm.extraction import extract_code
from hi_moe.problems.class_code import assemble_class
from hi_moe.problems.classeval import ClassTask
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project

PARTS = re.compile(r"^- (\w+): ", re.MULTILINE)
PARTS_HEADING = "Parts to plan now:"
STATEMENT_KEY_CHARS = 200
"""A problem is recognised in a prompt by this much of its statement's start."""
ALLOWED = re.compile(r"Allowed decisions: (.+)\.")
METHOD_ASKED = re.compile(r"Implement the method `(\w+)` of the class `(\w+)`")


def reference_class(task: ClassTask) -> str:
    """The class with every method's reference in place of its stub."""
    methods = {part.entry_point: part.reference for part in task.parts}
    return (
        f"```python\n{assemble_class(task.skeleton, task.class_name, methods)}```\nCONFIDENCE: 0.9"
    )


def wrong_answer(problem: Problem) -> str:
    """A deliberately wrong specialist reply, naming its problem (so it can be counted later)."""
    code = f"# a wrong try at {problem.id}\ndef wrong():\n    return None\n"
    return f"```python\n{code}```\nCONFIDENCE: 0.9"


def right_answer(problem: Problem) -> str:
    return f"```python\n{problem.reference}\n```\nCONFIDENCE: 0.9"


class ScriptedModel:
    """A `Responder` for FakeEndpoint that plays every tier."""

    def __init__(
        self,
        problems: Sequence[Problem | Project],
        wrong_tries: int = 0,
        answered: Iterable[str] = (),
    ) -> None:
        """`answered`: replies the threads this run resumes got earlier; they count as tries."""
        self.problems = [
            part
            for problem in problems
            for part in (problem.parts if isinstance(problem, Project) else [problem])
        ]
        self.classes = [problem for problem in problems if isinstance(problem, ClassTask)]
        self.wrong_tries = wrong_tries
        answers = {
            reply: problem.id
            for problem in self.problems
            for reply in (wrong_answer(problem), right_answer(problem))
        }
        self._tries = Counter(answers[reply] for reply in answered if reply in answers)
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
        return self.solve(prompt)

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

    def whole_class(self, prompt: str) -> str | None:
        """The reference class of the class task whose class `prompt` shows, unless the prompt
        asks for one method of it."""
        if METHOD_ASKED.search(prompt):
            return None
        for task in self.classes:
            if re.search(rf"^class {task.class_name}\b", prompt, re.MULTILINE):
                return reference_class(task)
        return None

    def asked_parts(self, prompt: str) -> list[Problem]:
        """The class method `prompt` asks for by name, else the problems whose statements it
        holds."""
        if asked := METHOD_ASKED.search(prompt):
            method, class_name = asked.groups()
            tasks = [task for task in self.classes if task.class_name == class_name]
            return [part for task in tasks for part in task.parts if part.entry_point == method]
        return [p for p in self.problems if p.statement.strip()[:STATEMENT_KEY_CHARS] in prompt]

    def solve(self, prompt: str) -> str:
        """The reference of the problem whose statement is in `prompt`; with several (a
        single-context prompt of a two-part task), all their references in one block; for a
        class task, the method asked for or the whole class."""
        whole = self.whole_class(prompt)
        if whole is not None:
            return whole
        found = self.asked_parts(prompt)
        if not found:
            return "```python\npass\n```\nCONFIDENCE: 0.1"
        replies = []
        for problem in found:
            with self._lock:
                tries = self._tries[problem.id]
                self._tries[problem.id] += 1
            wrong = tries < self.wrong_tries
            replies.append(wrong_answer(problem) if wrong else right_answer(problem))
        if len(replies) == 1:
            return replies[0]
        return "```python\n" + "\n".join(extract_code(r) for r in replies) + "```\nCONFIDENCE: 0.9"
