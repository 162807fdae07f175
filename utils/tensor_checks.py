"""Argument checks shared by the statistics and error-analysis helpers.

They turn a wrong shape, dtype or range into a message that says what was expected, before
any arithmetic runs. Conventions: labels/predictions are integer class ids ``[N]``.
"""

from __future__ import annotations

import torch


def check_labels(labels: torch.Tensor, name: str, num_classes: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}.")
    if labels.dim() != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {tuple(labels.shape)}.")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class ids, got dtype {labels.dtype}.")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{name} must hold class ids in 0..{num_classes - 1}, found "
            f"{int(labels.min())}..{int(labels.max())}."
        )
    return labels.cpu().long()


def check_same_length(**tensors: torch.Tensor) -> None:
    lengths = {name: len(t) for name, t in tensors.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            f"Length mismatch: {described} entries. Pass values for the same examples, in the same order."
        )


def check_confidence(confidence: torch.Tensor) -> torch.Tensor:
    if not isinstance(confidence, torch.Tensor) or confidence.dim() != 1:
        shape = tuple(confidence.shape) if isinstance(confidence, torch.Tensor) else "not a tensor"
        raise ValueError(f"confidence must be a 1-D tensor [N], got {shape}.")
    confidence = confidence.detach().cpu().double()
    if len(confidence) and (float(confidence.min()) < 0 or float(confidence.max()) > 1):
        raise ValueError("confidence must lie in [0, 1]: pass probabilities, not logits.")
    return confidence


def check_correct(correct: torch.Tensor, name: str = "correct") -> torch.Tensor:
    if not isinstance(correct, torch.Tensor) or correct.dim() != 1:
        shape = tuple(correct.shape) if isinstance(correct, torch.Tensor) else "not a tensor"
        raise ValueError(f"{name} must be a 1-D boolean tensor [N], got {shape}.")
    if correct.dtype != torch.bool:
        raise ValueError(f"{name} must be boolean (prediction == label), got dtype {correct.dtype}.")
    return correct.cpu()

