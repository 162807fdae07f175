"""Predictions and metrics. The test split is only ever passed here after training is done."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import load_model_checkpoint
from .data import NUM_CLASSES, normalize
from .paths import resolve_repo_path


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
    # min/max with p: at p = 0 or 1 the exact bound equals p, but rounding can land an ulp off
    low, high = min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))
    return AccuracyCI(correct, total, p, low, high)


def accuracy_with_ci(predictions: torch.Tensor, labels: torch.Tensor) -> AccuracyCI:
    correct = int((predictions.cpu() == labels.cpu()).sum())
    return wilson_interval(correct, len(labels))


# ---------------------------------------------------------------------------
# Error analysis: predictions, confusion, per-class scores, calibration, mistakes.
# Conventions: ``labels``/``predicted`` are int64 ``[N]``; rows of a confusion matrix
# are true classes and columns predicted classes.
# ---------------------------------------------------------------------------

ORIGINAL_NORMALIZATION = (0.1307, 0.3081)  # the mnist_994 recipe; used for bare state dicts


def _check_labels(labels: torch.Tensor, name: str, num_classes: int) -> torch.Tensor:
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


def _check_same_length(**tensors: torch.Tensor) -> None:
    lengths = {name: len(t) for name, t in tensors.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            f"Length mismatch: {described} entries. Pass values for the same examples, in the same order."
        )


def _check_confidence(confidence: torch.Tensor) -> torch.Tensor:
    if not isinstance(confidence, torch.Tensor) or confidence.dim() != 1:
        shape = tuple(confidence.shape) if isinstance(confidence, torch.Tensor) else "not a tensor"
        raise ValueError(f"confidence must be a 1-D tensor [N], got {shape}.")
    confidence = confidence.detach().cpu().double()
    if len(confidence) and (float(confidence.min()) < 0 or float(confidence.max()) > 1):
        raise ValueError("confidence must lie in [0, 1]: pass probabilities, not logits.")
    return confidence


def _check_correct(correct: torch.Tensor, name: str = "correct") -> torch.Tensor:
    if not isinstance(correct, torch.Tensor) or correct.dim() != 1:
        shape = tuple(correct.shape) if isinstance(correct, torch.Tensor) else "not a tensor"
        raise ValueError(f"{name} must be a 1-D boolean tensor [N], got {shape}.")
    if correct.dtype != torch.bool:
        raise ValueError(f"{name} must be boolean (prediction == label), got dtype {correct.dtype}.")
    return correct.cpu()


@dataclass(frozen=True)
class Predictions:
    """What a model said about one split: the class, the softmax probabilities, right or wrong."""

    labels: torch.Tensor  # int64 [N]
    predicted: torch.Tensor  # int64 [N]
    probabilities: torch.Tensor  # float [N, C], rows sum to 1

    @property
    def confidence(self) -> torch.Tensor:
        """Probability of the predicted class: what the model would bet on its answer."""
        return self.probabilities.gather(1, self.predicted[:, None]).squeeze(1)

    @property
    def correct(self) -> torch.Tensor:
        return self.predicted == self.labels

    @property
    def num_errors(self) -> int:
        return int((~self.correct).sum())

    def accuracy_ci(self) -> AccuracyCI:
        return accuracy_with_ci(self.predicted, self.labels)


def predictions_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> Predictions:
    """Softmax turns logits into probabilities; log-softmax outputs (original19k) give the same."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a 2-D tensor [N, classes], got {shape}.")
    labels = _check_labels(labels, "labels", logits.shape[1])
    _check_same_length(logits=logits, labels=labels)
    logits = logits.detach().cpu().float()
    return Predictions(labels, logits.argmax(1), torch.softmax(logits, dim=1))


def predict(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: float,
    std: float,
    batch_size: int = 1000,
    device: str | torch.device | None = None,
) -> Predictions:
    """Run ``model`` over uint8 images ``[N, 28, 28]`` and keep everything error analysis needs."""
    if images.dim() != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be [N, 28, 28], got shape {tuple(images.shape)}.")
    _check_same_length(images=images, labels=labels)
    return predictions_from_logits(
        predict_logits(model, images, mean, std, batch_size, device), labels
    )


