"""Notebook 02 (architecture design): references from ``utils.receptive_field``."""

from __future__ import annotations

from typing import Any

from torch import nn

from utils.course.checkers.core import (
    check_number,
    check_table,
    register,
    require_int,
    require_number,
)
from utils.course.checkers.designs import check_design
from utils.models import build_model, count_parameters
from utils.receptive_field import output_size, receptive_field_table, spatial_rows

RF_TABLE_COLUMNS = ("size", "jump", "rf", "start")
STRIDED_BASE = "compact8k"
POOL_INDEX = 6  # compact8k's max-pool, features.6


def strided_compact(base: str = STRIDED_BASE) -> nn.Module:
    """``compact8k`` with its 2x2 max-pool replaced by a 3x3 conv of stride 2 and padding 1:
    a variant whose table the notebook never prints (exercise 02.1)."""
    model = build_model(base)
    pool = model.features[POOL_INDEX]
    if not isinstance(pool, nn.MaxPool2d):
        raise ValueError(f"{base}.features.{POOL_INDEX} is {type(pool).__name__}, not a max-pool.")
    channels = model.features[POOL_INDEX - 3].out_channels
    model.features[POOL_INDEX] = nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False)
    return model


def rf_table_rows(model: nn.Module, input_size: int = 28) -> list[dict[str, Any]]:
    """Rows of every conv/pool layer before the GAP: layer name, size, jump, rf, start."""
    rows = spatial_rows(receptive_field_table(model, input_size), True)
    return [{"layer": r.name, "size": r.size, "jump": r.jump, "rf": r.rf, "start": r.start}
            for r in rows if not r.type.startswith("Adaptive")]


@register("02.1")
def rf_table(given: Any) -> None:
    """The by-hand table of the strided ``compact8k``, cell by cell, against the calculator."""
    check_table(given, rf_table_rows(strided_compact()), "02.1", key="layer",
                columns=RF_TABLE_COLUMNS)


OUTPUT_SIZE_PROBE = (12, 3, 2, 2)  # n, kernel, stride, padding: every usual slip differs here


@register("02.2")
def conv_output_size(given: Any) -> None:
    """Output width of a 3x3 conv, stride 2, padding 2, on a 12x12 map."""
    n, k, s, p = OUTPUT_SIZE_PROBE
    value = require_int(given, "02.2", "the output size")
    slips = [
        ((n - k) // s + 1, "the padding is missing: it adds p on both sides."),
        ((n + p - k) // s + 1, "the padding was added on one side only."),
        ((n + 2 * p - k) // s, "the +1 is missing (a map of k pixels gives one unit)."),
        (-(-(n + 2 * p - k) // s) + 1, "that rounds up; a window that does not fit is dropped "
                                       "(floor)."),
        (n // s, "n / stride ignores the kernel and the padding."),
        (n + 2 * p - k + 1, "the stride is missing."),
    ]
    check_number(value, output_size(n, k, s, p), "02.2", "the output size", slips=slips)


@register("02.3")
def conv_bn_params(given: Any) -> None:
    """Parameters of a bias-free 3x3 conv from 16 to 32 channels followed by BatchNorm (the
    exercise's block), counted on real modules."""
    c_in, c_out, kernel = 16, 32, 3
    block = nn.Sequential(nn.Conv2d(c_in, c_out, kernel, bias=False), nn.BatchNorm2d(c_out))
    weights = c_in * c_out * kernel * kernel
    value = require_int(given, "02.3", "the parameter count")
    slips = [
        (weights, "BatchNorm's scale and shift are missing."),
        (weights + c_out, "BatchNorm learns two numbers per channel, a scale and a shift."),
        (weights + 3 * c_out, "the conv has no bias here (bias=False)."),
        (weights + 4 * c_out, "the running mean and variance are buffers, not parameters."),
    ]
    check_number(value, count_parameters(block), "02.3", "the parameter count", slips=slips)


COSTLIEST_ARCH = "sep4k"  # not printed in notebook 02 (primary19k's MACs are)
PRINTED_ARCH = "primary19k"


def costliest_share(arch: str, input_size: int = 28, column: str = "macs") -> float:
    """Percentage of ``arch``'s MACs (or parameters) that its costliest layer takes."""
    rows = [r for r in receptive_field_table(build_model(arch), input_size) if r.macs]
    values = [getattr(r, column) for r in rows]
    costliest = max(rows, key=lambda r: r.macs)
    return 100 * getattr(costliest, column) / sum(values)


@register("02.4")
def costliest_layer_share(given: Any, input_size: int = 28) -> None:
    """Share (%) of ``sep4k``'s MACs per image taken by its costliest layer, to 0.1 point."""
    value = require_number(given, "02.4", "the share")
    slips = [
        (100 - costliest_share(COSTLIEST_ARCH, input_size),
         "that is the share of every other layer together."),
        (costliest_share(COSTLIEST_ARCH, input_size, "params"),
         "that is the layer's share of the parameters, not of the multiply-accumulates."),
        (costliest_share(PRINTED_ARCH, input_size), f"that is {PRINTED_ARCH}'s costliest "
                                                    f"layer; the question is about "
                                                    f"{COSTLIEST_ARCH}."),
        (costliest_share(COSTLIEST_ARCH, input_size) / 100,
         "give a percentage (0-100), not a fraction."),
    ]
    check_number(value, costliest_share(COSTLIEST_ARCH, input_size), "02.4",
                 "the share of the costliest layer", abs_tol=0.06, slips=slips)


@register("02.6")
def small_design(model: Any) -> None:
    """Design challenge: under 8,000 parameters, a 20 px field that holds the whole digit."""
    check_design(model, "02.6", max_params=8_000, min_rf=20)
