"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
Networks", section 3.3): train briefly while the learning rate grows exponentially and watch
the loss. Two rates mark the curve: where the smoothed loss falls fastest and, often more than a
decade higher, where it is lowest, just before training turns unstable. The peak of a OneCycle
schedule is picked between them, and the sensitivity sweep then checks the pick on validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from utils.augment import training_batch
from utils.data import MNISTSplits, normalization_stats
from utils.paths import resolve_device
from utils.recipe import TrainConfig
from utils.train import resolve_numeric_path, start_state, training_step

SMOOTHING = 0.05  # exponential moving average of the loss, as in Smith's and fastai's finders
DIVERGED = 4.0  # stop once the smoothed loss exceeds 4x its best


@dataclass(frozen=True)
class RangePoint:
    step: int
    lr: float
    loss: float
    smoothed: float


def lr_range_test(config: TrainConfig, splits: MNISTSplits, start_lr: float = 1e-4,
                  end_lr: float = 10.0, steps: int = 300, progress: bool = True) -> list[RangePoint]:
    """One point per optimiser step of ``config``'s model, optimiser and augmented batches, with
    the learning rate rising from ``start_lr`` to ``end_lr`` geometrically; stops early once the
    loss diverges. Uses the training split only."""
    config.validate(len(splits.train_labels))
    if not 0 < start_lr < end_lr:
        raise ValueError(f"Need 0 < start_lr < end_lr, got {start_lr} and {end_lr}.")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}.")
    device = resolve_device(config.device)
    numeric = resolve_numeric_path(config.amp, config.channels_last, device)
    state = start_state(config, device, numeric)
    model, optimizer = state.model, state.optimizer
    images, labels = splits.train_images.to(device), splits.train_labels.to(device)
    normalization = normalization_stats(splits.train_images)
    augment = config.augment.scaled(config.augment_strength)
    growth = (end_lr / start_lr) ** (1 / (steps - 1))
    points: list[RangePoint] = []
    smoothed, best = 0.0, math.inf
    model.train()
    for step in tqdm(range(steps), desc="LR range test", disable=not progress, leave=False):
        lr = start_lr * growth**step
        idx = torch.randint(len(labels), (config.batch_size,), device=device,
                            generator=state.generator)
        x = training_batch(images[idx], augment, *normalization, generator=state.generator)
        loss, _ = training_step(model, optimizer, x, labels[idx], lr, config, numeric)
        value = loss.item()
        smoothed = SMOOTHING * value + (1 - SMOOTHING) * smoothed
        debiased = smoothed / (1 - (1 - SMOOTHING) ** (step + 1))
        points.append(RangePoint(step, lr, value, debiased))
        best = min(best, debiased)
        if not math.isfinite(value) or debiased > DIVERGED * best:
            break
    return points


def steepest_descent_lr(points: list[RangePoint]) -> float:
    """The learning rate where the smoothed loss falls fastest per log-step of the rate
    (a guide to the region, not a prescription)."""
    if len(points) < 3:
        raise ValueError("Need at least 3 points of a range test.")
    slopes = [(b.smoothed - a.smoothed) / (math.log(b.lr) - math.log(a.lr))
              for a, b in zip(points, points[1:], strict=False)]
    steepest = min(range(len(slopes)), key=slopes.__getitem__)
    return points[steepest].lr
