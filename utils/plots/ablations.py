"""Notebook 05's figures: each design choice against the control, on validation only."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from utils.experiments.ablations import ABLATIONS, CONTROL, Comparison

OFF_SCALE = 5.0  # points: a variant further from the control than this did not train, and is
# drawn as an arrow at the edge, so that it does not squash every other row against zero


def plot_effects(comparisons: Sequence[Comparison]) -> Figure:
    """One row per variant: its paired difference to the control, seed by seed (dots) and
    their mean ± std (bar); filled when beyond the seed noise. Rows grouped by design question.
    A variant more than ``OFF_SCALE`` points away is an arrow at the edge, labelled."""
    rows = [c for c in comparisons if c.variant != CONTROL]
    order = {name: i for i, name in enumerate(ABLATIONS)}
    rows.sort(key=lambda c: order[c.variant])
    on_scale = [c for c in rows if abs(c.diff_mean) <= OFF_SCALE]  # fix the axis from these
    values = [v for c in on_scale for v in (*c.diffs, c.diff_mean - c.diff_std,
                                             c.diff_mean + c.diff_std)] or [-1.0, 1.0]
    low, high = min(values + [0.0]) - 0.15, max(values + [0.0]) + 0.15
    fig, ax = plt.subplots(figsize=(8.5, 0.36 * len(rows) + 1.6))
    for y, comp in enumerate(rows):
        colour = "tab:red" if comp.diff_mean < 0 else "tab:green"
        if abs(comp.diff_mean) > OFF_SCALE:
            edge = low if comp.diff_mean < 0 else high
            inward = 0.3 * (high - low) * (1 if comp.diff_mean < 0 else -1)
            ax.annotate(f"{comp.diff_mean:+.1f} (off the scale: did not train)", xy=(edge, y),
                        xytext=(edge + inward, y), va="center",
                        ha="left" if comp.diff_mean < 0 else "right", fontsize=8, color=colour,
                        arrowprops={"arrowstyle": "->", "color": colour})
            continue
        ax.errorbar(comp.diff_mean, y, xerr=comp.diff_std, fmt="o", color=colour,
                    markerfacecolor=colour if comp.beyond_noise else "white", markersize=7,
                    capsize=3, zorder=3)
        ax.scatter(comp.diffs, [y] * len(comp.diffs), s=10, color="0.35", zorder=4)
    ax.set_xlim(low, high)
    ax.axvline(0, color="black", linewidth=1)
    labels = [f"{ABLATIONS[c.variant].group}: {ABLATIONS[c.variant].changed}" for c in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("validation accuracy − control, same seed (percentage points)")
    ax.set_title("What each change does to primary19k (filled: beyond seed noise; "
                 "grey dots: single seeds)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _by_setting(rows: Sequence[dict[str, Any]], variants: dict[str, float]) -> tuple[list, list, list]:
    xs, means, stds = [], [], []
    for variant, x in sorted(variants.items(), key=lambda kv: kv[1]):
        accs = [100 * r["val_acc"] for r in rows if r["variant"] == variant]
        if accs:
            xs.append(x)
            means.append(statistics.fmean(accs))
            stds.append(statistics.stdev(accs) if len(accs) > 1 else 0.0)
    return xs, means, stds


def plot_setting_curve(rows: Sequence[dict[str, Any]], variants: dict[str, float], xlabel: str,
                       title: str, log_x: bool = False,
                       seconds: dict[str, float] | None = None) -> Figure:
    """Validation accuracy (mean ± std over seeds) against one numeric setting; with
    ``seconds``, the mean training time per run on a second axis."""
    xs, means, stds = _by_setting(rows, variants)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.errorbar(xs, means, yerr=stds, fmt="o-", color="tab:blue", capsize=3,
                label="validation accuracy")
    control_x = variants.get(CONTROL)
    if control_x is not None:
        ax.axvline(control_x, color="0.6", linestyle=":", label="the shipped recipe")
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if seconds:
        twin = ax.twinx()
        pairs = sorted((variants[v], s) for v, s in seconds.items() if v in variants)
        twin.plot([p[0] for p in pairs], [p[1] for p in pairs], "s--", color="tab:orange",
                  label="training seconds / run")
        twin.set_ylabel("training seconds per run", color="tab:orange")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="best")
    else:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_lr_range(points: Sequence[dict[str, float]], steepest: float,
                  chosen: float) -> Figure:
    """Smoothed training loss against the (exponentially rising) learning rate."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot([p["lr"] for p in points], [p["loss"] for p in points], color="0.75", linewidth=0.8,
            label="loss of each batch")
    ax.plot([p["lr"] for p in points], [p["smoothed"] for p in points], color="tab:blue",
            label="smoothed loss")
    ax.axvline(steepest, color="tab:green", linestyle="--",
               label=f"steepest descent: {steepest:.2g}")
    ax.axvline(chosen, color="tab:red", linestyle=":", label=f"the recipe's peak LR: {chosen:g}")
    ax.set_xscale("log")
    smoothed = [p["smoothed"] for p in points]
    ax.set_ylim(0, max(smoothed[: max(1, len(smoothed) // 10)]) * 1.15)  # up to the start's loss
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title("LR range test (Smith 2017): one short run, LR rising every step", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
