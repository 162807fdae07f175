"""Figures for notebook 01 (data exploration). Each function returns a Figure; the notebook
saves it with ``save_figure`` under a stable name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from utils.data import NUM_CLASSES


def plot_class_balance(counts_by_split: Mapping[str, Sequence[int]]) -> Figure:
    """Grouped bars of each class's share (%) per split: equal heights mean the split is
    stratified, so accuracy on val/test is not skewed by a different class mix."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    names = list(counts_by_split)
    width = 0.8 / max(len(names), 1)
    digits = torch.arange(NUM_CLASSES, dtype=torch.float64)
    for i, name in enumerate(names):
        counts = torch.tensor(list(counts_by_split[name]), dtype=torch.float64)
        share = 100 * counts / counts.sum()
        offset = (i - (len(names) - 1) / 2) * width
        ax.bar((digits + offset).tolist(), share.tolist(), width=width,
               label=f"{name} (n={int(counts.sum()):,})")
    ax.axhline(100 / NUM_CLASSES, color="black", lw=0.8, ls="--", label="uniform (10%)")
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_xlabel("digit")
    ax.set_ylabel("share of split (%)")
    ax.set_title("Class balance per split")
    ax.legend(fontsize=8, ncols=len(names) + 1, loc="upper center")
    ax.set_ylim(0, 14.5)
    return fig


def plot_digit_rows(images: torch.Tensor, row_labels: Sequence[str], title: str) -> Figure:
    """A ``[rows, cols, H, W]`` stack of images, one labelled row per group (e.g. per class);
    ``utils.plots.error_analysis.plot_digit_grid`` instead lays out ``[N, H, W]`` with a caption each."""
    rows, cols = images.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.85), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(images[r, c].cpu().numpy(), cmap="gray_r", vmin=0, vmax=images.max().item())
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(row_labels[r], rotation=0, labelpad=14, va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_pixel_histogram(histogram: torch.Tensor) -> Figure:
    """Grey-level counts on a log scale: MNIST is mostly exact 0 (background) with a
    second peak at 253-255 (ink), which is why mean and std are far from 0.5."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(range(len(histogram)), histogram.tolist(), width=1.0, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlim(-2, 257)
    ax.set_xlabel("pixel value (0 = background, 255 = full ink)")
    ax.set_ylabel("number of pixels (log)")
    ax.set_title("Pixel intensity histogram (train split)")
    return fig


def plot_mean_images(mean_images: torch.Tensor) -> Figure:
    """The average image of each class: blurry where writers disagree, sharp where they agree."""
    n = len(mean_images)
    fig, axes = plt.subplots(1, n, figsize=(n * 1.0, 1.5))
    for digit, ax in enumerate(axes):
        ax.imshow(mean_images[digit].cpu().numpy(), cmap="magma", vmin=0, vmax=1)
        ax.set_title(str(digit))
        ax.axis("off")
    fig.suptitle("Mean image per class (train split)", y=1.05)
    return fig


def plot_digit_geometry(
    com: torch.Tensor, heights: torch.Tensor, widths: torch.Tensor, margins: torch.Tensor,
    size: int = 28,
) -> Figure:
    """Four panels: centre-of-mass positions, box heights, box widths and border margins."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    ax = axes[0]
    # MNIST was centred by shifting each digit so its centre of mass lands in the middle pixel:
    # zoom in to +-1.5 px so that tight cluster is visible at all.
    view = [[size / 2 - 2, size / 2 + 1], [size / 2 - 2, size / 2 + 1]]
    *_, image = ax.hist2d(com[:, 1].tolist(), com[:, 0].tolist(), bins=30, range=view,
                          cmap="viridis", cmin=1)
    fig.colorbar(image, ax=ax, label="images", fraction=0.046)
    spread = (com - com.mean(0)).abs().max().item()
    ax.text(0.03, 0.03, f"all within {spread:.2f} px\nof the mean", transform=ax.transAxes,
            fontsize=8, va="bottom")
    ax.plot([(size - 1) / 2], [(size - 1) / 2], "r+", ms=12, label="image centre")
    ax.set_ylim(view[0][1], view[0][0])  # rows grow downwards, as in the images
    ax.set_xlabel("column (px)")
    ax.set_ylabel("row (px)")
    ax.set_title("Centre of mass")
    ax.legend(fontsize=8)
    bins = [b - 0.5 for b in range(size + 2)]
    for ax, values, name in ((axes[1], heights, "height"), (axes[2], widths, "width")):
        ax.hist(values.tolist(), bins=bins, color="tab:blue")
        ax.set_xlabel(f"bounding-box {name} (px)")
        ax.set_title(f"Digit {name}")
    axes[1].set_ylabel("images")
    ax = axes[3]
    ax.hist(margins.tolist(), bins=[b - 0.5 for b in range(size // 2 + 1)], color="tab:green")
    ax.set_xlabel("smallest margin to border (px)")
    ax.set_title("Room to shift")
    fig.tight_layout()
    return fig


def plot_augmented_grid(originals: torch.Tensor, augmented: torch.Tensor, title: str) -> Figure:
    """Row 0: originals ``[K, H, W]``; rows 1..: augmented copies ``[R, K, H, W]``."""
    stack = torch.cat([originals.unsqueeze(0), augmented], dim=0).float()
    labels = ["original"] + [f"aug {i + 1}" for i in range(len(augmented))]
    return plot_digit_rows(stack, labels, title)
