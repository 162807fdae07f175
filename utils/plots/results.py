"""Plots of the sweep results: the accuracy-vs-parameters frontier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..models import ORIGINAL_PARAMS, ORIGINAL_TEST_ACCURACY


@dataclass(frozen=True)
class ReferencePoint:
    """A single published/claimed accuracy that is not one of our measured runs."""

    label: str
    params: int
    accuracy: float  # percent
    marker: str


_ORIGINAL_LABELS = {  # key of ORIGINAL_TEST_ACCURACY -> (legend text, marker)
    "claimed": ("original, claimed: best epoch picked on test", "*"),
    "published_checkpoint": ("original, published checkpoint measured here", "D"),
    "final_epoch": ("original, final epoch of its log", "X"),
}
ORIGINAL_REFERENCE_POINTS: tuple[ReferencePoint, ...] = tuple(
    ReferencePoint(f"{text} ({ORIGINAL_TEST_ACCURACY[key]:.2f}%)", ORIGINAL_PARAMS,
                   ORIGINAL_TEST_ACCURACY[key], marker)
    for key, (text, marker) in _ORIGINAL_LABELS.items()
)
COURSE_TARGET = 99.5  # percent: the course's goal, "under 20k parameters, over 99.5%"


REFERENCE_X_OFFSET = 1.2  # reference markers sit this factor right of 19,898 so they stay legible


def plot_frontier(
    rows: Sequence[dict[str, Any]],
    reference_points: Sequence[ReferencePoint] = ORIGINAL_REFERENCE_POINTS,
    target: float | None = COURSE_TARGET,
) -> Figure:
    """Parameters (log x) vs mean test accuracy, one labelled point per model: the dot is the
    mean over seeds, the thick bar +-1 std, the thin line min..max.

    The original's own single numbers (claimed, final epoch, published checkpoint) are not
    runs of ours: they are drawn in red, just right of their 19,898 parameters, each labelled.
    ``rows`` are sweep rows (``arch, params, seeds, test_mean, test_std, test_min, test_max``).
    """
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for row in rows:
        x, mean = row["params"], row["test_mean"]
        ax.vlines(x, row["test_min"], row["test_max"], color="tab:blue", alpha=0.45,
                  linewidth=1.2, zorder=2)
        ax.errorbar(x, mean, yerr=row["test_std"], fmt="o", color="tab:blue", elinewidth=3.5,
                    capsize=0, markersize=7, zorder=3)
        # Models of almost the same size would print their labels on top of each other:
        # the more accurate one's label goes above its dot, the other's below.
        neighbours = [r for r in rows if r is not row and abs(r["params"] / x - 1) < 0.1]
        shift, va = 0, "center"
        if neighbours:
            higher = all(mean >= r["test_mean"] for r in neighbours)
            shift, va = (5, "bottom") if higher else (-5, "top")
        ax.annotate(
            f"{row['arch']}\n{mean:.2f} ± {row['test_std']:.2f}% (n={row['seeds']})",
            (x, mean), textcoords="offset points", xytext=(-9, shift), ha="right", va=va,
            fontsize=8,
        )
    for point in reference_points:
        x = point.params * REFERENCE_X_OFFSET
        ax.scatter(x, point.accuracy, marker=point.marker, s=70, color="tab:red",
                   edgecolors="black", linewidths=0.5, zorder=4, label=point.label)
        ax.annotate(f"{point.accuracy:.2f}%", (x, point.accuracy), textcoords="offset points",
                    xytext=(8, 0), va="center", fontsize=8, color="tab:red")
    # legend proxies for the measured runs
    ax.errorbar([], [], yerr=[], fmt="o", color="tab:blue", elinewidth=3.5, capsize=0,
                label="our runs: mean ± std over seeds")
    ax.vlines([], [], [], color="tab:blue", alpha=0.45, label="our runs: min to max")
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1, label=f"{target:.1f}% target")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale; the original has 19,898, its red "
                  "markers are drawn just to the right)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("Accuracy vs size of the <20k-parameter models")
    xs = [r["params"] for r in rows] + [p.params for p in reference_points]
    if xs:
        ax.set_xlim(min(xs) / 2.2, max(xs) * 1.7)  # room for labels on both sides
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
              frameon=False)
    fig.tight_layout()
    return fig


__all__ = ["COURSE_TARGET", "ORIGINAL_REFERENCE_POINTS", "REFERENCE_X_OFFSET", "ReferencePoint",
           "plot_frontier"]
