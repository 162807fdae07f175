"""Plotting helpers, one module per notebook topic; every figure is saved under a stable name."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..paths import FIGURES_DIR


def save_figure(fig: Figure, name: str, figures_dir: str | Path | None = None) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (default: the repo's ``figures/``).

    PNG metadata is stripped of the library version so re-running gives identical files.
    """
    folder = Path(figures_dir) if figures_dir is not None else FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    partial = folder / f".{name}.partial.png"  # written then renamed: never a half-written figure
    try:
        fig.savefig(partial, dpi=110, bbox_inches="tight", metadata={"Software": None})
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


__all__ = ["save_figure", "plt"]
