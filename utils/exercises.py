"""Answer checkers for the notebooks' exercises.

A check says precisely what is wrong (which entry, what was given, and for one wrong entry of
a table what was expected) but never prints the whole answer, so a student can fix one thing
at a time. Every checker raises ``AnswerError`` on a wrong answer and prints one line on a
right one; an unanswered exercise (``None`` or ``...``) gets its own message.

Notebook-specific checkers live below the shared core, one section per notebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .checkers.core import AnswerError  # moved there: one class, whichever module raises it

UNANSWERED = (None, ...)



def require_answer(given: Any, exercise: str) -> None:
    """Fail with a clear message while the exercise still holds its placeholder."""
    if any(given is marker for marker in UNANSWERED):
        raise AnswerError(
            f"{exercise}: no answer yet. Replace the placeholder (None or ...) with your answer "
            "and run the cell again."
        )


def passed(exercise: str, detail: str = "") -> None:
    print(f"{exercise}: correct{' - ' + detail if detail else ''}.")


def _close(given: float, expected: float, rel_tol: float, abs_tol: float) -> bool:
    return math.isclose(float(given), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)


def check_number_quietly(given: Any, expected: float, exercise: str, what: str,
                         rel_tol: float = 0.0, abs_tol: float = 0.0) -> None:
    """:func:`check_number` without the "correct" line, for checkers of several numbers."""
    require_answer(given, exercise)
    if isinstance(given, bool) or not isinstance(given, int | float):
        raise AnswerError(f"{exercise}: {what} should be a number, got {type(given).__name__}.")
    if not _close(given, expected, rel_tol, abs_tol):
        direction = "too large" if given > expected else "too small"
        raise AnswerError(f"{exercise}: {what} = {given!r} is {direction}.")


def check_number(given: Any, expected: float, exercise: str, what: str,
                 rel_tol: float = 0.0, abs_tol: float = 0.0) -> None:
    """One number: says whether the answer is too large or too small, not what it should be."""
    check_number_quietly(given, expected, exercise, what, rel_tol, abs_tol)
    passed(exercise)


def check_choice(given: Any, expected: Any, exercise: str, options: Sequence[Any]) -> None:
    """A multiple-choice answer: names the valid options, never the right one."""
    require_answer(given, exercise)
    if given not in options:
        raise AnswerError(f"{exercise}: {given!r} is not one of the options {list(options)}.")
    if given != expected:
        raise AnswerError(f"{exercise}: {given!r} is not right; reread the question and retry.")
    passed(exercise)


def check_table(given: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]],
                exercise: str, key: str, columns: Sequence[str],
                rel_tol: float = 0.0, abs_tol: float = 0.0) -> None:
    """Rows of numbers (e.g. a receptive-field table), compared row by row, column by column.

    Reports the first wrong cell only (row name, column, given vs expected) and how many
    cells are wrong in all: enough to find the slip, not enough to copy the table.
    """
    require_answer(given, exercise)
    if len(given) != len(expected):
        raise AnswerError(f"{exercise}: {len(given)} rows given, the table has {len(expected)}.")
    wrong: list[str] = []
    for index, (row, want) in enumerate(zip(given, expected, strict=True)):
        name = want.get(key, index)
        for column in columns:
            if column not in row:
                raise AnswerError(f"{exercise}: row {index} ({name}) has no {column!r} entry.")
            value = row[column]
            if any(value is marker for marker in UNANSWERED):
                raise AnswerError(f"{exercise}: row {index} ({name}), {column!r} is not filled in.")
            if not _close(value, want[column], rel_tol, abs_tol):
                wrong.append(f"row {index} ({name}), {column!r}: you gave {value!r}, "
                             f"expected {want[column]!r}")
    if wrong:
        more = f" ({len(wrong) - 1} more wrong entries after it)" if len(wrong) > 1 else ""
        raise AnswerError(f"{exercise}: first wrong entry is {wrong[0]}{more}.")
    passed(exercise, f"all {len(expected)} rows")


# ---- notebook 01: data exploration ----------------------------------------------------------
# Expected answers are computed with the same utils functions the notebook teaches.


def check_normalized_pixel(given: Any, value: int, mean: float, std: float,
                           exercise: str = "Exercise 1") -> None:
    """The network's input for one grey level, to 2 decimals."""
    import torch

    from .data import normalize

    expected = float(normalize(torch.tensor([value], dtype=torch.uint8), mean, std)[0])
    check_number(given, expected, exercise, f"the normalised value of grey level {value}",
                 abs_tol=0.01)


