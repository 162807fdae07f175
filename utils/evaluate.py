"""Model outputs on a split: logits, loss and accuracy (what training-time validation needs).

The test split is only ever passed here after training is done.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from utils.data import normalize


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    mean: float,
    std: float,
    batch_size: int = 1000,
) -> torch.Tensor:
    """Logits ``[N, 10]`` (on the CPU) for uint8 images ``[N, 28, 28]``, in eval mode.

    Batches go to the device the model's weights are on, so callers never name it twice.
    """
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
