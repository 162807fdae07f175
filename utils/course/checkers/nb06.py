"""Notebook 06 (inside the model): references from the shipped checkpoint, the committed
robustness curves and ``utils.interpretation`` / ``utils.experiments.robustness``."""

from __future__ import annotations

from typing import Any

from utils.course.checkers import reference
from utils.course.checkers.core import (
    check_computed_choice,
    check_number,
    passed,
    register,
    require_answer,
    require_int,
    require_number,
    wrong,
)
from utils.course.checkers.designs import rf_without_pool
from utils.data import normalize
from utils.error_analysis import misclassified_examples
from utils.experiments.robustness import breaking_point, pipeline_accuracy
from utils.interpretation import attribution_maps, gap_input_geometry, topk_overlap
from utils.models import build_model

CAM_ARCH = "primary19k"


@register("06.1")
def cam_cell_field_without_pool(given: Any) -> None:
    """Receptive field of one CAM cell if primary19k had no max-pool (the printed 22 px is
    with it)."""
    model = build_model(CAM_ARCH)
    expected = rf_without_pool(model, 0)
    value = require_int(given, "06.1", "the receptive field")
    slips = [(gap_input_geometry(model).rf, "that is the field with the max-pool, printed in "
                                            "section 1; the question removes it.")]
    check_number(value, expected, "06.1", "the receptive field without the pool", slips=slips)


ROBUST_TRANSFORM, ROBUST_LEVEL = "shift", 5.0  # 4 and 6 px are printed; 5 px is not


@register("06.2")
def most_robust(given: Any, robustness_csv: Any = None) -> None:
    """Which model is the most accurate on test digits shifted by 5 px (from the curves)."""
    curves = reference.robustness_curves(robustness_csv)
    rows = curves[(curves["transform"] == ROBUST_TRANSFORM) & (curves["level"] == ROBUST_LEVEL)]
    if rows.empty:
        raise ValueError(f"The curves have no {ROBUST_TRANSFORM} level {ROBUST_LEVEL:g}.")
    expected = rows.sort_values(["accuracy", "model"], ascending=[False, True]).iloc[0]["model"]
    check_computed_choice(given, expected, "06.2", options=sorted(rows["model"]))


BREAK_MODEL, BREAK_TRANSFORM, BREAK_THRESHOLD = "primary19k-noaug", "rotation", 0.98


@register("06.3")
def breaking_level(given: Any, robustness_csv: Any = None) -> None:
    """Where primary19k-noaug first falls below 98% under rotation (``None`` if it never does,
    so the placeholder is ``...`` only)."""
    if given is ...:
        require_answer(given, "06.3")
    curves = reference.robustness_curves(robustness_csv)
    expected = breaking_point(curves, BREAK_MODEL, BREAK_TRANSFORM, BREAK_THRESHOLD)
    if expected is None or given is None:
        if given is not expected:
            raise wrong("06.3", f"{given!r} is not right; check every level.")
        passed("06.3")
        return
    value = require_number(given, "06.3", "the level")
    slips = [(breaking_point(curves, BREAK_MODEL, BREAK_TRANSFORM, t),
              f"that is where it falls below {100 * t:g}%, printed in section 5; the question "
              f"asks about {100 * BREAK_THRESHOLD:g}%.") for t in (0.99, 0.95)]
    slips.append((-expected, "the nearer side is the other one: check both directions."))
    check_number(value, expected, "06.3", f"the {BREAK_TRANSFORM} level", abs_tol=1e-9,
                 slips=[(s, why) for s, why in slips if s is not None])


TOPK = 10


def mistake_maps(arch: str = CAM_ARCH, mnist_root: Any = None) -> dict[str, Any]:
    """Saliency and integrated gradients of the most confident validation mistake of the
    shipped ``arch``, computed as section 3 computes them."""
    net = reference.shipped_model(arch)
    data = reference.splits(mnist_root)
    logits = reference.val_logits(arch, mnist_root)
    probabilities = logits.softmax(1)
    predicted = logits.argmax(1)
    index = int(misclassified_examples(data.val_labels, predicted, probabilities)["index"].iloc[0])
    blank = (0.0 - net.mean) / net.std
    x = normalize(data.val_images[index : index + 1], net.mean, net.std)
    return attribution_maps(net.model, x, predicted[index : index + 1], baseline=blank,
                            methods=("saliency", "integrated_gradients"))


@register("06.4")
def top10_overlap(given: Any, mnist_root: Any = None) -> None:
    """Top-10 overlap of saliency and integrated gradients for the most confident mistake."""
    maps = mistake_maps(mnist_root=mnist_root)
    a, b = maps["saliency"][0], maps["integrated_gradients"][0]
    value = require_number(given, "06.4", "the overlap")
    slips = [(topk_overlap(a, b, 50), "that is the top-50 overlap; the question asks for the "
                                      "top 10."),
             (topk_overlap(a, b, TOPK) * TOPK, "give the share of the 10 pixels (0 to 1), not "
                                               "their count.")]
    check_number(value, topk_overlap(a, b, TOPK), "06.4", f"the top-{TOPK} overlap",
                 abs_tol=1e-9, slips=slips)


DAMAGE, CANDIDATES, REPAIR_IMAGES, REPAIR_SLACK_PP = 2, range(-3, 2), 1_000, 0.2


@register("06.5")
def thickness_repair(given: Any, mnist_root: Any = None) -> dict[int, float]:
    """Design challenge on the first 1,000 validation digits: the repair (thickness steps in
    −3..1) to run before the model after strokes thickened by two steps. Passes within 0.2
    points of the best candidate; returns every candidate's accuracy."""
    require_answer(given, "06.5")
    if isinstance(given, bool) or not isinstance(given, int) or given not in CANDIDATES:
        raise wrong("06.5", f"choose a whole number of steps from {list(CANDIDATES)}, "
                            f"got {given!r}.")
    net = reference.shipped_model(CAM_ARCH)
    data = reference.splits(mnist_root)
    images, labels = data.val_images[:REPAIR_IMAGES], data.val_labels[:REPAIR_IMAGES]
    accuracies = {k: pipeline_accuracy(net, images, labels, [("thickness", DAMAGE),
                                                             ("thickness", k)])
                  for k in CANDIDATES}
    gap = 100 * (max(accuracies.values()) - accuracies[given])
    if gap > REPAIR_SLACK_PP:
        raise wrong("06.5", f"{given} steps reach {100 * accuracies[given]:.2f}% on validation; "
                            f"another choice does {gap:.2f} points better.")
    passed("06.5", f"{100 * accuracies[given]:.2f}% on validation")
    return accuracies
