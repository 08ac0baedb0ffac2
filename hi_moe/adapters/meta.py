"""An adapter's metadata.json and the checks made before an adapter is served or evaluated.

Each trained adapter directory holds `metadata.json` beside its files: the base model it was
trained for (name and, for a GGUF base, the file's SHA-256), rank, steps, the data file's hash,
the training split(s) and every training problem id. Serving refuses an adapter of another base
model; evaluation refuses an adapter trained on any problem it evaluates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from graph.context import Context
from hi_moe.errors import UserError
from hi_moe.llm.models import model_label
from hi_moe.routing.fleet import load_fleet

METADATA_FILE = "metadata.json"
GGUF_FILE = "adapter.gguf"
REQUIRED_KEYS = ("specialist", "base_model", "rank", "problem_ids")


class AdapterError(UserError):
    """An adapter is missing, unreadable, for another base model or trained on test problems."""


def fleet_adapter(fleet_path: str, adapter: str | None, model: str) -> str | None:
    """The adapter file fleet.toml names for `model` (`{model}` in its path), resolved against
    the fleet file's directory; None when no adapter is trained for that model."""
    if adapter is None:
        return None
    path = Path(fleet_path).resolve().parent / Path(adapter.format(model=model)).expanduser()
    return str(path) if path.is_file() else None


def fleet_adapters(context: Context) -> dict[str, Path]:
    """Specialist name -> adapter file, for the specialists with an adapter for the model."""
    return {name: Path(path) for name, path in specialist_adapters(context).items() if path}


def specialist_adapters(context: Context) -> dict[str, str | None]:
    """Every specialist of the context's fleet -> its adapter for the context's model, or None
    (it runs on the base model)."""
    model = model_label(context.model)
    return {
        s.name: fleet_adapter(context.fleet_path, s.adapter, model)
        for s in load_fleet(context.fleet_path).specialists
    }


def one_served_model(context: Context, names: Iterable[str]) -> bool:
    """The specialists `names` all run on the same weights: the embedded server's base model
    with the same adapter (or none) for each. Another endpoint may serve every model name as
    its own adapter, so there it is never assumed."""
    if context.endpoint != "local":
        return False
    adapters = specialist_adapters(context)
    return len({adapters[name] for name in names}) <= 1


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, cached by path, size and modification time."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def metadata_path(adapter: Path) -> Path:
    """metadata.json of an adapter directory or of the directory holding an adapter file."""
    return adapter / METADATA_FILE if adapter.is_dir() else adapter.parent / METADATA_FILE


def read_metadata(adapter: Path) -> dict:
    """The metadata of an adapter (a directory or a file in one); a clear error if unusable."""
    if not adapter.exists():
        raise AdapterError(f"adapter {adapter} does not exist (train it: make adapters)")
    path = metadata_path(adapter)
    if not path.is_file():
        raise AdapterError(f"adapter {adapter} has no {METADATA_FILE} beside it")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{path} is not readable JSON: {exc}") from exc
    missing = [key for key in REQUIRED_KEYS if not isinstance(data, dict) or key not in data]
    if missing:
        raise AdapterError(f"{path} lacks {', '.join(missing)}")
    return data


def check_base(adapter: Path, gguf: Path) -> dict:
    """Refuse an adapter trained for another base model than the GGUF the server loads."""
    meta = read_metadata(adapter)
    want_sha = meta.get("base_model_sha256")
    same = file_sha256(gguf) == want_sha if want_sha else meta["base_model"] == gguf.name
    if not same:
        raise AdapterError(
            f"adapter {adapter} was trained for base model {meta['base_model']!r}, but the "
            f"server loads {gguf}; retrain it for this model (hi-moe train-adapter) "
            "or remove it from fleet.toml"
        )
    return meta


def check_rank(adapter: Path, max_rank: int) -> dict:
    """Refuse an adapter whose rank exceeds what the server accepts."""
    meta = read_metadata(adapter)
    if int(meta["rank"]) > max_rank:
        raise AdapterError(
            f"adapter {adapter} has rank {meta['rank']}, more than the server's maximum "
            f"{max_rank} (HI_MOE_MODAL_MAX_LORA_RANK)"
        )
    return meta


def check_uncontaminated(adapters: Iterable[Path], problem_ids: Iterable[str]) -> None:
    """Refuse to evaluate with an adapter trained on any of the evaluated problems."""
    evaluated = set(problem_ids)
    for adapter in adapters:
        trained = set(read_metadata(adapter)["problem_ids"])
        overlap = sorted(trained & evaluated)
        if overlap:
            shown = ", ".join(overlap[:5]) + (" ..." if len(overlap) > 5 else "")
            raise AdapterError(
                f"adapter {adapter} was trained on {len(overlap)} of the evaluated problems "
                f"({shown}); a contaminated adapter cannot be evaluated on them"
            )
