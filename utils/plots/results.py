"""Plots of the sweep results: the accuracy-vs-parameters frontier, and the training curves of
two runs side by side (notebook 07)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from utils.experiments.run_store import CONTROL
from utils.models import ORIGINAL_PARAMS, ORIGINAL_TEST_ACCURACY


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
# Runs of one architecture share its parameter count: where several are drawn, each is drawn
# VARIANT_X_STEP of the count further right than the one before it in SERIES order (the first at
# the count itself), and the public anchors ANCHOR_X_OFFSET to the left, so no marker hides another.
VARIANT_X_STEP = 0.07
ANCHOR_X_OFFSET = 1 / 1.07


class Anchor(Protocol):
    """A published result drawn beside our runs (``utils.experiments.frontier.PublicAnchor``)."""

    params: int
    accuracy: float

    @property
    def label(self) -> str: ...


@dataclass(frozen=True)
class SeriesStyle:
    legend: str
    color: str
    marker: str


SERIES: dict[str, SeriesStyle] = {
    CONTROL: SeriesStyle("our runs, shipped recipe (15-20 epochs, CPU)", "tab:blue", "o"),
    "e20": SeriesStyle("our runs, e20: 20 epochs", "tab:green", "s"),
    "kd": SeriesStyle("our runs, kd: 20 epochs distilled from 3 primary19k", "tab:orange",
                      "^"),
    "lightaug": SeriesStyle("our runs, lightaug: 20 epochs, augmentation at half strength",
                            "tab:cyan", "D"),
    "e30": SeriesStyle("our runs, e30: 30 epochs", "tab:brown", "v"),
    "thick": SeriesStyle("our runs, thick: e20, stroke thickness varied up to half a step",
                         "tab:olive", "P"),
    "ema": SeriesStyle("our runs, ema: e20 evaluated as the moving average of its weights",
                       "tab:pink", "X"),
    "elastic": SeriesStyle("our runs, elastic: e20 plus elastic distortion (alpha 17 px)",
                           "black", "h"),
    "lowwd": SeriesStyle("our runs, lowwd: e20 with weight decay 1e-4 instead of 5e-4",
                         "tab:gray", "p"),
    "highwd": SeriesStyle("our runs, highwd: e20 with weight decay 1e-3 instead of 5e-4",
                          "darkblue", "d"),
    "swa": SeriesStyle("our runs, swa: 15-epoch cycle, then 5 epochs at 0.01 averaged",
                       "gold", "<"),
    "swa30": SeriesStyle("our runs, swa30: 25-epoch cycle, then 5 epochs at 0.01 averaged",
                         "teal", ">"),
    "bc": SeriesStyle("our runs, bc: e20 plus brightness and contrast, factors 1 ± 0.2",
                      "magenta", "*"),
    "bc30": SeriesStyle("our runs, bc30: e30 plus brightness and contrast, factors 1 ± 0.2",
                        "darkmagenta", "8"),
    "kdt2": SeriesStyle("our runs, kdt2: kd at temperature 2 instead of 4", "sienna", "H"),
    # every filled marker is taken by now: the ones below repeat one in their own colour
    "ls0": SeriesStyle("our runs, ls0: the shipped recipe without label smoothing", "lime", "X"),
    "kdls0": SeriesStyle("our runs, kdls0: kdt2 taught by 3 primary19k-ls0", "navy", "D"),
    "kdls0t4": SeriesStyle("our runs, kdls0t4: kdls0 at temperature 4", "crimson", "^"),
    "kdls0w9": SeriesStyle("our runs, kdls0w9: kdls0 with weight 0.9 on the teachers", "darkgreen",
                           "s"),
    "kdls0e30": SeriesStyle("our runs, kdls0e30: kdls0 for 30 epochs", "darkorange", "v"),
    "kdls0w9e30": SeriesStyle("our runs, kdls0w9e30: kdls0w9 for 30 epochs",
                              "darkcyan", "s"),
}
ANCHOR_COLOR = "tab:purple"
CLUSTER_RATIO = 1.12  # points whose parameter counts differ by less than this share a label stack


def _stack_labels(ys: Sequence[float], gap: float) -> list[float]:
    """Label heights for points at heights ``ys``: in the points' order, at least ``gap``
    apart, the stack centred on the points (a small 1-D layout)."""
    order = sorted(range(len(ys)), key=lambda i: -ys[i])
    placed: list[float] = []
    for i in order:
        placed.append(ys[i] if not placed else min(ys[i], placed[-1] - gap))
    shift = (sum(ys) - sum(placed)) / len(ys)
    result = [0.0] * len(ys)
    for i, y in zip(order, placed, strict=True):
        result[i] = y + shift
    return result


def _legend_rank(label: str) -> int:
    """Legend order: our runs, then the public anchors, the original's numbers, the target."""
    for rank, prefix in enumerate(("our runs", "published", "original")):
        if label.startswith(prefix):
            return rank
    return 3


