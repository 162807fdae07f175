"""Refactors of the engine change no result: small fixed runs reproduce a history pinned before.

``tests/golden/pinned_history.json`` was written by ``tests/golden/make_pinned_history.py`` on
the engine as it stood before the hardening refactor. Losses and accuracies must match to a
relative 1e-4: far tighter than any change of batch order, augmentation draw or schedule would
give (those move the losses by percent), loose enough for another CPU's float summation order.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_pinned_history import OUT, pinned_config, small_splits, weight_fingerprint  # noqa: E402

from utils.data import MNISTNotFoundError  # noqa: E402
from utils.train import fit  # noqa: E402

PINNED = json.loads(OUT.read_text())
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def pinned_splits():
    try:
        return small_splits()
    except MNISTNotFoundError as exc:
        pytest.skip(f"MNIST not available: {exc}")


@pytest.mark.parametrize("name", sorted(PINNED["runs"]))
def test_engine_reproduces_the_pinned_history(name, pinned_splits):
    pinned = PINNED["runs"][name]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = fit(pinned_config(**pinned["config"]), pinned_splits, progress=False, log=None)
    finally:
        torch.set_num_threads(threads)
    assert len(result.history) == len(pinned["history"])
    for got, want in zip(result.history, pinned["history"], strict=True):
        for key, expected in want.items():
            assert math.isclose(got[key], expected, rel_tol=REL_TOL, abs_tol=1e-9), (
                f"{name}, epoch {want['epoch']}: {key} = {got[key]!r}, pinned {expected!r}"
            )
    assert math.isclose(weight_fingerprint(result.model), pinned["weights_abs_sum"],
                        rel_tol=REL_TOL)
