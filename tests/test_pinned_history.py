"""The engine reproduces a pinned history on any CPU, and the pin notices a changed recipe.

``tests/golden/pinned_history.json`` holds small fixed runs (1,500 images, 2 epochs) made by
``tests/golden/make_pinned_history.py`` in float64, where CPU kernels agree to ~1e-15 (see that
file for why float32 cannot be pinned tightly across CPUs). A relative tolerance of 1e-6 is then
far looser than any CPU's rounding and far tighter than any change of the recipe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_pinned_history import (  # noqa: E402
    OUT,
    differences,
    pinned_config,
    pinned_run,
    small_splits,
)

from utils.data import MNISTNotFoundError  # noqa: E402

PINNED = json.loads(OUT.read_text())


@pytest.fixture(scope="module")
def pinned_splits():
    try:
        return small_splits()
    except MNISTNotFoundError as exc:
        pytest.skip(f"MNIST not available: {exc}")


@pytest.mark.parametrize("name", sorted(PINNED["runs"]))
def test_engine_reproduces_the_pinned_history(name, pinned_splits):
    pinned = PINNED["runs"][name]
    got = pinned_run(pinned_config(**pinned["config"]), pinned_splits)
    assert differences(got, pinned) == []


@pytest.mark.parametrize("change", [
    {"pct_start": 0.25},  # a longer warm-up: the schedule
    {"augment_strength": 0.9},  # weaker augmentation
    {"weight_decay": 4e-4},  # the smallest change tried: acts only through the optimiser
])
def test_a_changed_recipe_breaks_the_pin(change, pinned_splits):
    pinned = PINNED["runs"]["micro2k"]
    got = pinned_run(pinned_config(**pinned["config"], **change), pinned_splits)
    assert differences(got, pinned), f"{change} went unnoticed by the pinned history"