Labelled = tuple[int, float, float, str, str]  # true params, drawn x, y, text, colour


def _series(row: dict[str, Any]) -> str:
    variant = row.get("variant", CONTROL)
    return variant if variant in SERIES else CONTROL


def x_offsets(rows: Sequence[dict[str, Any]]) -> list[float]:
    """Each row's factor on its parameter count: the rows drawn at one count are spread
    VARIANT_X_STEP apart in ``SERIES`` order, the first at the count itself, so a run is drawn
    off its count only when another shares it (a budget's choice never sits past its budget)."""
    order = list(SERIES)
    offsets = [1.0] * len(rows)
    for count in {row["params"] for row in rows}:
        at_count = sorted((i for i, row in enumerate(rows) if row["params"] == count),
                          key=lambda i: (order.index(_series(rows[i])), rows[i]["arch"]))
        for rank, i in enumerate(at_count):
            offsets[i] = 1 + VARIANT_X_STEP * rank
    return offsets


def _draw_runs(ax: Any, rows: Sequence[dict[str, Any]], offsets: Sequence[float]
               ) -> list[Labelled]:
    """Our runs: mean ± std (thick) and min..max (thin) per model and variant, each at its
    parameter count times its offset (``x_offsets``)."""
    labelled: list[Labelled] = []
    for row, offset in zip(rows, offsets, strict=True):
        style = SERIES[_series(row)]
        x, mean = row["params"] * offset, row["test_mean"]
        ax.vlines(x, row["test_min"], row["test_max"], color=style.color, alpha=0.45,
                  linewidth=1.2, zorder=2)
        ax.errorbar(x, mean, yerr=row["test_std"], fmt=style.marker, color=style.color,
                    elinewidth=3.5, capsize=0, markersize=6.5, zorder=3)
        labelled.append((row["params"], x, mean, f"{row['arch']} {mean:.2f}", style.color))
    return labelled


def _draw_anchors(ax: Any, anchors: Sequence[Anchor]) -> list[Labelled]:
    """The published single runs, in purple; labelled in the stacks beside our runs of about
    their size, so that no label is drawn over another."""
    labelled: list[Labelled] = []
    for anchor in anchors:
        x = anchor.params * ANCHOR_X_OFFSET
        ax.scatter(x, anchor.accuracy, marker="P", s=80, color=ANCHOR_COLOR, edgecolors="black",
                   linewidths=0.5, zorder=4)
        labelled.append((anchor.params, x, anchor.accuracy, f"{anchor.accuracy:.2f} (1 run)",
                         ANCHOR_COLOR))
    return labelled


def _draw_label_stacks(ax: Any, labelled: list[Labelled], gap: float) -> None:
    """Points of about the same size share one column of labels left of them."""
    labelled.sort(key=lambda item: item[0])
    clusters: list[list[Labelled]] = []
    for item in labelled:
        if clusters and item[0] / clusters[-1][0][0] < CLUSTER_RATIO:
            clusters[-1].append(item)
        else:
            clusters.append([item])
    for cluster in clusters:
        heights = _stack_labels([item[2] for item in cluster], gap)
        left = min(item[1] for item in cluster) / 1.06
        for (_, x, y, text, color), height in zip(cluster, heights, strict=True):
            ax.annotate(text, (x, y), xytext=(left, height), textcoords="data", ha="right",
                        va="center", fontsize=7.5, color=color,
                        arrowprops={"arrowstyle": "-", "color": color, "alpha": 0.5,
                                    "linewidth": 0.6, "shrinkA": 1, "shrinkB": 3})


