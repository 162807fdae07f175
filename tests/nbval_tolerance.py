"""Compare a cell's output with its committed one, numbers within a stated tolerance.

Some outputs come out of floating-point training or attribution, where a CPU's kernels (AVX2,
AVX-512, scalar, Arm; bf16 or not) change the last digits. Such a cell carries the tag
``kernel-dependent`` and, in its metadata, ``nbval_tolerance = {"abs": a, "rel": r, "why": ...}``.
nbval first compares it exactly, as every cell; only when that fails does ``conftest.py`` fall
back to this comparison: the text with every number taken out must be identical (same words,
same number of numbers; runs of whitespace count as one, since table columns widen with their
numbers), and each number must be within ``max(a, r * |committed|)`` of the committed one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

KERNEL_TAG = "kernel-dependent"
TOLERANCE_KEY = "nbval_tolerance"
# a number not glued to a word or a dot before it ("primary19k" holds no number): 2,048  -0.16
# 4.00e-03  99.64
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Tolerance:
    abs: float
    rel: float
    why: str

    def allows(self, got: float, committed: float) -> bool:
        return math.isclose(got, committed, rel_tol=self.rel, abs_tol=self.abs)


def tolerance_of(metadata: dict[str, Any]) -> Tolerance:
    """The tolerance a ``kernel-dependent`` cell states; an error names what is missing."""
    stated = metadata.get(TOLERANCE_KEY)
    if not isinstance(stated, dict) or not {"abs", "rel", "why"} <= set(stated):
        raise ValueError(f"a cell tagged {KERNEL_TAG!r} must state metadata[{TOLERANCE_KEY!r}] = "
                         '{"abs": ..., "rel": ..., "why": "..."}; it has ' f"{stated!r}")
    return Tolerance(float(stated["abs"]), float(stated["rel"]), str(stated["why"]))


def split_numbers(text: str) -> tuple[str, list[float]]:
    """The text with each number replaced by ``#`` (whitespace runs collapsed), and the numbers."""
    numbers = [float(m.group().replace(",", "")) for m in NUMBER.finditer(text)]
    return " ".join(NUMBER.sub("#", text).split()), numbers


def tolerant_differences(got: str, committed: str, tolerance: Tolerance) -> list[str]:
    """What differs beyond the tolerance, described; empty when the outputs agree."""
    got_text, got_numbers = split_numbers(got)
    committed_text, committed_numbers = split_numbers(committed)
    if got_text != committed_text:
        return ["the text around the numbers differs (not only the numbers)"]
    return [f"{g:g} vs committed {c:g} (tolerance abs {tolerance.abs:g}, rel {tolerance.rel:g})"
            for g, c in zip(got_numbers, committed_numbers, strict=True)
            if not tolerance.allows(g, c)]
