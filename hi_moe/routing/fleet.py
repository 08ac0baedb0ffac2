"""The specialist registry: which specialists exist and which model name serves each."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hi_moe.errors import UserError


class FleetError(UserError):
    """The registry file is missing or invalid; the message names the problem."""


@dataclass(frozen=True)
class Specialist:
    name: str
    model: str
    description: str
    examples: tuple[str, ...] = field(default_factory=tuple)
    temperature: float = 0.2
    adapter: str | None = None


@dataclass(frozen=True)
class Fleet:
    specialists: tuple[Specialist, ...]

    def get(self, name: str) -> Specialist:
        for specialist in self.specialists:
            if specialist.name == name:
                return specialist
        raise FleetError(f"no specialist named {name!r} in the fleet")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specialists]


@cache
def load_fleet(path: str) -> Fleet:
    """Read and validate a fleet.toml file."""
    file = Path(path)
    if not file.is_file():
        raise FleetError(f"fleet registry {path} does not exist")
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FleetError(f"fleet registry {path} is not valid TOML: {exc}") from exc
    entries = data.get("specialist", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FleetError(f"fleet registry {path}: write each specialist as a [[specialist]] table")
    if not entries:
        raise FleetError(f"fleet registry {path} declares no [[specialist]]")
    specialists = []
    for index, entry in enumerate(entries):
        missing = [key for key in ("name", "model", "description") if not entry.get(key)]
        if missing:
            raise FleetError(f"{path}: specialist #{index + 1} lacks {', '.join(missing)}")
        specialists.append(
            Specialist(
                name=entry["name"],
                model=entry["model"],
                description=entry["description"],
                examples=tuple(entry.get("examples", ())),
                temperature=float(entry.get("temperature", 0.2)),
                adapter=entry.get("adapter"),
            )
        )
    names = [s.name for s in specialists]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FleetError(f"{path}: duplicate specialist name(s) {', '.join(duplicates)}")
    return Fleet(tuple(specialists))