def _add_legend_proxies(ax: Any, shown: set[str], anchors: Sequence[Anchor]) -> None:
    """Legend entries for the series drawn and the anchors (empty artists, labels only)."""
    for variant, style in SERIES.items():
        if variant in shown:
            ax.errorbar([], [], yerr=[], fmt=style.marker, color=style.color, elinewidth=3.5,
                        capsize=0, label=f"{style.legend}: mean ± std over seeds")
    ax.vlines([], [], [], color="grey", alpha=0.45, label="our runs: min to max over seeds")
    for anchor in anchors:
        ax.scatter([], [], marker="P", s=80, color=ANCHOR_COLOR, edgecolors="black",
                   linewidths=0.5, label=anchor.label)


def plot_frontier(
    rows: Sequence[dict[str, Any]],
    anchors: Sequence[Anchor],
    target: float | None = COURSE_TARGET,
) -> Figure:
    """Parameters (log x) vs mean test accuracy, one labelled point per model and variant: the
    marker is the mean over seeds, the thick bar +-1 std, the thin line min..max. Series by
    ``row["variant"]`` (control when absent): colours and markers as in ``SERIES``.

    The original's own single numbers (claimed, final epoch, published checkpoint) are not
    runs of ours: they are drawn in red, just right of their 19,898 parameters. The public
    tiny-model anchors are drawn in purple and labelled "published single run": one number
    each, against our means over seeds.
    ``rows`` are sweep rows (``arch, params, seeds, test_mean, test_std, test_min, test_max``).
    """
    reference_points = ORIGINAL_REFERENCE_POINTS
    fig, ax = plt.subplots(figsize=(12, 9.5))
    lows = [r["test_min"] for r in rows] + [p.accuracy for p in reference_points] + \
        [a.accuracy for a in anchors]
    highs = [r["test_max"] for r in rows] + [p.accuracy for p in reference_points] + \
        [a.accuracy for a in anchors]
    ylim = (min(lows) - 0.12, max(highs) + 0.12) if lows else (98.0, 100.0)
    offsets = x_offsets(rows)
    labelled = _draw_runs(ax, rows, offsets) + _draw_anchors(ax, anchors)
    _draw_label_stacks(ax, labelled, gap=(ylim[1] - ylim[0]) * 0.027)  # one label line
    for point in reference_points:
        x = point.params * REFERENCE_X_OFFSET
        ax.scatter(x, point.accuracy, marker=point.marker, s=70, color="tab:red",
                   edgecolors="black", linewidths=0.5, zorder=4, label=point.label)
        ax.annotate(f"{point.accuracy:.2f}%", (x, point.accuracy), textcoords="offset points",
                    xytext=(8, 0), va="center", fontsize=8, color="tab:red")
    shown = {row.get("variant", CONTROL) for row in rows}
    _add_legend_proxies(ax, shown, anchors)
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1, label=f"{target:.1f}% target")
    ax.set_xscale("log")
    def percent(factor: float) -> str:
        return f"{abs(factor - 1) * 100:.0f}%"

    def and_list(items: list[str]) -> str:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

    shifted = {row["arch"]: x for row, x in zip(rows, offsets, strict=True) if x != 1.0}
    moved = (f"{and_list(list(shifted))} drawn "
             f"{and_list([percent(x) for x in shifted.values()])} right of their count, "
             if shifted else "")
    ax.set_xlabel(f"trainable parameters (log scale; {moved}public anchors "
                  f"{percent(1 / ANCHOR_X_OFFSET)} left, the original's red markers "
                  f"{percent(REFERENCE_X_OFFSET)} right)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("Accuracy vs size: our runs (final epoch, no test-set choices) and public "
                 "anchors")
    xs = [r["params"] for r in rows] + [p.params for p in reference_points] + \
        [a.params for a in anchors]
    if xs:
        ax.set_xlim(min(xs) / 2.6, max(xs) * 1.6)  # room for the label stacks on the left
    ax.set_ylim(*ylim)
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: _legend_rank(labels[i]))  # stable
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=7.5,
              loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    # not tight_layout: it would narrow the axes to the legend's width, crowding the labels
    fig.subplots_adjust(left=0.06, right=0.98, top=0.95, bottom=0.24)
    return fig


