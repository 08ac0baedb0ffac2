"""The architecture holds: light paths import no heavy library, imports run one way only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "chromadb", "sklearn")
REPORT_HEAVY = f"import sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"


def heavy_modules_after(code: str) -> str:
    """What `code` leaves of the heavy libraries in a fresh interpreter's sys.modules."""
    script = f"try:\n    {code}\nexcept SystemExit:\n    pass\n{REPORT_HEAVY}"
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.splitlines()[-1]


def test_graph_builder_and_help_are_light():
    assert heavy_modules_after("import graph.builder") == "[]"
    assert heavy_modules_after("from hi_moe.cli.main import main; main(['--help'])") == "[]"


def test_threads_is_light(tmp_path):
    solve = [sys.executable, "-m", "hi_moe.cli.main", "solve", "--mock", "--problem", "0"]
    subprocess.run([*solve, "--home", str(tmp_path)], capture_output=True, check=True)
    threads = f"from hi_moe.cli.main import main; main(['threads', '--home', {str(tmp_path)!r}])"
    assert heavy_modules_after(threads) == "[]"


def test_import_contract_fails_on_a_wrong_import(tmp_path):
    """A service importing the graph builder breaks the layers contract of `make lint`."""
    for package in ("graph", "nodes", "hi_moe", "evals", "modal_app"):
        shutil.copytree(REPO / package, tmp_path / package)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    grading = tmp_path / "hi_moe" / "problems" / "grading.py"
    grading.write_text(grading.read_text() + "\nimport graph.builder  # noqa: E402\n")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1, proc.stdout
    assert "BROKEN" in proc.stdout
    assert "hi_moe.problems.grading -> graph.builder" in proc.stdout
