"""Writes ``pinned_history.json``: the engine's per-epoch history for small fixed runs.

The runs are made in float64 (torch's default dtype switched for the run), on one thread. In
float32 the same 2-epoch runs are chaotic enough that a CPU's kernels alone (AVX2, AVX-512,
scalar, Arm) move the epoch-2 losses by up to 2% and the accuracies by a few points, as much
as a real change of the recipe would. In float64 the kernels agree to about 1e-15, so the pin
can be tight and still hold on any CPU, while any change of the recipe (schedule, augmentation,
loss, optimiser, initialisation, data order) moves the numbers by far more than the tolerance.

Run it when the recipe changes on purpose (``python tests/golden/make_pinned_history.py``);
``tests/test_pinned_history.py`` then checks that the engine reproduces it.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from utils.data import MNISTSplits, load_mnist_splits
from utils.recipe import TrainConfig
from utils.train import fit

OUT = Path(__file__).with_name("pinned_history.json")
N_TRAIN, N_VAL = 1500, 500
RUNS = {
    "micro2k": {"arch": "micro2k"},
    "primary19k": {"arch": "primary19k"},
    "primary19k_ema": {"arch": "primary19k", "ema_decay": 0.9},
}
# float64 runs agree to ~1e-15 across kernels (validation losses, scored in float32, to ~1e-7);
# the smallest recipe change tried (weight decay 5e-4 -> 4e-4) moves micro2k's losses by 1.7e-4.
REL_TOL = 1e-6


def pinned_config(**overrides: object) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 128, "seed": 0, "device": "cpu",
            "amp": "off", "channels_last": "off"}
    return TrainConfig(**{**base, **overrides})


def small_splits() -> MNISTSplits:
    splits = load_mnist_splits(download=False)
    return replace(
        splits,
        train_images=splits.train_images[:N_TRAIN].clone(),
        train_labels=splits.train_labels[:N_TRAIN].clone(),
        val_images=splits.val_images[:N_VAL].clone(),
        val_labels=splits.val_labels[:N_VAL].clone(),
    )


def weight_fingerprint(model: torch.nn.Module) -> float:
    return float(sum(v.double().abs().sum() for v in model.state_dict().values()
                     if v.dtype.is_floating_point))


@contextmanager
def float64_on_one_thread() -> Iterator[None]:
    """The kernel-independent setting of the pinned runs, undone afterwards."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_num_threads(threads)


def pinned_run(config: TrainConfig, splits: MNISTSplits) -> dict[str, Any]:
    """One pinned run's history (without its timings) and weight fingerprint."""
    with float64_on_one_thread():
        result = fit(config, splits, progress=False, log=None)
    records = [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in result.history]
    return {"history": records,
            "weights_abs_sum": weight_fingerprint(result.model)}


def differences(got: dict[str, Any], pinned: dict[str, Any], rel_tol: float = REL_TOL) -> list[str]:
    """Every value of ``got`` that is not within ``rel_tol`` of ``pinned``, described."""
    if len(got["history"]) != len(pinned["history"]):
        return [f"{len(got['history'])} epochs, pinned {len(pinned['history'])}"]
    found = []
    for record, want in zip(got["history"], pinned["history"], strict=True):
        for key, expected in want.items():
            if not math.isclose(record[key], expected, rel_tol=rel_tol, abs_tol=1e-12):
                found.append(f"epoch {want['epoch']}: {key} = {record[key]!r}, pinned {expected!r}")
    if not math.isclose(got["weights_abs_sum"], pinned["weights_abs_sum"], rel_tol=rel_tol):
        found.append(f"weights_abs_sum = {got['weights_abs_sum']!r}, "
                     f"pinned {pinned['weights_abs_sum']!r}")
    return found


def main() -> None:
    splits = small_splits()
    pinned = {"machine": platform.processor() or platform.machine(), "dtype": "float64",
              "torch": torch.__version__, "runs": {}}
    for name, overrides in RUNS.items():
        pinned["runs"][name] = {"config": overrides,
                                **pinned_run(pinned_config(**overrides), splits)}
    OUT.write_text(json.dumps(pinned, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