def check_rotated_box(given: Any, side: float, degrees: float,
                      exercise: str = "Exercise 2") -> None:
    """Side of the upright box that holds a ``side x side`` box rotated by ``degrees``."""
    from .digit_stats import rotated_extent

    expected, _ = rotated_extent(side, side, degrees)
    check_number(given, expected, exercise, f"the side after a {degrees:g} degree rotation",
                 abs_tol=0.05)


def check_median_width(given: Any, images: Any, labels: Any, digit: int,
                       exercise: str = "Exercise 3") -> None:
    """Median bounding-box width (px) of one class, from ``utils.digit_stats``."""
    from .digit_stats import bounding_boxes, box_sizes

    _, widths = box_sizes(bounding_boxes(images[labels == digit]))
    expected = float(widths.double().median())
    check_number(given, expected, exercise, f"the median width of the {digit}s", abs_tol=0.5)


NORMALISATION_OPTIONS = ("a", "b", "c")


def check_normalisation_reason(given: Any, exercise: str = "Exercise 4") -> None:
    """Why the mean/std come from the training split only (b: no leak from held-out data)."""
    check_choice(given, "b", exercise, NORMALISATION_OPTIONS)


def check_augment_design(config: Any, val_images: Any, min_all_ink_pct: float = 97.0,
                         min_rotation_deg: float = 5.0, seed: int = 0,
                         exercise: str = "Exercise 6") -> None:
    """Design challenge, scored on the VALIDATION split only: ranges that keep all ink for at
    least ``min_all_ink_pct`` % of digits while still rotating by ``min_rotation_deg``."""
    from .augment import AugmentConfig
    from .digit_stats import ink_kept_summary, ink_kept_under_augmentation

    require_answer(config, exercise)
    if not isinstance(config, AugmentConfig):
        raise AnswerError(f"{exercise}: give an AugmentConfig, got {type(config).__name__}.")
    if config.rotation_deg < min_rotation_deg or config.translate_px <= 0 or config.scale <= 0:
        raise AnswerError(f"{exercise}: keep every kind of augmentation on: rotation at least "
                          f"{min_rotation_deg:g} degrees, shift and scale above 0.")
    kept = ink_kept_summary(ink_kept_under_augmentation(val_images, config, seed))
    share = kept["digits keeping all ink (%)"]
    if share < min_all_ink_pct:
        raise AnswerError(f"{exercise}: {share:.2f}% of validation digits keep all their ink; "
                          f"the target is at least {min_all_ink_pct:g}%.")
    passed(exercise, f"{share:.2f}% of validation digits keep all their ink")


# ---- notebook 02: architecture design -------------------------------------------------------
# Expected answers come from utils.receptive_field (the calculator the notebook checks).

RF_TABLE_COLUMNS = ("size", "jump", "rf", "start")


def rf_table_expected(model_name: str, input_size: int = 28) -> list[dict[str, Any]]:
    """Rows of every conv/pool layer before the GAP: layer name, size, jump, rf, start."""
    from .models import build_model
    from .receptive_field import receptive_field_table, spatial_rows

    rows = spatial_rows(receptive_field_table(build_model(model_name), input_size), True)
    return [{"layer": r.name, "size": r.size, "jump": r.jump, "rf": r.rf, "start": r.start}
            for r in rows if not r.type.startswith("Adaptive")]


def check_rf_table(given: Any, model_name: str = "compact8k", input_size: int = 28,
                   exercise: str = "Exercise 1") -> None:
    """A by-hand receptive-field table, row by row, against the calculator."""
    require_answer(given, exercise)
    check_table(given, rf_table_expected(model_name, input_size), exercise, key="layer",
                columns=RF_TABLE_COLUMNS)


def check_output_size(given: Any, n_in: int, kernel: int, stride: int, padding: int,
                      exercise: str = "Exercise 2") -> None:
    from .receptive_field import output_size

    check_number(given, output_size(n_in, kernel, stride, padding), exercise, "the output size")