def confusion_matrix(
    labels: torch.Tensor, predicted: torch.Tensor, num_classes: int = NUM_CLASSES
) -> torch.Tensor:
    """Counts ``[C, C]`` (int64): entry ``[t, p]`` is how many class-``t`` images were called ``p``."""
    labels = _check_labels(labels, "labels", num_classes)
    predicted = _check_labels(predicted, "predicted", num_classes)
    _check_same_length(labels=labels, predicted=predicted)
    flat = labels * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def row_normalize(matrix: torch.Tensor) -> torch.Tensor:
    """Each row divided by its total (per-class recall on the diagonal); empty rows stay 0."""
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square [C, C], got shape {tuple(matrix.shape)}.")
    matrix = matrix.double()
    totals = matrix.sum(1, keepdim=True)
    return torch.where(totals > 0, matrix / totals.clamp(min=1), torch.zeros_like(matrix))


def per_class_metrics(
    labels: torch.Tensor, predicted: torch.Tensor, num_classes: int = NUM_CLASSES
) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (index ``digit``).

    A 0/0 ratio is reported as 0, not NaN (as scikit-learn's ``zero_division=0``): a class
    that is never predicted has precision 0 and F1 0, which keeps the table sortable and
    the macro average honest (it is penalised rather than silently skipped).
    """
    matrix = confusion_matrix(labels, predicted, num_classes).double()
    true_pos = matrix.diagonal()
    predicted_totals, support = matrix.sum(0), matrix.sum(1)

    def ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        return torch.where(den > 0, num / den.clamp(min=1e-300), torch.zeros_like(num))

    precision, recall = ratio(true_pos, predicted_totals), ratio(true_pos, support)
    f1 = ratio(2 * precision * recall, precision + recall)
    table = pd.DataFrame(
        {
            "precision": precision.numpy(),
            "recall": recall.numpy(),
            "f1": f1.numpy(),
            "support": support.long().numpy(),
        }
    )
    table.index.name = "digit"
    return table


def most_confused_pairs(matrix: torch.Tensor, top: int | None = None) -> pd.DataFrame:
    """Off-diagonal cells with at least one error, most frequent first (ties: true, then predicted)."""
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be a square confusion matrix, got {tuple(matrix.shape)}.")
    rows = [
        (t, p, int(matrix[t, p]))
        for t in range(matrix.shape[0])
        for p in range(matrix.shape[1])
        if t != p and int(matrix[t, p]) > 0
    ]
    rows.sort(key=lambda r: (-r[2], r[0], r[1]))
    table = pd.DataFrame(rows[:top] if top is not None else rows,
                         columns=["true", "predicted", "count"])
    return table.astype("int64")


def calibration_bins(
    confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 10
) -> pd.DataFrame:
    """Equal-width confidence bins for a reliability diagram.

    Bin ``i`` holds confidences in ``(i/n, (i+1)/n]`` (the first bin also takes 0). Per bin:
    ``count``, ``mean_confidence`` and ``accuracy``; both are NaN for an empty bin (no data,
    not zero accuracy).
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}.")
    confidence, correct = _check_confidence(confidence), _check_correct(correct)
    _check_same_length(confidence=confidence, correct=correct)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    which = torch.bucketize(confidence, edges[1:-1], right=False)
    counts = torch.bincount(which, minlength=n_bins).double()
    conf_sum = torch.bincount(which, weights=confidence, minlength=n_bins)
    hit_sum = torch.bincount(which, weights=correct.double(), minlength=n_bins)
    nan = torch.full_like(counts, float("nan"))
    return pd.DataFrame(
        {
            "bin_low": edges[:-1].numpy(),
            "bin_high": edges[1:].numpy(),
            "count": counts.long().numpy(),
            "mean_confidence": torch.where(counts > 0, conf_sum / counts.clamp(min=1), nan).numpy(),
            "accuracy": torch.where(counts > 0, hit_sum / counts.clamp(min=1), nan).numpy(),
        }
    )


def expected_calibration_error(
    confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 10
) -> float:
    """ECE = sum over bins of (bin share of examples) x |accuracy - mean confidence|.

    0 means that, bin by bin, the model is right as often as it claims to be.
    """
    bins = calibration_bins(confidence, correct, n_bins)
    filled = bins[bins["count"] > 0]
    total = int(bins["count"].sum())
    if total == 0:
        raise ValueError("No examples: cannot compute a calibration error of an empty set.")
    gaps = (filled["accuracy"] - filled["mean_confidence"]).abs()
    return float((filled["count"] / total * gaps).sum())


