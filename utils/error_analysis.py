"""Error analysis: what a model said about a split, confusion, per-class scores, mistakes.

Conventions: ``labels``/``predicted`` are int64 ``[N]``; rows of a confusion matrix are true
classes and columns predicted classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from utils.data import NUM_CLASSES
from utils.evaluate import predict_logits
from utils.stats import AccuracyCI, accuracy_with_ci
from utils.tensor_checks import check_correct, check_labels, check_same_length


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
    labels = check_labels(labels, "labels", logits.shape[1])
    check_same_length(logits=logits, labels=labels)
    logits = logits.detach().cpu().float()
    return Predictions(labels, logits.argmax(1), torch.softmax(logits, dim=1))


def predict(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: float,
    std: float,
    batch_size: int = 1000,
) -> Predictions:
    """Run ``model`` over uint8 images ``[N, 28, 28]`` and keep everything error analysis needs."""
    if images.dim() != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be [N, 28, 28], got shape {tuple(images.shape)}.")
    check_same_length(images=images, labels=labels)
    return predictions_from_logits(
        predict_logits(model, images, mean, std, batch_size), labels
    )


def confusion_matrix(
    labels: torch.Tensor, predicted: torch.Tensor, num_classes: int = NUM_CLASSES
) -> torch.Tensor:
    """Counts ``[C, C]`` (int64): entry ``[t, p]`` is how many class-``t`` images were called ``p``."""
    labels = check_labels(labels, "labels", num_classes)
    predicted = check_labels(predicted, "predicted", num_classes)
    check_same_length(labels=labels, predicted=predicted)
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
    labels = check_labels(labels, "labels", num_classes)
    predicted = check_labels(predicted, "predicted", num_classes)
    check_same_length(labels=labels, predicted=predicted, probabilities=probabilities)
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
    correct_a = check_correct(correct_a, "correct_a")
    correct_b = check_correct(correct_b, "correct_b")
    check_same_length(correct_a=correct_a, correct_b=correct_b)

    def where(mask: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(mask).flatten()

    return MistakeComparison(
        both_wrong=where(~correct_a & ~correct_b),
        only_a_wrong=where(~correct_a & correct_b),
        only_b_wrong=where(correct_a & ~correct_b),
    )