def check_conv_bn_params(given: Any, c_in: int, c_out: int, kernel: int,
                         exercise: str = "Exercise 3") -> None:
    """Parameters of a bias-free conv followed by BatchNorm, counted on real modules."""
    from torch import nn

    from .models import count_parameters

    block = nn.Sequential(nn.Conv2d(c_in, c_out, kernel, bias=False), nn.BatchNorm2d(c_out))
    check_number(given, count_parameters(block), exercise, "the parameter count")


def check_costliest_layer(given: Any, model_name: str = "primary19k", input_size: int = 28,
                          exercise: str = "Exercise 4") -> None:
    """Name of the layer with the most multiply-accumulates (options: the conv layers)."""
    from .models import build_model
    from .receptive_field import receptive_field_table

    rows = [r for r in receptive_field_table(build_model(model_name), input_size) if r.macs]
    costliest = max(rows, key=lambda r: r.macs).name
    check_choice(given, costliest, exercise, [r.name for r in rows])


def check_small_design(model: Any, max_params: int = 8_000, min_rf: int = 20,
                       input_size: int = 28, exercise: str = "Exercise 6") -> None:
    """Design challenge, checked on structure only (no training): under ``max_params``
    parameters, ten logits for a batch of images, and a receptive field of at least
    ``min_rf`` px just before the global pool (or the last spatial layer)."""
    import torch
    from torch import nn

    from .models import count_parameters
    from .receptive_field import ReceptiveFieldError, receptive_field_table, spatial_rows

    require_answer(model, exercise)
    if not isinstance(model, nn.Module):
        raise AnswerError(f"{exercise}: give an nn.Module (e.g. nn.Sequential), "
                          f"got {type(model).__name__}.")
    params = count_parameters(model)
    if params >= max_params:
        raise AnswerError(f"{exercise}: {params:,} parameters; the budget is under "
                          f"{max_params:,}.")
    try:
        with torch.no_grad():
            shape = tuple(model.eval()(torch.zeros(2, 1, input_size, input_size)).shape)
        rows = receptive_field_table(model, input_size)
    except (RuntimeError, ReceptiveFieldError) as exc:
        raise AnswerError(f"{exercise}: the model does not run on [2, 1, {input_size}, "
                          f"{input_size}] images as a plain chain of layers: {exc}") from exc
    if shape != (2, 10):
        raise AnswerError(f"{exercise}: output shape {shape}; expected (2, 10): ten logits.")
    layers = [r for r in spatial_rows(rows, True) if not r.type.startswith("Adaptive")]
    rf = layers[-1].rf if layers else 1
    if rf < min_rf:
        raise AnswerError(f"{exercise}: the receptive field before the global pool is {rf} px; "
                          f"it should be at least {min_rf} px.")
    passed(exercise, f"{params:,} parameters, receptive field {rf} px before the pool")


# ---- notebook 03: training ------------------------------------------------------------------
# Expected answers come from utils.train (the engine the notebook runs), never from a constant.


def check_steps(given_per_epoch: Any, given_total: Any, n_images: int, batch_size: int,
                epochs: int, exercise: str = "Exercise 03.1") -> None:
    """Optimiser steps per epoch (the last batch may be smaller) and over the whole run."""
    from .train import TrainConfig, steps_per_epoch

    require_answer(given_per_epoch, exercise)
    require_answer(given_total, exercise)
    per_epoch = steps_per_epoch(TrainConfig(batch_size=batch_size, epochs=epochs), n_images)
    check_number_quietly(given_per_epoch, per_epoch, exercise, "the steps per epoch")
    check_number_quietly(given_total, per_epoch * epochs, exercise,
                         f"the steps of the {epochs}-epoch run")
    passed(exercise)


def check_lr_at_step(given: Any, step: int, epochs: int = 15, steps_per_epoch: int = 430,
                     peak_lr: float = 0.1, pct_start: float = 0.2,
                     exercise: str = "Exercise 03.2") -> None:
    """The OneCycle learning rate of one optimiser step, to 0.1% (``learning_rate_at``)."""
    from .train import TrainConfig, learning_rate_at

    config = TrainConfig(epochs=epochs, lr=peak_lr, pct_start=pct_start)
    expected = learning_rate_at(config, step, steps_per_epoch)
    check_number(given, expected, exercise, f"the learning rate at step {step}", rel_tol=1e-3)


