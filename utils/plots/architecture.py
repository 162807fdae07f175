"""Figures for notebook 02: receptive-field growth, fields drawn on a digit, model budgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..receptive_field import LayerRF, spatial_rows


def _short_label(row: LayerRF) -> str:
    if row.type == "Conv2d":
        return f"conv{row.kernel}"
    if row.type.endswith("Pool2d") and row.type.startswith("Adaptive"):
        return "GAP"
    return "pool"


def plot_rf_growth(
    tables: Mapping[str, Sequence[LayerRF]],
    image_size: int = 28,
    digit_heights: torch.Tensor | None = None,
    digit_widths: torch.Tensor | None = None,
) -> Figure:
    """Receptive field after each conv/pool layer, per model, against the image and the digit.

    The global average pool is left out (its field is the whole map by construction); the
    question the plot answers is how much of a digit one unit sees *before* pooling it away.
    Shaded bands: 5-95% range of digit heights and widths (when given).
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    count = len(tables)
    for rank, (name, rows) in enumerate(tables.items()):
        layers = [r for r in spatial_rows(rows, windows_only=True) if _short_label(r) != "GAP"]
        depth = list(range(1, len(layers) + 1))
        # Models that share a curve (same shape, different width) stay visible: earlier ones
        # are drawn thicker underneath, and every curve is labelled at its end.
        width = 1.5 + 2.5 * (count - 1 - rank) / max(count - 1, 1)
        (line,) = ax.plot(depth, [r.rf for r in layers], marker="o", linewidth=width,
                          markersize=3 + width, label=name, alpha=0.85)
        pools = [(d, r.rf) for d, r in zip(depth, layers, strict=True) if r.type != "Conv2d"]
        if pools:
            ax.scatter(*zip(*pools, strict=True), marker="s", s=70, color=line.get_color(),
                       edgecolor="black", zorder=3)
        ax.annotate(f"{name}: {layers[-1].rf}", (depth[-1], layers[-1].rf), fontsize=8,
                    xytext=(6, 3 if rank % 2 == 0 else -10), textcoords="offset points",
                    color=line.get_color())
    ax.axhline(image_size, color="black", linestyle="--", linewidth=1)
    ax.text(0.98, image_size + 0.4, f"image ({image_size} px)", fontsize=9, ha="right",
            transform=ax.get_yaxis_transform())
    for sizes, label, colour in ((digit_heights, "digit height", "tab:red"),
                                 (digit_widths, "digit width", "tab:green")):
        if sizes is None:
            continue
        sizes = sizes[sizes > 0].to(torch.float64)
        low, mid, high = (float(torch.quantile(sizes, q)) for q in (0.05, 0.5, 0.95))
        ax.axhspan(low, high, color=colour, alpha=0.12,
                   label=f"{label}: 5-95% {low:.0f}-{high:.0f} px, median {mid:.0f}")
    ax.set_xlabel("conv / pool layer (squares: max-pool)")
    ax.set_ylabel("receptive field (px)")
    ax.set_title("Receptive-field growth, layer by layer")
    ax.set_ylim(0, image_size + 4)
    ax.set_xlim(0.5, ax.get_xlim()[1] + 1.5)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_rf_on_digit(
    image: torch.Tensor, rows: Sequence[LayerRF], title: str = "", max_boxes: int = 8
) -> Figure:
    """A digit with the receptive field of the centre unit of each conv/pool layer drawn on it.

    Boxes are the unclipped theoretical fields; where they cross the frame, the unit sees
    zero padding there, not pixels.
    """
    layers = [r for r in spatial_rows(rows, windows_only=True) if _short_label(r) != "GAP"]
    layers = layers[-max_boxes:]
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    size = image.shape[-1]
    ax.imshow(image, cmap="gray_r", extent=(-0.5, size - 0.5, size - 0.5, -0.5))
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
