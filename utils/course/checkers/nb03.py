"""Notebook 03 (training): references from ``utils.train``, the engine the notebook runs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from utils.course.checkers import reference
from utils.course.checkers.core import (
    check_choice,
    check_number,
    check_number_quietly,
    passed,
    register,
    require_answer,
    require_int,
    wrong,
)
from utils.evaluate import loss_and_accuracy
from utils.models import build_model
from utils.recipe import TrainConfig, learning_rate_at, lr_schedule, make_optimizer, steps_per_epoch
from utils.train import FitResult, NumericPath, training_step

TRAIN_IMAGES, BATCH, EPOCHS = 55_000, 256, 15
SHIPPED_STEPS_PER_EPOCH = 430  # batch 128 on 55,000 images: printed in the notebook


@register("03.1")
def steps(given: Any) -> None:
    """Optimiser steps per epoch and over 15 epochs, as a pair ``(per_epoch, total)``."""
    require_answer(given, "03.1")
    if not isinstance(given, tuple | list) or len(given) != 2:
        raise wrong("03.1", "give a pair (steps per epoch, steps of the whole run).")
    per_epoch_given, total_given = require_int(given[0], "03.1", "the steps per epoch"), \
        require_int(given[1], "03.1", "the steps of the run")
    per_epoch = steps_per_epoch(TrainConfig(batch_size=BATCH, epochs=EPOCHS), TRAIN_IMAGES)
    slips = [(TRAIN_IMAGES // BATCH, "that drops the last, smaller batch: fit keeps it "
                                     "(round up)."),
             (SHIPPED_STEPS_PER_EPOCH, "that is the shipped run's batch size (128), not 256.")]
    check_number_quietly(per_epoch_given, per_epoch, "03.1", "the steps per epoch", slips=slips)
    check_number_quietly(total_given, per_epoch * EPOCHS, "03.1",
                         f"the steps of the {EPOCHS}-epoch run")
    passed("03.1")


LR_STEP = 430  # the first step after epoch 1: a third of the warm-up, where shapes differ
PEAK, PCT_START, DIV = 0.1, 0.2, 25.0


def warmup_lr(step: int, shape: str, start: float = PEAK / DIV, warm: int = 1290) -> float:
    """Warm-up rate at ``step`` for a cosine (the engine's) or linear ramp (the usual slip)."""
    frac = step / warm
    if shape == "linear":
        return start + (PEAK - start) * frac
    return PEAK + (start - PEAK) * (1 + math.cos(math.pi * frac)) / 2


@register("03.2")
def lr_at_step(given: Any) -> None:
    """The OneCycle learning rate at step 430 of the shipped run, to 0.1%."""
    config = TrainConfig(epochs=EPOCHS, lr=PEAK, pct_start=PCT_START)
    expected = learning_rate_at(config, LR_STEP, SHIPPED_STEPS_PER_EPOCH)
    slips = [
        (warmup_lr(LR_STEP, "linear"), "that is a linear warm-up; this one follows a cosine."),
        (warmup_lr(645, "cosine"), "that is the rate at step 645, the warm-up's midpoint."),
        (warmup_lr(LR_STEP, "cosine", start=0.0), "the warm-up starts at peak / 25, not at 0."),
        (warmup_lr(LR_STEP, "cosine", start=PEAK / 10), "the warm-up starts at peak / 25."),
        (warmup_lr(LR_STEP - 1, "cosine"), "that is the rate of step 429, the last step of epoch "
         "1, which the history logs; steps count from 0, so step 430 is the next one."),
    ]
    check_number(given, expected, "03.2", f"the learning rate at step {LR_STEP}", rel_tol=1e-3,
                 slips=slips)


CLASSES = 10  # MNIST's digits


def smoothing_floor(eps: float, others_only: bool = False, base: float = math.e) -> float:
    """Entropy of the label-smoothed target: torch's convention (ε/C on every class) or the
    "ε spread over the other classes" convention (ε/(C-1)), in nats or another ``base``."""
    if others_only:
        target = torch.full((CLASSES,), eps / (CLASSES - 1), dtype=torch.float64)
        target[0] = 1 - eps
    else:
        target = torch.full((CLASSES,), eps / CLASSES, dtype=torch.float64)
        target[0] += 1 - eps
    return float(-(target * target.log()).sum()) / math.log(base)


def torch_floor(eps: float) -> float:
    """The floor from torch's own loss at the optimal logits (the log of the target)."""
    target = torch.full((1, CLASSES), eps / CLASSES, dtype=torch.float64)
    target[0, 0] += 1 - eps
    return float(F.cross_entropy(target.log(), torch.tensor([0]), label_smoothing=eps))


SMOOTHING = 0.1


@register("03.3")
def smoothing_floor_check(given: Any) -> None:
    """The lowest loss reachable with label_smoothing=0.1, to 5e-4 (nats)."""
    slips = [
        (torch_floor(0.05), "that is the floor at 0.05, computed in section 5; the question "
                            "asks about 0.1."),
        (smoothing_floor(SMOOTHING, others_only=True),
         "that spreads ε over the 9 other classes; torch spreads ε/10 over all 10 (the true "
         "class gets 1 - ε + ε/10)."),
        (smoothing_floor(SMOOTHING, base=2), "that is in bits (log2); the loss uses natural "
                                             "logarithms."),
    ]
    check_number(given, torch_floor(SMOOTHING), "03.3",
                 f"the loss floor at label_smoothing={SMOOTHING:g}", abs_tol=5e-4, slips=slips)


HALF = 0.5


def steps_above_linear(fraction: float, epochs: int = EPOCHS,
                       per_epoch: int = SHIPPED_STEPS_PER_EPOCH) -> int:
    """The count if both phases were linear ramps (the slip 03.4 probes)."""
    total = epochs * per_epoch
    warm = round(PCT_START * total)
    start, end = PEAK / DIV, PEAK / DIV / 1e4
    rates = [start + (PEAK - start) * s / warm if s < warm
             else PEAK + (end - PEAK) * (s - warm) / (total - 1 - warm) for s in range(total)]
    return sum(r >= fraction * PEAK for r in rates)


@register("03.4")
def steps_above_half(given: Any) -> None:
    """Steps of the shipped 15 x 430-step schedule at half the peak or more."""
    schedule = lr_schedule(TrainConfig(epochs=EPOCHS), SHIPPED_STEPS_PER_EPOCH)
    expected = sum(rate >= HALF * PEAK for rate in schedule)
    value = require_int(given, "03.4", "the number of steps")
    warm = round(PCT_START * len(schedule))
    slips = [
        (steps_above_linear(HALF), "that counts linear ramps; both phases follow a cosine."),
        (sum(rate >= HALF * PEAK for rate in schedule[warm:]), "the warm-up's steps above half "
                                                               "the peak count too."),
        (sum(rate > HALF * PEAK for rate in schedule[:warm]), "the annealing phase's steps "
                                                              "count too."),
    ]
    check_number(value, expected, "03.4", "the number of steps at half the peak or more",
                 slips=slips)


MIN_VAL_ACC = 0.90
BUDGET = {"arch": "primary19k", "epochs": 1, "train_subset": 2048}


@register("03.5")
def one_epoch_design(result: Any, mnist_root: Any = None) -> None:
    """Design challenge on the validation split: one epoch of primary19k on 2,048 training
    images that reaches 90% validation accuracy."""
    require_answer(result, "03.5")
    if not isinstance(result, FitResult):
        raise wrong("03.5", f"give the result of fit(...), got {type(result).__name__}.")
    config = result.config
    broken = [f"{name}={getattr(config, name)!r} (the budget is {value!r})"
              for name, value in BUDGET.items() if getattr(config, name) != value]
    if config.teacher:
        broken.append("a teacher (no distillation here)")
    if broken:
        raise wrong("03.5", f"keep the budget: {'; '.join(broken)}.")
    data = reference.splits(mnist_root)
    _, accuracy = loss_and_accuracy(result.model, data.val_images, data.val_labels,
                                    *result.normalization)
    if accuracy < MIN_VAL_ACC:
        raise wrong("03.5", f"{100 * accuracy:.2f}% on validation; the target is at least "
                            f"{100 * MIN_VAL_ACC:g}%.")
    passed("03.5", f"{100 * accuracy:.2f}% on validation")


FIT_EXTRA_DIGEST = "29ff742eb431c2cd947387be7a50f18aa28f4ba022f0da09957d9c4fb4e32ff9"


@register("03.6")
def fit_extra(given: Any) -> None:
    """What ``fit`` adds to the live loop (multiple choice)."""
    check_choice(given, "03.6", ("a", "b", "c", "d"), FIT_EXTRA_DIGEST)


# ------------------------------------------------------------------ 03.7: the training step
# Three steps at three rates on random batches: a missing zero_grad shows from the second step,
# a rate never set from the first; a small model keeps the check to a fraction of a second.
PROBE_LRS = (0.05, 0.02, 0.08)
PROBE_SMOOTHING = 0.05
StepFunction = Callable[..., Any]


def reference_step(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                   y: torch.Tensor, lr: float, label_smoothing: float) -> torch.Tensor:
    """The engine's own step in float32 (what fit runs), with the student's signature."""
    config = TrainConfig(arch="micro2k", label_smoothing=label_smoothing)
    return training_step(net, opt, x, y, lr, config, NumericPath(False, False))[0]


def _step_without_lr(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                     y: torch.Tensor, lr: float, label_smoothing: float) -> torch.Tensor:
    loss = F.cross_entropy(net(x), y, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def _step_without_zero_grad(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                            y: torch.Tensor, lr: float, label_smoothing: float) -> torch.Tensor:
    for group in opt.param_groups:
        group["lr"] = lr
    loss = F.cross_entropy(net(x), y, label_smoothing=label_smoothing)
    loss.backward()
    opt.step()
    return loss


def _step_without_smoothing(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                            y: torch.Tensor, lr: float, label_smoothing: float) -> torch.Tensor:
    return reference_step(net, opt, x, y, lr, 0.0)


def _step_before_backward(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                          y: torch.Tensor, lr: float, label_smoothing: float) -> torch.Tensor:
    for group in opt.param_groups:
        group["lr"] = lr
    loss = F.cross_entropy(net(x), y, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    opt.step()
    loss.backward()
    return loss


STEP_SLIPS: tuple[tuple[StepFunction, str], ...] = (
    (_step_without_lr, "the weights moved at the optimiser's initial rate: set this step's "
                       "learning rate in every parameter group before stepping."),
    (_step_without_zero_grad, "from the second step on, the gradients of earlier batches were "
                              "added to this one's: clear them (zero_grad) before backward."),
    (_step_without_smoothing, "the loss ignores label_smoothing: pass it to the cross-entropy."),
    (_step_before_backward, "the optimiser stepped before the gradients existed: backward "
                            "first, then step."),
)


def run_probe_steps(step: StepFunction) -> tuple[dict[str, torch.Tensor], list[Any]]:
    """Weights after the probe's three steps from a seeded micro2k, and what each step returned."""
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):  # the notebook's own random state is left alone
        torch.manual_seed(0)
        net = build_model("micro2k").train()
    opt = make_optimizer(net, TrainConfig(arch="micro2k"))
    returned = []
    for lr in PROBE_LRS:
        x = torch.randn(16, 1, 28, 28, generator=generator)
        y = torch.randint(0, 10, (16,), generator=generator)
        returned.append(step(net, opt, x, y, lr, PROBE_SMOOTHING))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, returned


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(
        torch.allclose(a[k].double(), b[k].double(), rtol=1e-5, atol=1e-7) for k in a)


@register("03.7")
def student_training_step(given: Any) -> None:
    """``training_step(net, opt, x, y, lr, label_smoothing)``: three steps of it must move the
    weights exactly as the engine's step does, and each must return that batch's loss."""
    require_answer(given, "03.7")
    if not callable(given):
        raise wrong("03.7", "give the function itself (training_step, without parentheses), got "
                            f"{type(given).__name__}.")
    if given is training_step:
        raise wrong("03.7", "that is the engine's step from utils.train: write your own.")
    expected, expected_losses = run_probe_steps(reference_step)
    got, got_losses = run_probe_steps(given)
    if not same_weights(got, expected):
        for slip, why in STEP_SLIPS:
            if same_weights(got, run_probe_steps(slip)[0]):
                raise wrong("03.7", why)
        raise wrong("03.7", "after three steps the weights differ from one SGD step per batch: "
                            "set the rate, forward, loss with label smoothing, zero_grad, "
                            "backward, step.")
    for got_loss, want in zip(got_losses, expected_losses, strict=True):
        if not isinstance(got_loss, torch.Tensor) or got_loss.numel() != 1 or not math.isclose(
                float(got_loss.detach()), float(want.detach()), rel_tol=1e-5):
            raise wrong("03.7", "the weights are right, but return the batch's loss (the tensor "
                                "the step back-propagated) from your function.")
    passed("03.7", "three steps move the weights exactly as fit's step does")