def plot_run_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
                    title: str = "") -> Figure:
    """Several runs' per-epoch curves on shared axes: validation loss (plain cross-entropy, the
    one loss that means the same for every run; a distilled run's training loss mixes in the
    teacher term), training accuracy on augmented batches, and validation accuracy."""
    if not histories or any(not h for h in histories.values()):
        raise ValueError("Give at least one run, each with a non-empty history.")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    panels = [("val_loss", "validation loss (plain CE, log scale)", 1.0),
              ("train_acc", "training accuracy, augmented (%)", 100.0),
              ("val_acc", "validation accuracy (%)", 100.0)]
    for ax, (key, label, scale) in zip(axes, panels, strict=True):
        for name, history in histories.items():
            epochs = [record["epoch"] for record in history]
            ax.plot(epochs, [scale * record[key] for record in history], "o-", ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    for ax, (key, _, scale) in zip(axes[1:], panels[1:], strict=True):
        # y-axis zoomed on the last two thirds of the runs, where they differ
        values = [scale * r[key] for h in histories.values() for r in h[len(h) // 3:]]
        ax.set_ylim(min(values) - 0.3, min(100.0, max(values)) + 0.2)
        ax.set_title("y-axis zoomed on the last two thirds of the epochs", fontsize=8)
    axes[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_paired_differences(differences: Mapping[str, Sequence[float]],
                            groups: Mapping[str, str] | None = None, title: str = "",
                            same_machine: Mapping[str, Sequence[bool | None]] | None = None
                            ) -> Figure:
    """One row per comparison: a dot per seed (its difference, in points) and a bar at the
    mean; rows of one group share a colour; the dotted line at zero is "no change".
    ``same_machine`` says, per comparison and seed, whether the pair's two runs trained on one
    machine (``run_store.same_machine``): pairs across machines are drawn as hollow circles,
    since such a seed shares its number and not its arithmetic, and pairs a run did not record
    the machine of as hollow squares. Without it every pair is drawn as one machine's."""
    if not differences or any(not d for d in differences.values()):
        raise ValueError("Give at least one comparison, each with at least one difference.")
    machines = {name: list(flags) for name, flags in (same_machine or {}).items()}
    mismatched = [n for n, flags in machines.items() if len(flags) != len(differences.get(n, ()))]
    if mismatched:
        raise ValueError(f"same_machine needs one flag per difference; {mismatched} do not "
                         "match their differences.")
    shown = {flag for flags in machines.values() for flag in flags}
    groups = dict(groups or {})
    names = list(differences)
    palette = ["tab:orange", "tab:green", "tab:grey", "tab:blue", "tab:purple"]
    colours: dict[str, str] = {}
    for name in names:
        colours.setdefault(groups.get(name, ""), palette[len(colours) % len(palette)])
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(names) + 1.6))
    for index, name in enumerate(names):
        y = len(names) - 1 - index
        values = list(differences[name])
        colour = colours[groups.get(name, "")]
        flags = machines.get(name, [True] * len(values))
        for value, flag in zip(values, flags, strict=True):
            ax.scatter(value, y, s=28, zorder=3, alpha=0.85, edgecolors=colour,
                       facecolors=colour if flag else "none", marker="s" if flag is None else "o")
        mean = sum(values) / len(values)
        ax.plot([mean, mean], [y - 0.3, y + 0.3], color=colour, linewidth=2.5, zorder=2)
    ax.axvline(0, color="black", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(names)), list(reversed(names)), fontsize=8)
    ax.set_xlabel("validation accuracy difference (percentage points); dots: seeds, bar: mean")
    for group, colour in colours.items():
        if group:
            ax.scatter([], [], color=colour, s=28, label=group)
    if False in shown:
        ax.scatter([], [], s=28, edgecolors="black", facecolors="none",
                   label="hollow circle: the two runs trained on different machines")
    if None in shown:
        ax.scatter([], [], s=28, edgecolors="black", facecolors="none", marker="s",
                   label="hollow square: a CPU run did not record its CPU model")
    if any(colours) or False in shown or None in shown:
        ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


__all__ = ["ANCHOR_X_OFFSET", "COURSE_TARGET", "ORIGINAL_REFERENCE_POINTS",
           "REFERENCE_X_OFFSET", "ReferencePoint", "SERIES", "plot_frontier", "plot_paired_differences",
           "plot_run_curves", "x_offsets"]
