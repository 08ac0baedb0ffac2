"""Graph state and the typed handoff records the tiers exchange.

Everything here is small and bounded: code and feedback are truncated before they are stored,
and hidden tests have no field anywhere in this module.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Decision = Literal["plan", "direct", "continue", "replan", "reroute", "skip", "done", "give_up"]
"""`direct`: a first attempt at the next parts, without the architect's and dispatcher's calls."""
Signal = Literal["stuck", "drift", "surprise"]
OutcomeStatus = Literal["success", "partial", "failed", "blocked"]

# The longest texts a tier takes from a model's reply into the state, so that one runaway reply
# cannot flood every later prompt.
GOAL_CHARS = 300
"""The architect's goal; also the monitor's reason for its decision."""
OBJECTIVE_CHARS = 400
"""An objective or strategy; also the head of a multi-part statement shown to the architect."""
CRITERION_CHARS = 200
"""One acceptance criterion or constraint."""
CRITERIA_KEPT = 4
"""Acceptance criteria or constraints kept from one reply."""
FAILURE_LINE_CHARS = 160
"""The first line of a part's last failure, in its outcome summary."""


class TestCase(BaseModel):
    """A visible test: a call expression and the Python literal it must equal."""

    __test__ = False
    """Not a pytest test class, though its name starts with Test."""

    call: str
    expected: str
    setup: str = ""
    """Statements run before the call (a stateful example builds an object first)."""


class Part(BaseModel):
    """One function (or answer program) the task needs."""

    name: str
    statement: str
    visible_tests: list[TestCase] = Field(default_factory=list)
    source_id: str = ""
    """The problem id this part comes from (bundles and projects), so caches can avoid it."""
    calls: list[str] = Field(default_factory=list)
    """Functions of other parts its statement says it must call: a visible check too."""


class Task(BaseModel):
    """What the graph is asked to solve: the visible view of a problem, never its hidden tests."""

    problem_id: str
    kind: Literal["code", "math"] = "code"
    title: str = ""
    statement: str
    parts: list[Part]
    class_name: str = ""
    """A class task (ClassEval): the class whose methods the parts are."""
    skeleton: str = ""
    """A class task: the class as given (imports, constructor, every method's signature and
    docstring); the parts' methods are assembled into it."""

    def part(self, name: str) -> Part:
        """The part called `name` (a plan or subtask names only the task's own parts)."""
        return next(p for p in self.parts if p.name == name)


class Subgoal(BaseModel):
    """A step of the architect's plan: one part with an objective and acceptance criteria."""

    id: int
    """The part's index in the task, so a subgoal keeps its id across plan versions."""

    part: str
    objective: str
    acceptance: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    """The architect's strategy for the next window of parts (at most `plan_window`)."""

    version: int
    goal: str
    strategy: str
    subgoals: list[Subgoal]
    direct: bool = False
    """Made without the architect's call for a direct first attempt: the first try at each of
    its parts is the plain single call."""


class Subtask(BaseModel):
    """The dispatcher's handoff down to the fleet for one subgoal."""

    subgoal_id: int
    part: str
    objective: str
    constraints: list[str] = Field(default_factory=list)
    acceptance: list[str] = Field(default_factory=list)
    specialists: list[str]
    """Chosen specialists, best router score first."""
    router_scores: dict[str, float] = Field(default_factory=dict)
    routing_id: int | None = None
    dispatch: int = 0
    """Which dispatch this is in the run: candidates and attempts carry it."""
    interfaces: list[str] = Field(default_factory=list)
    """Interfaces of finished parts this subtask may call."""
    plain: bool = False
    """A direct first attempt at the part: its first try is the plain single call (greedy, the
    prompt a practitioner would write, after the interfaces it may call), so the hierarchy
    starts where a single call ends; a dispatcher asked because the router was unsure picks
    the specialist (model) only."""
    whole: bool = False
    """The plain first try asks for the whole (small) task in one answer: the single call's
    prompt with every part's statement (Context.whole_first_parts)."""
    carried: str = ""
    """Code of an earlier part's answer that already defines this part's function (a whole-task
    answer): the plain first try checks it instead of calling the model."""


class Candidate(BaseModel):
    """One specialist's unvalidated answer to a subtask."""

    subgoal_id: int
    part: str = ""
    dispatch: int = 0
    try_index: int
    specialist: str
    code: str
    confidence: float = 0.5


class Attempt(Candidate):
    """A validated candidate with its visible-test evidence."""

    tests_passed: int
    tests_total: int
    ran_ok: bool
    feedback: str = ""

    @property
    def passed_all(self) -> bool:
        return self.ran_ok and self.tests_passed == self.tests_total


