"""Plotting helpers, one module per notebook topic; every figure is saved under a stable name."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from utils.atomic_files import atomic_write
from utils.paths import resolve_figures_dir


def save_figure(fig: Figure, name: str, figures_dir: str | Path | None = None) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (default: ``$FIGURES_DIR``, else the repo's
    ``figures/``).

    PNG metadata is stripped of the library version so re-running gives identical files.
    """
    folder = resolve_figures_dir(figures_dir)
    return atomic_write(
        folder / f"{name}.png",
        lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight",
                                metadata={"Software": None}),
    )


__all__ = ["save_figure", "plt"]