def label_smoothing_floor(label_smoothing: float, classes: int = 10) -> float:
    """The smallest label-smoothed cross-entropy any logits can reach: the target's entropy,
    computed by torch's own loss at the optimal logits (the log of the target)."""
    import torch
    import torch.nn.functional as F

    target = torch.full((1, classes), label_smoothing / classes, dtype=torch.float64)
    target[0, 0] += 1 - label_smoothing
    return float(F.cross_entropy(target.log(), torch.tensor([0]), label_smoothing=label_smoothing))


def check_smoothing_floor(given: Any, label_smoothing: float, classes: int = 10,
                          exercise: str = "Exercise 03.3") -> None:
    check_number(given, label_smoothing_floor(label_smoothing, classes), exercise,
                 f"the loss floor at label_smoothing={label_smoothing:g}", abs_tol=5e-4)


def check_steps_above(given: Any, fraction: float = 0.5, epochs: int = 15,
                      steps_per_epoch: int = 430, exercise: str = "Exercise 03.4") -> None:
    """How many steps of the OneCycle schedule run at ``fraction`` of the peak or more."""
    from .train import TrainConfig, lr_schedule

    config = TrainConfig(epochs=epochs)
    expected = sum(lr >= fraction * config.lr for lr in lr_schedule(config, steps_per_epoch))
    check_number(given, expected, exercise, f"the number of steps at >= {fraction:g} x peak")


def check_one_epoch_design(result: Any, val_images: Any, val_labels: Any,
                           min_val_acc: float = 0.90, arch: str = "primary19k",
                           train_subset: int = 2048, exercise: str = "Exercise 03.5") -> None:
    """Design challenge, scored on the VALIDATION split only: a ``fit`` result of ``arch``
    trained for one epoch on the ``train_subset`` images that reaches ``min_val_acc``."""
    from .evaluate import loss_and_accuracy
    from .train import FitResult

    require_answer(result, exercise)
    if not isinstance(result, FitResult):
        raise AnswerError(f"{exercise}: give the result of fit(...), got {type(result).__name__}.")
    config = result.config
    budget = {"arch": arch, "epochs": 1, "train_subset": train_subset}
    broken = [f"{name}={getattr(config, name)!r} (the budget is {value!r})"
              for name, value in budget.items() if getattr(config, name) != value]
    if config.teacher:
        broken.append("a teacher (no distillation here)")
    if broken:
        raise AnswerError(f"{exercise}: keep the budget: {'; '.join(broken)}.")
    _, accuracy = loss_and_accuracy(result.model, val_images, val_labels, *result.normalization)
    if accuracy < min_val_acc:
        raise AnswerError(f"{exercise}: {100 * accuracy:.2f}% on validation; the target is at "
                          f"least {100 * min_val_acc:g}%.")
    passed(exercise, f"{100 * accuracy:.2f}% on validation")


FIT_EXTRAS_OPTIONS = ("a", "b", "c", "d")


def check_fit_extra(given: Any, exercise: str = "Exercise 03.6") -> None:
    """What fit adds to the live loop (c: last.pt with the random-number state each epoch)."""
    check_choice(given, "c", exercise, FIT_EXTRAS_OPTIONS)


# ---- notebook 04: error analysis ------------------------------------------------------------
# Expected answers come from utils.stats / utils.errors, computed on the data the notebook holds.


def check_mcnemar_p(given: Any, b: int, c: int, exercise: str = "Exercise 04.1") -> None:
    """The two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs, to 0.001."""
    from .stats import mcnemar_exact

    check_number(given, mcnemar_exact(b, c).p_value, exercise,
                 f"the p-value for b={b}, c={c}", abs_tol=1e-3)


def check_half_width(given: Any, accuracy: float, total: int, z: float = 1.959964,
                     exercise: str = "Exercise 04.2") -> None:
    """Half-width, in percentage points, of the normal-approximation 95% interval."""
    expected = 100 * z * math.sqrt(accuracy * (1 - accuracy) / total)
    check_number(given, expected, exercise,
                 f"the half-width at {100 * accuracy:g}% on {total:,} images (in points)",
                 abs_tol=0.005)


