"""Figures for notebook 02: receptive-field growth, fields drawn on a digit, model budgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from utils.receptive_field import LayerRF, UnitWindow, spatial_rows


def _short_label(row: LayerRF) -> str:
    """Kernel spelled out ("1x1 conv", not "conv1", which reads like the original's layer)."""
    if row.type == "Conv2d":
        return f"{row.kernel}x{row.kernel} conv"
    if row.type.endswith("Pool2d") and row.type.startswith("Adaptive"):
        return "GAP"
    return f"{row.kernel}x{row.kernel} pool"


def _digit_bands(heights: torch.Tensor | None, widths: torch.Tensor | None
                 ) -> list[tuple[str, float, float, float]]:
    """(label, 5%, median, 95%) of the digits' heights and widths that are given."""
    bands = []
    for sizes, label in ((heights, "digit height"), (widths, "digit width")):
        if sizes is not None:
            sizes = sizes[sizes > 0].to(torch.float64)
            low, mid, high = (float(torch.quantile(sizes, q)) for q in (0.05, 0.5, 0.95))
            bands.append((label, low, mid, high))
    return bands


def plot_rf_growth(
    tables: Mapping[str, Sequence[LayerRF]],
    image_size: int = 28,
    digit_heights: torch.Tensor | None = None,
    digit_widths: torch.Tensor | None = None,
) -> Figure:
    """Receptive field after each conv/pool layer, one small panel per model (so that models
    with the same curve do not hide each other), against the image and the digit.

    The global average pool is left out (its field is the whole map by construction); the
    question the plot answers is how much of a digit one unit sees *before* pooling it away.
    Digit sizes (when given): the 5-95% range of heights as a red band, of widths as two
    dotted green lines, drawn so that the legend shows exactly what the panels show.
    """
    count = len(tables)
    fig, axes = plt.subplots(1, count, figsize=(2.6 * count + 1, 3.6), sharey=True,
                             squeeze=False)
    bands = _digit_bands(digit_heights, digit_widths)
    for ax, (name, rows) in zip(axes[0], tables.items(), strict=True):
        layers = [r for r in spatial_rows(rows, windows_only=True) if _short_label(r) != "GAP"]
        depth = list(range(1, len(layers) + 1))
        ax.plot(depth, [r.rf for r in layers], marker="o", color="tab:blue", linewidth=2)
        pools = [(d, r.rf) for d, r in zip(depth, layers, strict=True) if r.type != "Conv2d"]
        if pools:
            ax.scatter(*zip(*pools, strict=True), marker="s", s=60, color="tab:blue",
                       edgecolor="black", zorder=3)
        ax.annotate(f"{layers[-1].rf} px", (depth[-1], layers[-1].rf), fontsize=8,
                    xytext=(-4, 6), textcoords="offset points", ha="right")
        ax.axhline(image_size, color="black", linestyle="--", linewidth=1)
        for label, low, _, high in bands:
            if label == "digit height":
                ax.axhspan(low, high, color="tab:red", alpha=0.2, linewidth=0)
            else:
                for value in (low, high):
                    ax.axhline(value, color="tab:green", linestyle=":", linewidth=1.5)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("conv / pool layer")
        ax.set_xticks(depth)
        ax.set_ylim(0, image_size + 4)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("receptive field (px)")
    handles = [Line2D([], [], color="tab:blue", marker="o", label="receptive field"),
               Line2D([], [], color="tab:blue", marker="s", markeredgecolor="black",
                      linestyle="none", label="after a max-pool"),
               Line2D([], [], color="black", linestyle="--", label=f"image ({image_size} px)")]
    for label, low, mid, high in bands:
        text = f"{label}: 5-95% {low:.0f}-{high:.0f} px, median {mid:.0f}"
        if label == "digit height":
            handles.append(Patch(color="tab:red", alpha=0.2, linewidth=0, label=text))
        else:
            handles.append(Line2D([], [], color="tab:green", linestyle=":", linewidth=1.5,
                                  label=text))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Receptive-field growth, layer by layer")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


MAX_BOXES = 8  # the last layers' fields drawn on a digit; more would hide it


def plot_rf_on_digit(
    image: torch.Tensor, rows: Sequence[LayerRF], title: str = ""
) -> Figure:
    """A digit with the receptive field of the centre unit of each conv/pool layer drawn on it.

    Boxes are the unclipped theoretical fields; where they cross the frame, the unit sees
    zero padding there, not pixels.
    """
    layers = [r for r in spatial_rows(rows, windows_only=True) if _short_label(r) != "GAP"]
    layers = layers[-MAX_BOXES:]
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    size = image.shape[-1]
    ax.imshow(torch.as_tensor(image).cpu().numpy(), cmap="gray_r", extent=(-0.5, size - 0.5, size - 0.5, -0.5))
    colours = plt.get_cmap("viridis")(torch.linspace(0, 0.9, len(layers)).tolist())
    for row, colour in zip(layers, colours, strict=True):
        low, high = row.unit_interval((row.size - 1) // 2)
        ax.add_patch(Rectangle((low - 0.5, low - 0.5), high - low + 1, high - low + 1,
                               fill=False, edgecolor=colour, linewidth=1.8,
                               label=f"{row.name} ({_short_label(row)}): {row.rf} px"))
    ax.set_xlim(-8, size + 7)
    ax.set_ylim(size + 7, -8)
    ax.add_patch(Rectangle((-0.5, -0.5), size, size, fill=False, edgecolor="black",
                           linestyle="--"))
    ax.set_title(title or "Receptive field of one centre unit per layer")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_family_budget(summary: pd.DataFrame, budgets: Mapping[str, int] | None = None) -> Figure:
    """Parameters (with each model's budget) and multiply-accumulates per image, side by side."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(summary["model"])
    left.bar(names, summary["params"], color="tab:blue")
    for i, name in enumerate(names):
        top = max(summary["params"].iloc[i], (budgets or {}).get(name, 0))
        left.text(i, top, f"{summary['params'].iloc[i]:,}", ha="center", va="bottom", fontsize=8)
        if budgets and name in budgets:
            left.hlines(budgets[name], i - 0.4, i + 0.4, color="tab:red", linestyle="--")
    left.set_ylabel("parameters")
    left.set_title("Parameters (dashed: budget)")
    right.bar(names, summary["macs"] / 1e6, color="tab:orange")
    for i in range(len(names)):
        right.text(i, summary["macs"].iloc[i] / 1e6, f"{summary['macs'].iloc[i] / 1e6:.2f}",
                   ha="center", va="bottom", fontsize=8)
    right.set_ylabel("million MACs per image")
    right.set_title("Compute: weight multiply-accumulates")
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=20)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_unit_coverage(
    coverages: Mapping[str, Sequence[UnitWindow]], input_size: int = 28,
    digit_rows: tuple[float, float] | None = None,
) -> Figure:
    """One panel per layer: each unit's field (faint: unclipped, solid: the image rows it
    really covers) against the image and, when given, the rows a typical digit occupies.

    Shows the difference between a field's *size* and what a unit at its *position* sees.
    """
    fig, axes = plt.subplots(1, len(coverages), figsize=(5.2 * len(coverages), 3.4),
                             squeeze=False)
    for ax, (title, windows) in zip(axes[0], coverages.items(), strict=True):
        right = max(w.centre + (w.rf - 1) / 2 for w in windows) + 1.5
        for w in windows:
            half = (w.rf - 1) / 2
            ax.plot([w.centre - half, w.centre + half], [w.unit, w.unit], color="tab:blue",
                    alpha=0.25, linewidth=6, solid_capstyle="butt")
            ax.plot([w.first, w.last], [w.unit, w.unit], color="tab:blue", linewidth=6,
                    solid_capstyle="butt")
            ax.plot([w.centre], [w.unit], "k|", markersize=12)
            ax.text(right, w.unit, f"{w.covered}/{w.rf} px", va="center", fontsize=8)
        ax.axvspan(-0.5, input_size - 0.5, color="black", alpha=0.06)
        for edge in digit_rows or ():
            ax.axvline(edge, color="tab:red", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("input row (px)")
        ax.set_ylabel("unit (row index)")
        ax.set_yticks([w.unit for w in windows])
        ax.invert_yaxis()
        ax.set_xlim(min(-2, min(w.centre - (w.rf - 1) / 2 for w in windows) - 1), right + 9)
    handles = [Line2D([], [], color="tab:blue", alpha=0.25, linewidth=6, label="field"),
               Line2D([], [], color="tab:blue", linewidth=6, label="rows inside the image"),
               Patch(color="black", alpha=0.06, label="image")]
    if digit_rows is not None:
        handles.append(Line2D([], [], color="tab:red", linestyle="--", label="typical digit rows"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