def misclassified_examples(
    labels: torch.Tensor, predicted: torch.Tensor, probabilities: torch.Tensor
) -> pd.DataFrame:
    """Every mistake with its index, most confident first (ties: lower index first).

    Columns: ``index`` (into the split), ``true``, ``predicted``, ``confidence`` (probability
    of the predicted class) and ``true_probability`` (what the model gave the right answer).
    """
    if probabilities.dim() != 2:
        raise ValueError(f"probabilities must be [N, classes], got {tuple(probabilities.shape)}.")
    num_classes = probabilities.shape[1]
    labels = _check_labels(labels, "labels", num_classes)
    predicted = _check_labels(predicted, "predicted", num_classes)
    _check_same_length(labels=labels, predicted=predicted, probabilities=probabilities)
    probabilities = probabilities.detach().cpu().double()
    wrong = torch.nonzero(labels != predicted).flatten()
    confidence = probabilities[wrong, predicted[wrong]]
    order = sorted(range(len(wrong)), key=lambda i: (-float(confidence[i]), int(wrong[i])))
    wrong, confidence = wrong[order], confidence[order]
    return pd.DataFrame(
        {
            "index": wrong.numpy().astype("int64"),
            "true": labels[wrong].numpy(),
            "predicted": predicted[wrong].numpy(),
            "confidence": confidence.numpy(),
            "true_probability": probabilities[wrong, labels[wrong]].numpy(),
        }
    )


@dataclass(frozen=True)
class MistakeComparison:
    """Which examples two models get wrong, as sorted index tensors into the split."""

    both_wrong: torch.Tensor
    only_a_wrong: torch.Tensor
    only_b_wrong: torch.Tensor

    def counts(self) -> dict[str, int]:
        return {
            "both wrong": len(self.both_wrong),
            "only A wrong": len(self.only_a_wrong),
            "only B wrong": len(self.only_b_wrong),
        }


def compare_mistakes(correct_a: torch.Tensor, correct_b: torch.Tensor) -> MistakeComparison:
    """Split two models' mistakes on the same examples into shared and model-specific ones."""
    correct_a = _check_correct(correct_a, "correct_a")
    correct_b = _check_correct(correct_b, "correct_b")
    _check_same_length(correct_a=correct_a, correct_b=correct_b)

    def where(mask: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(mask).flatten()

    return MistakeComparison(
        both_wrong=where(~correct_a & ~correct_b),
        only_a_wrong=where(~correct_a & correct_b),
        only_b_wrong=where(correct_a & ~correct_b),
    )


# ---------------------------------------------------------------------------
# Loading any checkpoint for evaluation (ours, or a bare state dict such as mnist_994's).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationModel:
    """A model ready for ``predict``: in eval mode, with the normalisation it was trained with."""

    model: nn.Module
    arch: str
    mean: float
    std: float
    label: str  # short name for tables and plot titles
    info: dict[str, Any]


def checkpoint_normalization(info: dict[str, Any]) -> tuple[float, float]:
    """Our checkpoints record their training mean/std; bare state dicts get the mnist_994 values."""
    stats = (info.get("metadata") or {}).get("normalization")
    if stats:
        return float(stats["mean"]), float(stats["std"])
    return ORIGINAL_NORMALIZATION


def load_evaluation_model(
    path: str | os.PathLike, arch: str | None = None
) -> EvaluationModel:
    """Load a checkpoint (path relative to cwd or repo root) for evaluation on the CPU."""
    resolved = resolve_repo_path(path)
    if not resolved.is_file():
        raise FileNotFoundError(
            f"No checkpoint at {path!r} (looked in the current folder and the repo root). "
            "Train one (notebook 03 / python -m utils.sweep) or pass the path of an existing model.pt."
        )
    model, info = load_model_checkpoint(resolved, arch=arch)
    mean, std = checkpoint_normalization(info)
    # ours: the run folder, unless it just repeats the arch; bare state dicts: the file name
    detail = resolved.parent.name if info.get("metadata") else resolved.name
    label = info["arch"] if detail == info["arch"] else f"{info['arch']} ({detail})"
    return EvaluationModel(model.cpu().eval(), info["arch"], mean, std, label, info)