def check_lowest_recall(given: Any, labels: Any, predicted: Any,
                        exercise: str = "Exercise 04.3") -> None:
    """The digit with the lowest recall (any of them, if several tie)."""
    from .errors import per_class_metrics

    require_answer(given, exercise)
    metrics = per_class_metrics(labels, predicted)
    recall = metrics.loc[metrics["support"] > 0, "recall"]  # digits that occur
    options = [int(d) for d in recall.index]
    if isinstance(given, bool) or given not in options:
        raise AnswerError(f"{exercise}: {given!r} is not one of the digits {options}.")
    if recall[given] != recall.min():
        raise AnswerError(f"{exercise}: digit {given} is not the one with the lowest recall; "
                          "look at the diagonal of the row-normalised matrix again.")
    passed(exercise)


def abstention_coverage(confidence: Any, correct: Any, threshold: float) -> tuple[float, float]:
    """(share of images answered, accuracy on them) when answering only above ``threshold``."""
    answered = confidence > threshold
    n = int(answered.sum())
    accuracy = float(correct[answered].double().mean()) if n else 1.0
    return n / len(confidence), accuracy


def best_coverage(confidence: Any, correct: Any, min_accuracy: float) -> float:
    """The largest share of images a threshold can answer at ``min_accuracy`` or better."""
    import torch

    order = torch.argsort(confidence, descending=True, stable=True)
    conf, hits = confidence[order].double(), correct[order].double()
    answered = torch.arange(1, len(conf) + 1, dtype=torch.float64)
    accuracy = hits.cumsum(0) / answered
    # a threshold can only stop where the next confidence is strictly lower (or at the end)
    cut = torch.ones(len(conf), dtype=torch.bool)
    cut[:-1] = conf[1:] < conf[:-1]
    ok = cut & (accuracy >= min_accuracy)
    return float(answered[ok].max()) / len(conf) if bool(ok.any()) else 0.0


def check_abstention_threshold(threshold: Any, confidence: Any, correct: Any,
                               min_accuracy: float = 0.999, slack_pp: float = 1.0,
                               exercise: str = "Exercise 04.5") -> None:
    """Design challenge, scored on the VALIDATION split only: answer only when the confidence
    is above ``threshold``; the answered images must reach ``min_accuracy``, while answering
    within ``slack_pp`` points of the largest share any threshold achieves."""
    require_answer(threshold, exercise)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or \
            not 0 <= threshold < 1:
        raise AnswerError(f"{exercise}: give a threshold in [0, 1), got {threshold!r}.")
    coverage, accuracy = abstention_coverage(confidence, correct, threshold)
    if accuracy < min_accuracy:
        raise AnswerError(f"{exercise}: above {threshold:g} the model answers "
                          f"{100 * coverage:.2f}% of validation images at {100 * accuracy:.3f}%; "
                          f"the target is at least {100 * min_accuracy:g}%.")
    gap = 100 * (best_coverage(confidence, correct, min_accuracy) - coverage)
    if gap > slack_pp:
        raise AnswerError(f"{exercise}: accurate enough, but it answers only "
                          f"{100 * coverage:.2f}% of validation images; a lower threshold "
                          f"answers {gap:.2f} points more at the same accuracy target.")
    passed(exercise, f"answers {100 * coverage:.2f}% of validation images at "
                     f"{100 * accuracy:.3f}%")


def check_temperature(given: Any, logits: Any, labels: Any,
                      exercise: str = "Exercise 04.6") -> None:
    """The temperature fitted on these (validation) logits, to 1%."""
    from .stats import fit_temperature

    check_number(given, fit_temperature(logits, labels), exercise, "the temperature",
                 rel_tol=0.01)


# ---- notebook 05: ablations -------------------------------------------------------------------
def check_paired_t(given: Any, diffs: Sequence[float]) -> None:
    """05.1 (by hand): the paired t statistic of per-seed differences."""
    from .stats import paired_t_statistic

    if len(diffs) < 2:
        raise ValueError("A paired t statistic needs at least two differences.")
    check_number(given, paired_t_statistic(diffs), "Exercise 05.1", "the paired t statistic",
                 abs_tol=0.05)


def check_speedup(given: Any, rows: Sequence[Mapping[str, Any]], slow: str, fast: str) -> None:
    """05.2: how many times faster (mean training seconds per run) ``fast`` was than ``slow``."""
    def mean_seconds(variant: str) -> float:
        seconds = [r["train_seconds"] for r in rows if r["variant"] == variant]
        if not seconds:
            raise ValueError(f"No finished runs of {variant!r} in the table.")
        return sum(seconds) / len(seconds)

    check_number(given, mean_seconds(slow) / mean_seconds(fast), "Exercise 05.2",
                 f"the speed-up of {fast} over {slow}", rel_tol=0.02)


