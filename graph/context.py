"""Runtime settings of a run, filled from `HI_MOE_*` environment variables.

Every field can be set by the environment variable named after it in upper case with the
`HI_MOE_` prefix (e.g. `HI_MOE_MAX_RETRIES=3`); explicit constructor arguments win.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, get_type_hints

from hi_moe.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
RoutingMode = Literal["winner_take_all", "probabilistic", "ensemble"]


BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
            "0": False, "false": False, "no": False, "off": False}  # fmt: skip


def parse_setting(raw: str, kind: object) -> object:
    """An environment value as the field's type; ValueError when it is not one."""
    if kind is bool:
        if raw.strip().lower() not in BOOLEANS:
            raise ValueError(raw)
        return BOOLEANS[raw.strip().lower()]
    return kind(raw) if kind in (int, float) else raw  # type: ignore[operator]


RENAMED_VARIABLES = {"HI_MOE_ROUTINES": "HI_MOE_ROUTINES_SHOWN"}
"""Environment variables of earlier versions: set, they are an error naming the new one."""


@dataclass(kw_only=True)
class Context:
    """Settings every node reads from `runtime.context`."""

    endpoint: str = "local"
    """`local` (embedded llama.cpp), `modal`, or any OpenAI-compatible base URL."""

    model: str = ""
    """Model of the embedded server: qwen2.5-coder-1.5b (empty: the default), qwen2.5-coder-0.5b,
    smollm2-135m, or a path to a .gguf file."""

    base_url: str = ""
    """Resolved OpenAI base URL; empty means: resolve `endpoint` when the first call is made."""

    api_key: str = "not-needed"
    extra_body: str = ""
    """JSON object of vendor fields added to every request, e.g. '{"top_k": 20}' for vLLM."""

    architect_model: str = "architect"
    dispatcher_model: str = "dispatcher"
    monitor_model: str = "monitor"
    architect_prompt: str = "architect"
    """Prompt template of a tier: a stem in prompts/ or a path to a .md file (A/B variants)."""

    dispatcher_prompt: str = "dispatcher"
    specialist_prompt: str = "specialist"
    monitor_prompt: str = "monitor"
    fleet_path: str = str(REPO_ROOT / "fleet.toml")
    price_table: str = str(REPO_ROOT / "prices.toml")
    """USD per million tokens by model name, for the estimated cost in results."""

    routing_mode: RoutingMode = "winner_take_all"
    ensemble_k: int = 3
    routing_seed: int = 0
    """Seed of the probabilistic routing mode (with thread and subgoal: reproducible)."""

    router_store: str = ""
    """Directory of the router's Chroma store; empty means ~/.cache/hi-moe/router."""

    dispatcher_weight: float = 0.25
    """Prior added to the dispatcher model's named specialist before renormalising scores."""

    max_retries: int = 2
    """Self-correction retries per subtask after the first try."""

    max_replans: int = 1
    max_reroutes: int = 1
    """Times the monitor may hand one part to a specialist not yet tried on it."""

    stuck_rounds: int = 3
    """A part is stuck when its visible-test passes did not rise over this many rounds."""

    surprise_gap: float = 0.6
    """An outcome is surprising when |confidence - pass fraction| is at least this."""

    plan_window: int = 4
    """Parts the architect plans at a time: its prompt stays bounded however long the task."""

    max_interfaces: int = 4
    """Interfaces of finished parts shown to a specialist (those its statement names)."""

    direct_first: bool = True
    """Adaptive depth: the first attempt at each part goes straight to the router's specialist
    (the plain single call, after the interfaces of finished parts it calls), without the
    architect's plan or the dispatcher's call; a failure escalates (monitor, reroute or replan)
    as usual. False: every task is planned."""

    direct_route_score: float = 0.6
    """With direct_first: the router's top score needed to skip the dispatcher's call."""

    whole_first_parts: int = 2
    """With direct_first: a task of 2 to this many parts opens with one plain call for all of
    them (the single call's own prompt, every statement in view); a later part whose function
    that answer already wrote is checked without a call of its own. 0: each part's first try is
    a plain call for that part alone. Longer tasks always go part by part."""

    retry_temperature_step: float = 0.6
    """Added to a specialist's temperature per retry of the same subtask (capped at 1.0), for
    diverse retries instead of near-copies of the failed answer; 0 keeps it fixed."""

    retry_resample: bool = True
    """A retry is a fresh sample of the same subtask (the prompt shows no earlier attempt)
    instead of a repair of the last one; the part keeps its best attempt either way. Pair it
    with `retry_temperature_step` for samples that differ. False: a retry repairs the last
    attempt, shown with its failing tests."""

    routines_shown: int = 2
    """Similar solved routines shown to the architect; 0 turns the routine cache off."""

    routine_max_distance: float = 0.5
    """A routine reaches the architect only within this cosine distance of the parts' contracts
    (0 same, 2 opposite). `hi-moe bench routines`: 0.5 keeps 95% of related pairs (MBPP Pro's
    base function for its new one) and cuts far neighbours such as HumanEval/0's routine for
    HumanEval/2 (0.81), which misled the architect; 2 shows the nearest whatever it is."""

    routine_store: str = ""
    """Directory of the routine cache (Chroma); empty means <home>/routines."""

    token_budget: int = 60_000
    prompt_token_cap: int = 1_200
    """Hard cap on the estimated tokens of any one tier's prompt."""

    max_completion_tokens: int = 384
    class_prompt_tokens: int = 2_400
    """Cap on a prompt holding a whole class skeleton (ClassEval's longest is ~1,500 tokens)."""

    class_completion_tokens: int = 2_048
    """Cap on a reply holding a whole class (its methods' code plus echoed docstrings)."""

    method_completion_tokens: int = 768
    """Cap on a reply holding one method of a class (its code plus an echoed docstring)."""

    temperature: float = 0.2
    request_timeout_s: float = 600.0
    """Seconds one LLM request may take: a 1.5B model on 2 busy cores can need minutes."""

    endpoint_retries: int = 3
    """Tries after the first when a request fails: 5xx, 429, timeout, reset, malformed reply."""

    endpoint_backoff_s: float = 0.5
    """Wait before the first endpoint retry; it doubles for each later one (at most 8 s)."""

    test_timeout_s: float = 10.0
    home: str = ".hi_moe"
    """Directory for the call log, default checkpoints and results."""

    def __post_init__(self) -> None:
        for old, new in RENAMED_VARIABLES.items():
            if old in os.environ:
                raise UserError(f"{old} was renamed {new}: set that instead")
        hints = get_type_hints(Context)
        for f in fields(self):
            raw = os.environ.get(f"HI_MOE_{f.name.upper()}")
            if raw is None or getattr(self, f.name) != f.default:
                continue
            kind = hints[f.name]
            try:
                value = parse_setting(raw, kind)
            except ValueError as exc:
                message = f"HI_MOE_{f.name.upper()}={raw!r} is not a valid {kind.__name__}"
                raise UserError(message) from exc
            setattr(self, f.name, value)
        counts = {"max_retries": self.max_retries, "max_replans": self.max_replans,
                  "max_reroutes": self.max_reroutes,
                  "routines_shown": self.routines_shown,
                  "whole_first_parts": self.whole_first_parts}  # fmt: skip
        negative = [name for name, value in counts.items() if value < 0]
        if negative:
            raise UserError(f"{', '.join(negative)} must be >= 0")
        if self.ensemble_k < 1 or self.plan_window < 1 or self.stuck_rounds < 1:
            raise UserError("ensemble_k, plan_window and stuck_rounds must be >= 1")
        if not 0 <= self.routine_max_distance <= 2:
            raise UserError("routine_max_distance is a cosine distance: between 0 and 2")

    def opens_whole(self, part_count: int, whole_class: bool = False) -> bool:
        """Whether a task of `part_count` parts opens with one call for all its parts: a small
        one, or a class (its methods live in one class, so the single call's answer comes
        first)."""
        small = 1 < part_count <= self.whole_first_parts
        return self.direct_first and (small or whole_class)

    def extra_body_fields(self) -> dict:
        """`extra_body` parsed; a malformed value is a clear error."""
        if not self.extra_body:
            return {}
        try:
            fields_ = json.loads(self.extra_body)
        except json.JSONDecodeError as exc:
            raise UserError(f"extra_body is not valid JSON: {exc}") from exc
        if not isinstance(fields_, dict):
            raise UserError("extra_body must be a JSON object")
        return fields_

    @property
    def home_dir(self) -> Path:
        return Path(self.home)

    @property
    def call_log_path(self) -> Path:
        return self.home_dir / "calls.sqlite"

    @property
    def router_dir(self) -> Path:
        """The router's Chroma store: a cache keyed by the registry's fingerprint, so one store
        serves every run of this user."""
        if self.router_store:
            return Path(self.router_store)
        cache_root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(cache_root) / "hi-moe" / "router"

    @property
    def routine_dir(self) -> Path:
        return Path(self.routine_store) if self.routine_store else self.home_dir / "routines"

    @property
    def routing_log_path(self) -> Path:
        return self.home_dir / "routing.sqlite"

    def tier_models(self) -> dict[str, str]:
        return {
            "architect": self.architect_model,
            "dispatcher": self.dispatcher_model,
            "monitor": self.monitor_model,
        }
