"""Notebook 05's figures: each design choice against the control, on validation only."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from utils.experiments.ablations import ABLATIONS, CONTROL, Comparison

SCALE_LIMIT = 3.0  # points: the axis shows seeds this close to the control; a run that learned
# but lies further away (a late, poor run) is drawn at the edge with its value, so that one such
# seed does not squash every other row against zero. A display choice, not a verdict.


def _on_and_off_scale(diffs: Sequence[float]) -> tuple[list[float], list[float]]:
    """``diffs`` within ``SCALE_LIMIT`` of the control, and those beyond it."""
    return ([d for d in diffs if abs(d) <= SCALE_LIMIT],
            [d for d in diffs if abs(d) > SCALE_LIMIT])


def _row_label(comp: Comparison) -> str:
    label = f"{ABLATIONS[comp.variant].group}: {ABLATIONS[comp.variant].changed}"
    failed = comp.not_learned_diffs
    if failed:
        label += (f" [{len(failed)} of {len(comp.diffs)} at {statistics.fmean(failed):+.0f}: "
                  "did not learn]")
    far = _on_and_off_scale(comp.learned_diffs)[1]
    if far:
        label += f" [{', '.join(f'{d:+.1f}' for d in far)}: off the scale]"
    return label


def plot_effects(comparisons: Sequence[Comparison]) -> Figure:
    """One row per variant: its paired difference to the control, seed by seed (dots) and
    their mean ± std (bar); filled when beyond the seed noise. Rows grouped by design question.

    A seed whose run did not learn (``Comparison.not_learned_seeds``, the tables' rule) sits
    tens of points away: it is a filled ◀ at the left edge, counted in the row's label, and the
    bar of such a row (a diamond) is over the seeds that learned only, never filled, because the
    run-level test of a mixture of failed and trained runs means little. A seed that learned
    but lies more than ``SCALE_LIMIT`` points away is an open ◁ at the edge, its value in the
    label; it still counts in its row's bar."""
    rows = [c for c in comparisons if c.variant != CONTROL]
    order = {name: i for i, name in enumerate(ABLATIONS)}
    rows.sort(key=lambda c: order[c.variant])
    means = [statistics.fmean(c.learned_diffs) for c in rows if c.learned_diffs]
    values = _on_and_off_scale([v for c in rows for v in c.learned_diffs] + means)[0] or [-1.0, 1.0]
    low, high = min(values + [0.0]) - 0.25, max(values + [0.0]) + 0.15
    edge = low + 0.04 * (high - low)
    fig, ax = plt.subplots(figsize=(10, 0.36 * len(rows) + 1.6))
    for y, comp in enumerate(rows):
        learned, failed = comp.learned_diffs, comp.not_learned_diffs
        if failed:
            ax.scatter([edge] * len(failed), [y] * len(failed), marker="<", s=40,
                       color="tab:red", zorder=4)
        near, far = _on_and_off_scale(learned)
        if far:
            ax.scatter([edge + 0.02 * (high - low)] * len(far), [y] * len(far), marker="<", s=40,
                       facecolors="white", edgecolors="0.35", zorder=4)
        if not learned:
            continue
        mean = statistics.fmean(learned)
        colour = "tab:red" if mean < 0 else "tab:green"
        filled = comp.beyond_noise and not failed
        ax.errorbar(mean, y, xerr=statistics.stdev(learned) if len(learned) > 1 else 0.0,
                    fmt="D" if failed else "o", color=colour,
                    markerfacecolor=colour if filled else "white", markersize=7, capsize=3,
                    zorder=3)
        ax.scatter(near, [y] * len(near), s=10, color="0.35", zorder=4)
    ax.set_xlim(low, high)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), [_row_label(c) for c in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("validation accuracy − control, same seed (percentage points)")
    ax.set_title("What each change does to primary19k\n(filled: beyond seed noise; grey dots: "
                 "single seeds; ◀: a run that did not learn; ◁: a run that learned, off the "
                 "scale)", fontsize=10)
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