def check_seed_mcnemar(given: Any, runs_root: Any, variant: str, seed: int, seeds: Sequence[int],
                       val_labels: Any) -> None:
    """05.3: the exact McNemar p-value of two fixed networks (the control and ``variant`` of
    one ``seed``) on the same validation images. Pooling the discordant images of all
    ``seeds`` is the common slip: it counts images several times and tests no recipe."""
    from .ablations import discordant_images
    from .stats import mcnemar_exact

    require_answer(given, "Exercise 05.3")
    counts = {s: [len(i) for i in discordant_images(runs_root, variant, s, val_labels)]
              for s in seeds}
    expected = mcnemar_exact(*counts[seed]).p_value
    pooled = mcnemar_exact(*[sum(c[k] for c in counts.values()) for k in (0, 1)]).p_value
    if isinstance(given, int | float) and not isinstance(given, bool) and not math.isclose(
            expected, pooled, rel_tol=1e-6) and math.isclose(float(given), pooled, rel_tol=1e-6):
        raise AnswerError("Exercise 05.3: that p-value pools the discordant images of all "
                          "seeds; count them for the one seed asked: two fixed networks.")
    check_number(given, expected, "Exercise 05.3", f"the McNemar p-value of seed {seed}",
                 rel_tol=1e-6, abs_tol=1e-12)


def seeds_formula(sd: float, effect: float, square: bool = True, power_term: bool = True) -> float:
    """((1.96 + 0.84) * sd / effect)**2 and the two usual slips (no square, no power term)."""
    z = 1.959964 + (0.841621 if power_term else 0.0)
    ratio = z * sd / effect
    return ratio * ratio if square else ratio


def check_seeds_needed(given: Any, diff_groups: Sequence[Sequence[float]], effect: float,
                       accuracy_groups: Sequence[Sequence[float]],
                       exercise: str = "Exercise 05.7") -> None:
    """05.7: seeds needed to detect a true mean difference of ``effect`` points with 80% power
    at 5% (normal formula, rounded up), from the SD of paired differences pooled over
    ``diff_groups``. Names the usual slip (the SD of accuracies, no square, no power term, not
    rounded up) without printing the expected count."""
    from .stats import pooled_sd

    require_answer(given, exercise)
    if isinstance(given, bool) or not isinstance(given, int):
        raise AnswerError(f"{exercise}: give a whole number of seeds (an int, rounded up: "
                          f"a run is all or nothing), got {given!r}.")
    sd = pooled_sd(diff_groups)
    exact = seeds_formula(sd, effect)
    if given == math.ceil(exact):
        passed(exercise)
        return
    slips = [
        (math.ceil(seeds_formula(pooled_sd(accuracy_groups), effect)),
         "uses the seed-to-seed SD of the accuracies; the paired test works on the "
         "differences (variant − control on the same seed), whose SD is what matters"),
        (math.ceil(seeds_formula(sd, effect, square=False)),
         "looks like (z-sum · sd / effect) without the square: n grows with its square"),
        (math.ceil(seeds_formula(sd, effect, power_term=False)),
         "leaves out the power term (0.84 for 80%): that n detects the effect only about "
         "half of the time"),
        (math.floor(exact), "is rounded down: round up, or the design falls short of 80%"),
    ]
    matching = [why for value, why in slips if value == given]
    if matching:
        raise AnswerError(f"{exercise}: {given} {'; or it '.join(matching)}.")
    raise AnswerError(f"{exercise}: {given} seeds is too {'many' if given > exact else 'few'}.")


def check_peak_lr_choice(given: Any, rows: Sequence[Mapping[str, Any]],
                         candidates: Mapping[str, float], tolerance: float = 0.05) -> None:
    """05.4 (design, validation only): a peak LR whose mean validation accuracy is within
    ``tolerance`` points of the best candidate's."""
    require_answer(given, "Exercise 05.4")
    means = {}
    for variant, lr in candidates.items():
        accs = [100 * r["val_acc"] for r in rows if r["variant"] == variant]
        if accs:
            means[lr] = sum(accs) / len(accs)
    if isinstance(given, bool) or given not in means:
        raise AnswerError(f"Exercise 05.4: choose one of the measured peak LRs "
                          f"{sorted(means)}, got {given!r}.")
    gap = max(means.values()) - means[given]
    if gap > tolerance:
        raise AnswerError(f"Exercise 05.4: peak LR {given} reaches {means[given]:.2f}% mean "
                          f"validation accuracy; another candidate does {gap:.2f} points better.")
    passed("Exercise 05.4", f"{means[given]:.2f}% mean validation accuracy")


