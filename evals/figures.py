"""Charts written to PNG files without a screen (matplotlib's Agg backend)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def png_figure(path: Path, dpi: int = 100, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """(figure, axes) of `plt.subplots(**subplots)`, laid out and saved to `path` on exit."""
    import matplotlib  # lazy: heavy, figures only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(**subplots)
    try:
        yield figure, axes
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=dpi)
    finally:
        plt.close(figure)
