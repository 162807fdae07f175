"""Statistics of a classifier's answers: accuracy intervals, paired comparisons, calibration.

Every function takes plain counts or tensors and returns numbers or small tables, so the
notebooks can show the arithmetic and the tests can check it against hand-computed cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from .tensor_checks import check_confidence, check_correct, check_same_length


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
    confidence, correct = check_confidence(confidence), check_correct(correct)
    check_same_length(confidence=confidence, correct=correct)
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
