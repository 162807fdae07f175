"""Figures for notebook 03 (training): the LR schedule before training, the training curves
after it, and a preview of exactly what the engine's augmentation feeds the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from utils.augment import AugmentConfig, random_affine
from utils.data import to_unit_float
from utils.plots.data import plot_augmented_grid
from utils.recipe import TrainConfig, lr_schedule


def plot_lr_schedule(config: TrainConfig, steps_per_epoch: int) -> Figure:
    """LR against epochs (fractional, one point per step), with the warm-up end marked:
    the schedule is a pure function of the step, so it can be drawn before training."""
    lrs = lr_schedule(config, steps_per_epoch)
    epochs = [step / steps_per_epoch for step in range(len(lrs))]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(epochs, lrs, color="tab:purple")
    if config.schedule == "onecycle":
        peak = max(range(len(lrs)), key=lrs.__getitem__)
        ax.axvline(epochs[peak], color="grey", ls="--", lw=0.8)
        ax.annotate(f"peak {lrs[peak]:g} after warm-up", (epochs[peak], lrs[peak]),
                    xytext=(8, -12), textcoords="offset points", fontsize=8)
        ax.annotate(f"start {lrs[0]:.2g}", (0, lrs[0]), xytext=(4, 6),
                    textcoords="offset points", fontsize=8)
        ax.annotate(f"end {lrs[-1]:.1g}", (epochs[-1], lrs[-1]), xytext=(-40, 8),
                    textcoords="offset points", fontsize=8)
    ax.set_xlim(0, config.epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(f"{config.schedule} schedule: {config.epochs} epochs x {steps_per_epoch} steps")
    fig.tight_layout()
    return fig


def _column(history: Sequence[Mapping[str, float]], key: str) -> list[float]:
    missing = [i for i, record in enumerate(history) if key not in record]
    if missing:
        raise ValueError(f"History records {missing[:5]} lack {key!r}; pass fit()'s history.")
    return [float(record[key]) for record in history]


def plot_training_curves(
    history: Sequence[Mapping[str, float]], title: str = "", loss_floor: float | None = None
) -> Figure:
    """Loss (log scale), accuracy (train vs val) and LR per epoch.

    Train numbers are averaged over the epoch on *augmented* images in train mode (with label
    smoothing in the loss); validation numbers are measured after the epoch on clean images
    with plain cross-entropy. So the two are not on the same footing: look at trends and gaps.
    ``loss_floor`` (e.g. the entropy of the label-smoothed target) is drawn as a dashed line.
    """
    if not history:
        raise ValueError("The history is empty: nothing to plot.")
    epochs = _column(history, "epoch")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    ax = axes[0]
    ax.plot(epochs, _column(history, "train_loss"), "o-", ms=3, label="train (smoothed CE)")
    ax.plot(epochs, _column(history, "val_loss"), "o-", ms=3, label="val (plain CE)")
    if loss_floor is not None:
        ax.axhline(loss_floor, color="grey", ls="--", lw=0.8,
                   label=f"smoothing floor {loss_floor:.3f}")
    ax.set_yscale("log")
    ax.set_ylabel("loss (log scale)")
    ax.set_title("Loss")
    ax = axes[1]
    train_acc = [100 * a for a in _column(history, "train_acc")]
    val_acc = [100 * a for a in _column(history, "val_acc")]
    ax.plot(epochs, train_acc, "o-", ms=3, label="train (augmented)")
    ax.plot(epochs, val_acc, "o-", ms=3, label="val")
    ax.text(0.03, 0.80, f"final epoch: train {train_acc[-1]:.2f}%, val {val_acc[-1]:.2f}%",
            transform=ax.transAxes, fontsize=8, va="top")
    # every epoch on the main axes (epoch 1's train/val gap stays visible); the inset zooms
    # the *y*-axis on the epochs from a third of the run on, where the differences are small
    ax.set_ylim(max(0.0, min(train_acc + val_acc) - 2.0), 100.5)
    first = len(epochs) // 3
    if len(epochs) - first >= 2:
        inset = ax.inset_axes((0.46, 0.1, 0.51, 0.55))
        inset.plot(epochs[first:], train_acc[first:], "o-", ms=2)
        inset.plot(epochs[first:], val_acc[first:], "o-", ms=2)
        low = min(train_acc[first:] + val_acc[first:])
        inset.set_ylim(max(0.0, low - 0.2), min(100.0, max(train_acc + val_acc) + 0.2))
        inset.set_title(f"y-axis zoom, epochs {int(epochs[first])}-{int(epochs[-1])}", fontsize=7)
        inset.tick_params(labelsize=6)
        inset.grid(alpha=0.3)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy (all epochs)")
    ax = axes[2]
    ax.plot(epochs, _column(history, "lr"), "o-", ms=3, color="tab:purple")
    ax.set_ylabel("learning rate (at epoch end)")
    ax.set_title("Learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8, loc="center left")  # clear of the inset
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_augmentation_preview(
    images: torch.Tensor, config: AugmentConfig, n_variants: int = 4, seed: int = 0,
    title: str | None = None,
) -> Figure:
    """Originals (uint8 ``[K, 28, 28]``) and ``n_variants`` rows of augmented copies, made the
    way ``fit``'s batch step makes them (``utils.augment.training_batch`` before its
    normalisation, so the pixels stay viewable): scale to [0, 1], then one batched warp per row."""
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise ValueError(
            f"Expected uint8 images [K, 28, 28], got {images.dtype} {tuple(images.shape)}."
        )
    generator = torch.Generator(device=images.device).manual_seed(seed)
    batch = to_unit_float(images)
    augmented = torch.stack(
        [random_affine(batch, config, generator=generator)[:, 0] for _ in range(n_variants)]
    )
    if title is None:
        title = (f"Augmentation: rotation ±{config.rotation_deg:g}°, shift ±{config.translate_px:g}"
                 f" px, scale ±{100 * config.scale:g}%")
    return plot_augmented_grid(batch[:, 0].cpu(), augmented.cpu(), title)
