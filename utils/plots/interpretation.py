"""Figures for looking inside the model (notebook 06): filters, feature maps, CAMs,
attributions, effective receptive fields and robustness curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _np(values: torch.Tensor) -> np.ndarray:
    """matplotlib wants arrays; handing it tensors works but warns."""
    return values.detach().cpu().numpy()


def _hide_ticks(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_filters(weight: torch.Tensor, title: str = "") -> Figure:
    """First-layer kernels ``[C, 1, k, k]``, each on a symmetric colour scale (red +, blue -),
    so the sign pattern (an edge or a blob detector) is what you see."""
    kernels = weight.detach().cpu()[:, 0]
    n = len(kernels)
    ncols = min(8, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.4 * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        _hide_ticks(ax)
        if index >= n:
            ax.axis("off")
            continue
        limit = float(kernels[index].abs().max()) or 1.0
        ax.imshow(_np(kernels[index]), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"#{index}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_feature_maps(image: torch.Tensor, maps: Mapping[str, torch.Tensor],
                      channels: int = 8, title: str = "") -> Figure:
    """The digit, then one row per stage showing its first ``channels`` maps (``[C, h, w]``
    each, one image); the row label gives the stage's map size."""
    fig, axes = plt.subplots(len(maps), channels + 1, figsize=(1.2 * (channels + 1),
                                                               1.25 * len(maps)), squeeze=False)
    for row, (name, stage) in enumerate(maps.items()):
        first = axes[row, 0]
        _hide_ticks(first)
        if row == 0:
            first.imshow(_np(image), cmap="gray_r")
            first.set_title("input", fontsize=8)
        else:
            first.axis("off")
        for col in range(channels):
            ax = axes[row, col + 1]
            _hide_ticks(ax)
            if col >= stage.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(_np(stage[col]), cmap="viridis")
            if col == 0:
                ax.set_ylabel(f"{name}\n{stage.shape[-1]}x{stage.shape[-1]}", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_channel_statistics(stats: pd.DataFrame, title: str = "") -> Figure:
    """Per stage: share of positions that fire and number of dead channels."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    labels = [f"{layer}\n({size}x{size})" for layer, size in zip(stats["layer"], stats["size"],
                                                                  strict=True)]
    axes[0].bar(labels, stats["fraction_active"], color="tab:blue")
    axes[0].set_ylabel("share of positions > 0")
    axes[0].set_ylim(0, 1)
    axes[1].bar(labels, stats["dead_channels"], color="tab:red")
    axes[1].bar(labels, stats["channels"] - stats["dead_channels"],
                bottom=stats["dead_channels"], color="lightgray")
    axes[1].set_ylabel("channels (red: dead)")
    for ax in axes:
        ax.tick_params(axis="x", labelsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_maps_over_digits(images: torch.Tensor, rows: Mapping[str, torch.Tensor],
                          titles: Sequence[str], signed: Sequence[str] = (),
                          cell_size: float = 1.5) -> Figure:
    """Columns are digits (uint8 ``[N, 28, 28]``); the first row shows them, each further row
    one map per digit (``[N, 28, 28]``) drawn over the faint digit. Rows named in ``signed``
    use a symmetric red/blue scale (evidence for / against), the others a heat scale."""
    n = len(images)
    fig, axes = plt.subplots(len(rows) + 1, n, figsize=(cell_size * n, cell_size * (len(rows) + 1)),
                             squeeze=False)
    for col in range(n):
        digit = _np(images[col])
        axes[0, col].imshow(digit, cmap="gray_r")
        axes[0, col].set_title(titles[col], fontsize=7)
        for row, (name, maps) in enumerate(rows.items(), start=1):
            ax = axes[row, col]
            values = maps[col].detach().cpu().float()
            ax.imshow(digit, cmap="gray_r", alpha=0.35)
            if name in signed:
                limit = float(values.abs().max()) or 1.0
                ax.imshow(_np(values), cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.75)
            else:
                ax.imshow(_np(values), cmap="inferno", alpha=0.7)
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        _hide_ticks(ax)
    fig.tight_layout()
    return fig


def plot_effective_receptive_fields(fields: Mapping[str, torch.Tensor],
                                    theory: tuple[tuple[int, int], tuple[int, int]],
                                    centre: tuple[float, float], title: str = "") -> Figure:
    """Each ERF (``[H, W]``, sums to 1) as a heat map, with the theoretical receptive field
    (clipped to the image; ((top, bottom), (left, right))) as a dashed square and the unit's
    centre as a cross; on the right, the profile through the centre row."""
    (top, bottom), (left, right) = theory
    fig, axes = plt.subplots(1, len(fields) + 1, figsize=(3.6 * (len(fields) + 1), 3.4))
    for ax, (name, erf) in zip(axes, fields.items(), strict=False):
        ax.imshow(_np(erf), cmap="magma")
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                               fill=False, edgecolor="cyan", linestyle="--", linewidth=1.5))
        ax.plot(centre[1], centre[0], "c+", markersize=10)
        ax.set_title(name, fontsize=9)
        _hide_ticks(ax)
    profile_ax = axes[-1]
    row = int(centre[0])
    for name, erf in fields.items():
        profile_ax.plot(_np(erf[row] / erf[row].max()), label=name)
    profile_ax.axvspan(left - 0.5, right + 0.5, color="cyan", alpha=0.15, label="theoretical RF")
    profile_ax.set_xlabel("input column (pixels)")
    profile_ax.set_ylabel(f"row {row}, scaled to max 1")
    profile_ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_transform_examples(examples: Mapping[str, Sequence[tuple[str, torch.Tensor]]]) -> Figure:
    """One row per transform: the same digit at several levels (``(label, [28, 28])`` pairs)."""
    ncols = max(len(levels) for levels in examples.values())
    fig, axes = plt.subplots(len(examples), ncols, figsize=(1.3 * ncols, 1.45 * len(examples)),
                             squeeze=False)
    for row, (name, levels) in enumerate(examples.items()):
        for col in range(ncols):
            ax = axes[row, col]
            _hide_ticks(ax)
            if col >= len(levels):
                ax.axis("off")
                continue
            label, image = levels[col]
            ax.imshow(_np(image), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(label, fontsize=7)
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def plot_robustness_curves(frame: pd.DataFrame, units: Mapping[str, str],
                           training_ranges: Mapping[str, tuple[float, float]],
                           thresholds: Sequence[float]) -> Figure:
    """Accuracy (%) against the level of each transform, one line per model; grey band: the
    range training augmented with; dotted lines: the thresholds."""
    transforms = list(dict.fromkeys(frame["transform"]))
    ncols = 3
    nrows = -(-(len(transforms) + 1) // ncols)  # one spare panel holds the legend
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.5 * nrows), squeeze=False)
    for ax, transform in zip(axes.flat, transforms, strict=False):
        sub = frame[frame["transform"] == transform]
        for model in dict.fromkeys(sub["model"]):
            rows = sub[sub["model"] == model].sort_values("level")
            ax.plot(rows["level"], 100 * rows["accuracy"], marker="o", markersize=3, label=model)
        if transform in training_ranges:
            low, high = training_ranges[transform]
            ax.axvspan(low, high, color="gray", alpha=0.2, label="training augmentation")
        for threshold in thresholds:
            ax.axhline(100 * threshold, color="black", linestyle=":", linewidth=0.8)
        ax.set_title(transform)
        ax.set_xlabel(units.get(transform, "level"))
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(max(0.0, 100 * float(sub["accuracy"].min()) - 3), 100.5)
    handles, names = axes.flat[0].get_legend_handles_labels()
    for ax in list(axes.flat)[len(transforms):]:
        ax.axis("off")
    axes.flat[len(transforms)].legend(handles, names, loc="center", fontsize=9)
    fig.tight_layout()
    return fig