# ---- notebook 06: look inside the trained model
def check_cam_cell_field(given: Any, arch: str = "primary19k") -> None:
    """06.1: the receptive field (pixels) of one cell of the map a CAM is made of."""
    from .inspect import gap_input_geometry
    from .models import build_model

    expected = gap_input_geometry(build_model(arch)).rf
    check_number(given, expected, "Exercise 06.1", f"the receptive field of one {arch} CAM cell")


def check_most_robust(given: Any, curves: Any, transform: str, level: float) -> None:
    """06.2: which model is most accurate at one level of a transform (from the curves)."""
    rows = curves[(curves["transform"] == transform) & (curves["level"] == level)]
    if rows.empty:
        raise ValueError(f"The curves have no {transform} level {level}.")
    expected = rows.sort_values(["accuracy", "model"], ascending=[False, True]).iloc[0]["model"]
    check_choice(given, expected, "Exercise 06.2", options=sorted(rows["model"]))


def check_breaking_point(given: Any, curves: Any, model: str, transform: str,
                         threshold: float) -> None:
    """06.3: where a model first falls below an accuracy threshold (``None`` is a valid
    answer there, so the placeholder is ``...`` only)."""
    from .robustness import breaking_point

    if given is ...:
        require_answer(given, "Exercise 06.3")
    expected = breaking_point(curves, model, transform, threshold)
    if expected is None or given is None:
        if given is not expected:
            raise AnswerError(f"Exercise 06.3: {given!r} is not right; check every level.")
        passed("Exercise 06.3")
        return
    check_number(given, expected, "Exercise 06.3", f"the {transform} level", abs_tol=1e-9)


def check_topk_overlap(given: Any, map_a: Any, map_b: Any, k: int) -> None:
    """06.4: the top-k overlap of two attribution maps, computed with utils.inspect."""
    from .inspect import topk_overlap

    check_number(given, topk_overlap(map_a, map_b, k), "Exercise 06.4",
                 f"the top-{k} overlap", abs_tol=1e-9)


def check_thickness_repair(given: Any, model: Any, images: Any, labels: Any, damage: int,
                           candidates: Sequence[int]) -> dict[int, float]:
    """06.5 (design, on validation only): after thickening the strokes by ``damage`` steps,
    which repair (erosion < 0, dilation > 0, in ``candidates``) should run before the model?
    Passes within 0.2 points of the best candidate's validation accuracy; returns them all."""
    from .robustness import pipeline_accuracy

    require_answer(given, "Exercise 06.5")
    if isinstance(given, bool) or not isinstance(given, int) or given not in candidates:
        raise AnswerError(f"Exercise 06.5: choose a whole number of steps from "
                          f"{list(candidates)}, got {given!r}.")
    accuracies = {k: pipeline_accuracy(model, images, labels, [("thickness", damage),
                                                                ("thickness", k)])
                  for k in candidates}
    gap = 100 * (max(accuracies.values()) - accuracies[given])
    if gap > 0.2:
        raise AnswerError(f"Exercise 06.5: {given} steps reach {100 * accuracies[given]:.2f}% on "
                          f"validation; another choice does {gap:.2f} points better.")
    passed("Exercise 06.5", f"{100 * accuracies[given]:.2f}% on validation")
    return accuracies


# ---- notebook 07: how small can it go
# Expected answers come from the registry's building blocks, the receptive-field calculator and
# the committed runs' validation accuracies (never their test accuracies).


def check_separable_params(given: Any, c_in: int = 22, c_out: int = 22) -> None:
    """07.1: parameters of one separable block (depthwise 3x3, pointwise 1x1, BatchNorm),
    counted on the real modules."""
    from torch import nn

    from .models import count_parameters, separable_bn_relu

    expected = count_parameters(nn.Sequential(*separable_bn_relu(c_in, c_out)))
    check_number(given, expected, "Exercise 07.1",
                 f"the parameters of a {c_in}->{c_out} separable block")


