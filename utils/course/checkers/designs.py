"""Structural checks of a design challenge's model (notebooks 02 and 07): no training needed.

What a small CNN design is for, checked on its structure: it maps a batch of images to ten
logits under a parameter budget; a nonlinearity separates its spatial convolutions (without
one, a stack of convs collapses into a single linear filter, however many layers it has); and
the units just before the global pool see the whole digit, not a large field that lies mostly
on padding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from utils.course.checkers.core import AnswerError, passed, require_answer, wrong
from utils.models import count_parameters
from utils.receptive_field import (
    ReceptiveFieldError,
    receptive_field_table,
    spatial_rows,
)

# Modules that make a network nonlinear between two convolutions (max-pooling is nonlinear
# too, but a pool between every pair of convs is not a design anyone means).
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
               nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardtanh, nn.Tanh, nn.Sigmoid, nn.Softplus,
               nn.Hardsigmoid)
DIGIT_BOX = 20  # MNIST digits are scaled into a 20 x 20 box, centred in the 28 x 28 image


def leaf_modules(model: nn.Module) -> list[nn.Module]:
    """Modules without children, in registration order (the order a chain runs them)."""
    return [m for m in model.modules() if not list(m.children())]


def linear_conv_pair(model: nn.Module) -> tuple[int, int] | None:
    """Positions (among the spatial convs, from 0) of two successive convs with a kernel above
    1x1 and no activation between them, or None. A 1x1 conv may mix channels linearly (as the
    second half of a separable block does); two spatial convs in a row may not."""
    spatial = -1
    since_activation = True
    for module in leaf_modules(model):
        if isinstance(module, ACTIVATIONS):
            since_activation = True
        elif isinstance(module, nn.Conv2d) and max(module.kernel_size) > 1:
            spatial += 1
            if not since_activation:
                return spatial - 1, spatial
            since_activation = False
    return None


def pixels_seen(rows: list, unit: int, input_size: int) -> set[int]:
    """Input pixels (along one axis) that unit ``unit`` of the last row depends on: the taps of
    every kernel, followed back through strides, paddings and dilations. Unlike the receptive
    field, it has holes where a dilated kernel skips pixels, and drops padding."""
    sizes = [input_size] + [row.size for row in rows[:-1]]
    seen = {unit}
    for row, size_in in zip(reversed(rows), reversed(sizes), strict=True):
        taps = range(0, row.kernel * row.dilation, row.dilation)
        seen = {i * row.stride - row.padding + t for i in seen for t in taps}
        seen = {i for i in seen if 0 <= i < size_in}
    return seen


def whole_digit_units(model: nn.Module, input_size: int) -> int:
    """How many units (along one axis) of the last spatial layer before the global pool depend
    on every pixel of the central digit box: not padding, not a dilated kernel's sparse taps."""
    rows = [r for r in spatial_rows(receptive_field_table(model, input_size), True)
            if not r.type.startswith("Adaptive")]
    if not rows:
        return 0
    first = (input_size - DIGIT_BOX) // 2
    box = set(range(first, first + DIGIT_BOX))
    return sum(box <= pixels_seen(rows, unit, input_size) for unit in range(rows[-1].size))


def final_rf(model: nn.Module, input_size: int) -> int:
    rows = [r for r in spatial_rows(receptive_field_table(model, input_size), True)
            if not r.type.startswith("Adaptive")]
    return rows[-1].rf if rows else 1


def require_module_output(model: Any, exercise_id: str, input_size: int) -> None:
    """An nn.Module that turns [2, 1, n, n] images into [2, 10] logits as a chain of layers."""
    require_answer(model, exercise_id)
    if not isinstance(model, nn.Module):
        raise wrong(exercise_id, f"give an nn.Module (e.g. nn.Sequential), got "
                                 f"{type(model).__name__}.")
    try:
        with torch.no_grad():
            shape = tuple(model.eval()(torch.randn(2, 1, input_size, input_size)).shape)
        receptive_field_table(model, input_size)
    except (RuntimeError, ReceptiveFieldError) as exc:
        raise AnswerError(f"Exercise {exercise_id}: the model does not run on [2, 1, "
                          f"{input_size}, {input_size}] images as a plain chain of layers: "
                          f"{exc}") from exc
    if shape != (2, 10):
        raise wrong(exercise_id, f"output shape {shape}; it should be ten logits per image.")


def check_design(model: Any, exercise_id: str, max_params: int, min_rf: int,
                 input_size: int = 28) -> None:
    """Budget, ten logits, a nonlinearity between spatial convs, a field of ``min_rf`` px
    before the global pool, and at least one unit there whose window holds the whole digit."""
    require_module_output(model, exercise_id, input_size)
    params = count_parameters(model)
    if params >= max_params:
        raise wrong(exercise_id, f"{params:,} parameters; the budget is under {max_params:,}.")
    if not any(isinstance(m, ACTIVATIONS) for m in leaf_modules(model)):
        raise wrong(exercise_id, "the model has no activation (ReLU or similar) as a module: "
                                 "it is one linear filter however many layers it has.")
    pair = linear_conv_pair(model)
    if pair is not None:
        raise wrong(exercise_id, f"spatial convolutions {pair[0]} and {pair[1]} (counting from "
                                 "0) follow each other without an activation between them: "
                                 "together they are one linear filter.")
    rf = final_rf(model, input_size)
    if rf < min_rf:
        raise wrong(exercise_id, f"the receptive field before the global pool is {rf} px; it "
                                 f"should be at least {min_rf} px.")
    if whole_digit_units(model, input_size) == 0:
        raise wrong(exercise_id, f"no unit before the global pool sees every pixel of the "
                                 f"central {DIGIT_BOX} x {DIGIT_BOX} digit box: its field is "
                                 "large only on paper (padding, or a dilated kernel's gaps).")
    passed(exercise_id, f"{params:,} parameters, receptive field {rf} px before the pool")


def rf_without_pool(model: nn.Module, which: int, input_size: int = 28) -> int:
    """Receptive field (px) before the GAP of a ``GapNet`` whose ``which``-th max-pool (from 0)
    is removed, everything else unchanged: a variant no notebook prints."""
    # utils.models.GapNet rebuilds the chain; imported here so designs stay model-agnostic above
    from utils.models import GapNet

    layers = list(model.features)
    pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
    if len(pools) <= which:
        raise ValueError(f"the model has {len(pools)} max-pools; cannot remove pool {which}.")
    del layers[pools[which]]
    changed = GapNet(layers, model.classifier.in_features, f"without max-pool {which}")
    return final_rf(changed, input_size)
