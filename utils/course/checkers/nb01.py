"""Notebook 01 (data exploration): references from the training split and ``utils``."""

from __future__ import annotations

import math
from typing import Any

import torch

from utils.augment import AugmentConfig
from utils.course.checkers import reference
from utils.course.checkers.core import (
    check_choice,
    check_number,
    passed,
    register,
    require_answer,
    require_number,
    wrong,
)
from utils.data import normalize
from utils.digit_stats import (
    bounding_boxes,
    box_sizes,
    ink_kept_summary,
    ink_kept_under_augmentation,
    rotated_extent,
)

GREY_LEVEL = 128
# Three decimals: 128/256 instead of 128/255 moves the answer by 0.0064, and the 4-decimal
# constants printed in the notebook by less than 0.0005.
NORMALISED_TOL = 0.002


def normalised_grey(level: int, mean: float, std: float, scale: float = 255.0) -> float:
    """What the network sees for one grey level (``scale`` 256 is the usual slip)."""
    if scale == 255.0:
        return float(normalize(torch.tensor([level], dtype=torch.uint8), mean, std)[0])
    return (level / scale - mean) / std


@register("01.1")
def normalised_pixel(given: Any, mnist_root: Any = None) -> None:
    """Grey level 128 after normalisation with the training split's mean and std."""
    mean, std = reference.train_normalization(mnist_root)
    value = require_number(given, "01.1", "the normalised value")
    slips = [
        (normalised_grey(GREY_LEVEL, mean, std, 256.0),
         "that divides by 256; pixels go from 0 to 255, so 255 maps to 1.0."),
        ((GREY_LEVEL - mean) / std, "the grey level was not scaled to [0, 1] first."),
        (GREY_LEVEL / 255 - mean, "the mean is subtracted but the result is not divided by "
                                  "the standard deviation."),
        ((GREY_LEVEL / 255 - mean) * std, "that multiplies by the standard deviation; "
                                          "normalising divides by it."),
    ]
    check_number(value, normalised_grey(GREY_LEVEL, mean, std), "01.1",
                 f"the normalised value of grey level {GREY_LEVEL}", abs_tol=NORMALISED_TOL,
                 slips=slips, slip_abs_tol=NORMALISED_TOL / 2)


@register("01.2")
def rotated_box(given: Any) -> None:
    """Side of the upright box holding a 20 x 20 box rotated by 45 degrees, to 2 decimals."""
    expected, _ = rotated_extent(20, 20, 45)
    value = require_number(given, "01.2", "the side")
    slips = [
        (rotated_extent(20, 20, 10)[0], "that is the 10° frame of section 7; the question "
                                        "asks about 45°."),
        (20 * (abs(math.cos(45)) + abs(math.sin(45))),
         "that takes 45 as radians; math.cos and math.sin want radians (math.radians(45))."),
    ]
    check_number(value, expected, "01.2", "the side after a 45° rotation", abs_tol=0.02,
                 slips=slips)


def mean_width(images: torch.Tensor, labels: torch.Tensor, digit: int | None,
               column: int = 1) -> float:
    """Mean bounding-box width (``column`` 1) or height (0) of one digit (None: all)."""
    chosen = images if digit is None else images[labels == digit]
    sizes = box_sizes(bounding_boxes(chosen))
    return float(sizes[column].double().mean())


@register("01.4")
def mean_width_of_ones(given: Any, mnist_root: Any = None) -> None:
    """Mean bounding-box width of the training 1s, to 2 decimals (train, not val or test)."""
    data = reference.splits(mnist_root)
    value = require_number(given, "01.4", "the mean width")
    train = (data.train_images, data.train_labels)
    slips = [
        (mean_width(data.val_images, data.val_labels, 1), "that is the validation split; the "
                                                          "question asks about the training "
                                                          "digits."),
        (mean_width(data.test_images, data.test_labels, 1), "that is the test split; the "
                                                            "question asks about the training "
                                                            "digits."),
        (mean_width(*train, None), "that averages every training digit, not only the 1s."),
        (mean_width(*train, 1, column=0), "that is the height of the 1s, not their width."),
    ]
    check_number(value, mean_width(*train, 1), "01.4", "the mean width of the training 1s",
                 abs_tol=0.006, slips=slips)


NORMALISATION_DIGEST = "e3aa790f79a9c70fcfbcb250e7f3ebd72bb5ad74f266a2b4bd3f9dfc0045a539"


@register("01.5")
def normalisation_reason(given: Any) -> None:
    """Why the mean and std come from the training split only (multiple choice)."""
    check_choice(given, "01.5", ("a", "b", "c"), NORMALISATION_DIGEST)


MIN_ALL_INK_PCT = 97.0
MIN_ROTATION_DEG = 5.0


@register("01.6")
def augment_design(config: Any, seed: int = 0, mnist_root: Any = None) -> None:
    """Design challenge on the validation split: ranges that keep all the ink of at least 97%
    of the digits while rotating by 5° or more and shifting and scaling by more than zero."""
    require_answer(config, "01.6")
    if not isinstance(config, AugmentConfig):
        raise wrong("01.6", f"give an AugmentConfig, got {type(config).__name__}.")
    if (config.rotation_deg < MIN_ROTATION_DEG or config.translate_px <= 0
            or config.scale <= 0):
        raise wrong("01.6", f"keep every kind of augmentation on: rotation at least "
                            f"{MIN_ROTATION_DEG:g} degrees, shift and scale above 0.")
    images = reference.splits(mnist_root).val_images
    kept = ink_kept_summary(ink_kept_under_augmentation(images, config, seed))
    share = kept["digits keeping all ink (%)"]
    if share < MIN_ALL_INK_PCT:
        raise wrong("01.6", f"{share:.2f}% of validation digits keep all their ink; the target "
                            f"is at least {MIN_ALL_INK_PCT:g}%.")
    passed("01.6", f"{share:.2f}% of validation digits keep all their ink")