def rf_without_second_pool(arch: str = "sep4k") -> int:
    """Receptive field (px) before the GAP of a separable design whose second max-pool is
    removed, everything else unchanged (what exercise 07.2 asks)."""
    from torch import nn

    from .models import GapNet, build_model
    from .receptive_field import receptive_field_table, spatial_rows

    model = build_model(arch)
    layers = list(model.features)
    pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
    if len(pools) < 2:
        raise ValueError(f"{arch} has fewer than two max-pools.")
    del layers[pools[1]]
    changed = GapNet(layers, model.classifier.in_features, "without the second pool")
    rows = [r for r in spatial_rows(receptive_field_table(changed), True)
            if not r.type.startswith("Adaptive")]
    return rows[-1].rf


def check_rf_without_second_pool(given: Any, arch: str = "sep4k") -> None:
    """07.2: the receptive field before the GAP without the second pool."""
    check_number(given, rf_without_second_pool(arch), "Exercise 07.2",
                 f"the receptive field of {arch} without its second pool")


def _mean_val_difference(a: str, b: str, runs_root: Any) -> float:
    from .frontier import DEFAULT_RUNS_ROOT, per_seed_differences

    rows = per_seed_differences(a, b, DEFAULT_RUNS_ROOT if runs_root is None else runs_root)
    return sum(r["difference"] for r in rows) / len(rows)


LEVERS = ("distillation", "separable design")


def check_bigger_lever(given: Any, model: str = "sep2k", old: str = "micro2k",
                       runs_root: Any = None) -> dict[str, float]:
    """07.3 (predict, then run): which lever bought more validation accuracy at one budget:
    distillation (``<model>-kd`` minus ``<model>-e20``) or the separable design
    (``<model>-kd`` minus ``<old>-kd``: same recipe, same device)? Returns both gains."""
    gains = {"distillation": _mean_val_difference(f"{model}-kd", f"{model}-e20", runs_root),
             "separable design": _mean_val_difference(f"{model}-kd", f"{old}-kd", runs_root)}
    check_choice(given, max(gains, key=gains.get), "Exercise 07.3", LEVERS)
    return gains


def check_kd_gain(given: Any, model: str = "sep8k", runs_root: Any = None) -> None:
    """07.4: the mean over seeds of (kd - e20) validation accuracy, in points."""
    check_number(given, _mean_val_difference(f"{model}-kd", f"{model}-e20", runs_root),
                 "Exercise 07.4", f"the mean validation gain of distillation for {model}",
                 abs_tol=0.005)


def check_tiny_design(model: Any, max_params: int = 1_000, min_rf: int = 28) -> None:
    """07.5 (design): under ``max_params`` parameters, ten logits, a receptive field of at
    least ``min_rf`` px before the global pool; checked on structure (its training, if any,
    is judged on validation in the notebook)."""
    check_small_design(model, max_params=max_params, min_rf=min_rf, exercise="Exercise 07.5")


def check_shipping_choice(given: Any, rows: Sequence[Mapping[str, Any]],
                          budget: int = 4_000) -> None:
    """07.6 (design, validation only): the run to ship under ``budget`` parameters, by name.
    Right when no run under the budget has a higher mean validation accuracy; the check reads
    ``val_mean`` and never the test columns."""
    require_answer(given, "Exercise 07.6")
    by_name = {row["arch"]: row for row in rows}
    if given not in by_name:
        raise AnswerError(f"Exercise 07.6: {given!r} is not a run of the table; give one of "
                          "its `arch` names, e.g. 'tiny4k' or 'sep4k-kd'.")
    if by_name[given]["params"] >= budget:
        raise AnswerError(f"Exercise 07.6: {given} has {by_name[given]['params']:,} parameters; "
                          f"the budget is under {budget:,}.")
    best = max(row["val_mean"] for row in rows if row["params"] < budget)
    if by_name[given]["val_mean"] < best - 1e-9:
        raise AnswerError(f"Exercise 07.6: {given} is not the best run under {budget:,} "
                          "parameters on validation; compare the val_mean column again.")
    passed("Exercise 07.6", f"{given}, {by_name[given]['val_mean']:.2f}% on validation")
