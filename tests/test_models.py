"""Named models: assembled once from part packages, verified; each bad input one clear error."""

from __future__ import annotations

import errno
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from hi_moe.errors import UserError
from hi_moe.llm import models
from hi_moe.llm.models import ModelSpec, model_label, resolve_model

PART = 10
CONTENT = models.GGUF_MAGIC + bytes(range(23))  # 27 bytes: parts of 10, 10 and 7


def tiny_spec(module: str) -> ModelSpec:
    return ModelSpec(
        name="tiny",
        file_name="tiny.gguf",
        hf_id="test/tiny",
        context_tokens=512,
        size=len(CONTENT),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
        part_module=module,
        parts=3,
        part_size=PART,
        part_version="1.0",
        hub_repo="test/tiny-GGUF",
    )


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> ModelSpec:
    """A 3-part model whose part packages are importable from a temporary folder."""
    module = f"hmtest_{tmp_path.name.replace('-', '_')}_part"
    for number in range(1, 4):
        data = tmp_path / "site" / f"{module}{number}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        chunk = CONTENT[(number - 1) * PART : number * PART]
        (data / f"part{number:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = tiny_spec(module)
    monkeypatch.setitem(models.MODELS, "tiny", spec)
    return spec


def part_path(spec: ModelSpec, number: int) -> Path:
    path = spec.part_file(number)
    assert path is not None
    return path


def count_assemblies(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = models.assemble

    def counted(spec: ModelSpec, target: Path) -> None:
        calls.append(spec.name)
        real(spec, target)

    monkeypatch.setattr(models, "assemble", counted)
    return calls


def test_a_named_model_is_assembled_once_into_the_cache(tiny, monkeypatch):
    calls = count_assemblies(monkeypatch)
    first = resolve_model("tiny")
    assert first.path.read_bytes() == CONTENT and first.spec == tiny
    assert first.path.parent == models.cache_dir()
    mtime = first.path.stat().st_mtime_ns
    again = resolve_model("tiny")
    assert again.path == first.path and again.path.stat().st_mtime_ns == mtime
    assert calls == ["tiny"]


def test_concurrent_first_runs_assemble_once(tiny, monkeypatch):
    calls = count_assemblies(monkeypatch)
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(resolve_model("tiny").path)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(paths) == 4 and {p.read_bytes() for p in paths} == {CONTENT}
    assert calls == ["tiny"]


def test_a_corrupt_cached_model_is_assembled_again(tiny):
    path = resolve_model("tiny").path
    path.write_bytes(CONTENT[:-1] + b"!")
    assert resolve_model("tiny").path.read_bytes() == CONTENT


def test_a_truncated_part_names_its_package(tiny):
    part_path(tiny, 2).write_bytes(b"short")
    with pytest.raises(UserError, match=f"package {tiny.part_package(2)} is truncated"):
        resolve_model("tiny")
    assert not any(models.cache_dir().glob("*.gguf"))


def test_a_missing_part_names_its_package(tiny, monkeypatch):
    real = tiny.part_file
    monkeypatch.setattr(
        ModelSpec, "part_file", lambda self, n: None if n == 3 else real(n), raising=True
    )
    with pytest.raises(UserError, match=f"needs the package {tiny.part_package(3)}"):
        resolve_model("tiny")


def test_parts_that_assemble_to_the_wrong_hash_are_refused(tiny):
    part_path(tiny, 1).write_bytes(b"GGUF" + b"x" * (PART - 4))
    with pytest.raises(UserError, match="wrong SHA-256"):
        resolve_model("tiny")
    assert [p.name for p in models.cache_dir().iterdir() if not p.name.endswith(".lock")] == []


def test_a_full_disk_removes_the_partial_file(tiny, monkeypatch):
    def full(files: list[Path], out_path: Path) -> str:
        out_path.write_bytes(CONTENT[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(models, "concatenate", full)
    with pytest.raises(UserError, match="no space left"):
        resolve_model("tiny")
    assert [p.name for p in models.cache_dir().iterdir()] == ["tiny.gguf.lock"]


def test_unknown_names_and_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="unknown model 'gpt-9'.*qwen2.5-coder-1.5b"):
        resolve_model("gpt-9")
    with pytest.raises(UserError, match="does not exist"):
        resolve_model(str(tmp_path / "missing.gguf"))
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(UserError, match="not a GGUF file"):
        resolve_model(str(text))


def test_a_gguf_path_is_served_as_it_is(tmp_path):
    path = tmp_path / "mine.gguf"
    path.write_bytes(CONTENT)
    model = resolve_model(str(path))
    assert model.path == path and model.name == "mine" and model.spec is None


def test_labels_name_the_default_and_paths_without_fetching():
    assert model_label("") == models.DEFAULT_MODEL
    assert model_label("smollm2-135m") == "smollm2-135m"
    assert model_label("/x/y/custom.gguf") == "custom"


class HubStandIn(http.server.BaseHTTPRequestHandler):
    """The two requests hf_hub_download makes for one file: HEAD for metadata, then GET."""

    body = CONTENT
    paths: list[str] = []

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.paths.append(self.path)
        self.send_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.paths.append(self.path)
        self.send_headers()
        self.wfile.write(self.body)

    def send_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("ETag", f'"{hashlib.sha256(self.body).hexdigest()}"')
        self.send_header("X-Repo-Commit", "a" * 40)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_without_parts_the_model_comes_from_the_hub(tmp_path, monkeypatch):
    """No part package installed: the official GGUF is fetched (here from a loopback stand-in)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HubStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(models.MODELS, "tiny", tiny_spec("hmtest_not_installed_part"))
    try:
        model = resolve_model("tiny")
    finally:
        server.shutdown()
    assert model.path.read_bytes() == CONTENT
    assert any(p.endswith("/test/tiny-GGUF/resolve/main/tiny.gguf") for p in HubStandIn.paths)
