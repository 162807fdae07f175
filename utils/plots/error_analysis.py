"""Figures for error analysis (notebook 04): confusion heatmaps, digit grids, calibration."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure


def _off_diagonal_max(matrix: np.ndarray) -> float:
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    return float(off.max()) if off.max() > 0 else 1.0


def plot_confusion_matrices(
    counts: torch.Tensor, normalized: torch.Tensor, title: str = ""
) -> Figure:
    """Counts and row-normalised (%) heatmaps side by side.

    The colour scale stops at the largest *off-diagonal* cell, so the errors get the
    colours and the (huge) diagonal simply saturates.
    """
    counts_np = counts.cpu().numpy().astype(int)
    percent = normalized.cpu().double().numpy() * 100
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.2))
    panels = [
        (counts_np, "d", "count", "Counts"),
        (percent, ".1f", "% of the true class", "Row-normalised (% of each true digit)"),
    ]
    for ax, (values, fmt, bar_label, name) in zip(axes, panels, strict=True):
        sns.heatmap(
            values, ax=ax, annot=True, fmt=fmt, cmap="Reds", vmin=0,
            vmax=_off_diagonal_max(values), square=True, annot_kws={"size": 7},
            cbar_kws={"label": bar_label, "shrink": 0.8},
        )
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
        ax.set_title(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_digit_grid(
    images: torch.Tensor, titles: Sequence[str], ncols: int = 8, cell_size: float = 1.6
) -> Figure:
    """uint8 digits ``[N, 28, 28]`` in a grid, one caption each (``N`` may be 0)."""
    if len(images) != len(titles):
        raise ValueError(f"Got {len(images)} images but {len(titles)} titles.")
    n = len(images)
    ncols = max(1, min(ncols, n)) if n else 1
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell_size * ncols, (cell_size + 0.35) * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].cpu().numpy(), cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(titles[i], fontsize=8)
    if n == 0:
        axes.flat[0].text(0.5, 0.5, "nothing to show", ha="center", va="center")
    fig.tight_layout()
    return fig


def plot_misclassified_grid(
    images: torch.Tensor, mistakes: pd.DataFrame, limit: int = 24, ncols: int = 8
) -> Figure:
    """The first ``limit`` rows of :func:`utils.error_analysis.misclassified_examples` as digits."""
    rows = mistakes.head(limit)
    titles = [
        f"#{r.index} true {r.true}\npred {r.predicted} ({r.confidence:.2f})"
        for r in rows.itertuples(index=False)
    ]
    index = torch.tensor(rows["index"].tolist(), dtype=torch.long)
    return plot_digit_grid(images[index], titles, ncols=ncols)


def plot_reliability_diagram(bins: pd.DataFrame, ece: float, title: str = "") -> Figure:
    """Accuracy per confidence bin against the diagonal, with how many examples each bin holds.

    Bars below the diagonal mean over-confidence, above it under-confidence. The lower panel
    (log scale) shows that almost all examples sit in the last bin.
    """
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    width = bins["bin_high"] - bins["bin_low"]
    filled = bins["count"] > 0
    top.bar(bins["bin_low"][filled], bins["accuracy"][filled], width=width[filled], align="edge",
            edgecolor="black", color="tab:blue", alpha=0.8, label="accuracy in bin")
    top.plot(bins["mean_confidence"][filled], bins["accuracy"][filled], "o", color="tab:orange",
             label="(mean confidence, accuracy)")
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy")
    top.set_title(f"{title + ': ' if title else ''}ECE = {ece:.4f}")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(bins["bin_low"], bins["count"].clip(lower=0), width=width, align="edge",
               edgecolor="black", color="tab:gray")
    bottom.set_yscale("symlog", linthresh=1)
    bottom.set_xlabel("confidence (probability of the predicted class)")
    bottom.set_ylabel("examples")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    return fig


def plot_confidence_histograms(
    confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 20, title: str = ""
) -> Figure:
    """Confidence of right vs wrong answers; log counts so the few mistakes stay visible."""
    conf = confidence.cpu().double().numpy()
    ok = correct.cpu().numpy().astype(bool)
    edges = np.linspace(0, 1, n_bins + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(conf[ok], bins=edges, alpha=0.45, color="tab:green", label=f"correct ({ok.sum()})")
    ax.hist(conf[~ok], bins=edges, histtype="step", linewidth=2, color="tab:red",
            label=f"wrong ({(~ok).sum()})")
    ax.set_yscale("log")
    ax.set_xlabel("confidence (probability of the predicted class)")
    ax.set_ylabel("examples (log scale)")
    ax.set_title(title or "Confidence of correct and wrong predictions")
    ax.legend()
    fig.tight_layout()
    return fig


def shared_mistake_titles(
    index: torch.Tensor,
    labels: torch.Tensor,
    predicted_a: torch.Tensor,
    predicted_b: torch.Tensor,
    confidence_a: torch.Tensor,
    confidence_b: torch.Tensor,
) -> list[str]:
    """Captions ``#i true t / A p (c) / B p (c)`` for examples both models get wrong."""
    return [
        f"#{int(i)} true {int(labels[i])}\nA {int(predicted_a[i])} ({float(confidence_a[i]):.2f}) "
        f"B {int(predicted_b[i])} ({float(confidence_b[i]):.2f})"
        for i in index
    ]

