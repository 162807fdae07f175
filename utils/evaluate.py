"""Predictions and metrics. The test split is only ever passed here after training is done."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import normalize


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    mean: float,
    std: float,
    batch_size: int = 1000,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Logits ``[N, 10]`` (on the CPU) for uint8 images ``[N, 28, 28]``, in eval mode."""
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = normalize(images[start : start + batch_size].to(device), mean, std)
        outputs.append(model(batch).float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, 10)


@torch.no_grad()
def loss_and_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: float,
    std: float,
    batch_size: int = 1000,
) -> tuple[float, float]:
    logits = predict_logits(model, images, mean, std, batch_size)
    labels = labels.cpu()
    loss = F.cross_entropy(logits, labels).item()
    accuracy = int((logits.argmax(1) == labels).sum()) / len(labels)
    return loss, accuracy


@dataclass(frozen=True)
class AccuracyCI:
    correct: int
    total: int
    accuracy: float
    low: float
    high: float

    @property
    def errors(self) -> int:
        return self.total - self.correct

    def __str__(self) -> str:
        return (
            f"{100 * self.accuracy:.2f}% ({self.correct}/{self.total}, "
            f"95% CI {100 * self.low:.2f}-{100 * self.high:.2f}%)"
        )


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> AccuracyCI:
    """Wilson score interval: unlike the normal approximation it stays inside [0, 1]
    and behaves near 100%, where our accuracies live."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}.")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be between 0 and {total}, got {correct}.")
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return AccuracyCI(correct, total, p, max(0.0, centre - half), min(1.0, centre + half))


def accuracy_with_ci(predictions: torch.Tensor, labels: torch.Tensor) -> AccuracyCI:
    correct = int((predictions.cpu() == labels.cpu()).sum())
    return wilson_interval(correct, len(labels))