class OutcomeReport(BaseModel):
    """A settled subgoal, reported up to the monitor."""

    subgoal_id: int
    part: str
    plan_version: int
    status: OutcomeStatus
    summary: str
    confidence: float
    specialist: str
    attempts: int
    tests_passed: int
    tests_total: int
    code: str
    interface: str = ""
    """Signature and one-line contract, what later parts see of this one."""


class ProgressReport(BaseModel):
    """One monitor decision, the signals behind it and the reason for it."""

    decision: Decision
    reason: str
    plan_version: int
    by_model: bool = False
    part: str | None = None
    signals: list[Signal] = Field(default_factory=list)


class RoutineUse(BaseModel):
    """A solved routine the architect was shown for some parts (logged with its effect later)."""

    routine_id: str
    source_id: str
    for_parts: list[str]
    distance: float
    plan_version: int


class PartLedger(BaseModel):
    """The monitor's running record of one part across every dispatch: small, no code."""

    rounds: list[int] = Field(default_factory=list)
    """Best visible-test passes of each round of tries, oldest first."""
    specialists: list[str] = Field(default_factory=list)
    """Every specialist that has tried the part."""


class TierUsage(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Usage(BaseModel):
    """Token usage per tier, summed over every LLM call of the run."""

    by_tier: dict[str, TierUsage] = Field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return sum(t.prompt_tokens + t.completion_tokens for t in self.by_tier.values())

    @property
    def calls(self) -> int:
        return sum(t.calls for t in self.by_tier.values())


class FinalReport(BaseModel):
    """What finalize hands back: the assembled solution and how it went."""

    status: Literal["solved", "partial", "failed"]
    summary: str
    solution: str
    parts_solved: int
    parts_total: int
    visible_passed: int
    visible_total: int


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    """Reducer: sum usage written by (possibly parallel) nodes."""
    merged = Usage() if left is None else left.model_copy(deep=True)
    for tier, add in (right.by_tier if right else {}).items():
        have = merged.by_tier.setdefault(tier, TierUsage())
        have.calls += add.calls
        have.prompt_tokens += add.prompt_tokens
        have.completion_tokens += add.completion_tokens
    return merged


def extend_or_clear(left: list | None, right: list | None) -> list:
    """Reducer: parallel branches append; writing None clears the list."""
    if right is None:
        return []
    return [*(left or []), *right]


def append(left: list | None, right: list | None) -> list:
    """Reducer: append-only log."""
    return [*(left or []), *(right or [])]


def merge_ledgers(
    left: dict[str, PartLedger] | None, right: dict[str, PartLedger] | None
) -> dict[str, PartLedger]:
    """Reducer: a settled part's ledger entry replaces its earlier one."""
    return {**(left or {}), **(right or {})}


def add_int(left: int | None, right: int | None) -> int:
    """Reducer: a counter several branches may bump."""
    return (left or 0) + (right or 0)


class InputState(BaseModel):
    """What a caller passes in: a problem id, or a whole visible task."""

    problem_id: str | None = None
    task: Task | None = None


class State(InputState):
    """The checkpointed shared context of one run."""

    plan: Plan | None = None
    decision: Decision | None = None
    current_subgoal: int | None = None
    subtask: Subtask | None = None
    try_index: int = 0
    previous_attempt: Attempt | None = None
    candidates: Annotated[list[Candidate], extend_or_clear] = Field(default_factory=list)
    attempts: Annotated[list[Attempt], extend_or_clear] = Field(default_factory=list)
    """Validated candidates of the current dispatch only (cleared by the next dispatch)."""
    ledger: Annotated[dict[str, PartLedger], merge_ledgers] = Field(default_factory=dict)
    outcomes: Annotated[list[OutcomeReport], append] = Field(default_factory=list)
    progress: Annotated[list[ProgressReport], append] = Field(default_factory=list)
    routines_used: Annotated[list[RoutineUse], append] = Field(default_factory=list)
    dispatches: int = 0
    usage: Annotated[Usage, add_usage] = Field(default_factory=Usage)
    format_errors: Annotated[int, add_int] = 0
    result: FinalReport | None = None


class SpecialistInput(BaseModel):
    """The Send payload for one specialist branch: its whole bounded view (one part, not the
    task: what a branch carries does not grow with the number of parts; only a whole-task
    first try carries its task, of at most `whole_first_parts` parts)."""

    kind: Literal["code", "math"] = "code"
    part: Part
    subtask: Subtask
    specialist: str
    try_index: int
    interfaces: list[str] = Field(default_factory=list)
    previous: Attempt | None = None
    whole_task: Task | None = None
    """Only for a whole-task first try (`subtask.whole`): the small task whose parts it answers."""
    class_name: str = ""
    """A method of a class task: the class it belongs to."""
