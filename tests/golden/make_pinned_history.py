"""Writes ``pinned_history.json``: the engine's per-epoch history for small fixed runs.

Run once *before* a refactor of the engine (``python tests/golden/make_pinned_history.py``);
``tests/test_pinned_history.py`` then checks that the refactored engine reproduces it.
"""

from __future__ import annotations

import json
import platform
from dataclasses import replace
from pathlib import Path

import torch

from utils.data import load_mnist_splits
from utils.train import TrainConfig, fit

OUT = Path(__file__).with_name("pinned_history.json")
N_TRAIN, N_VAL = 1500, 500
RUNS = {
    "micro2k": {"arch": "micro2k"},
    "primary19k": {"arch": "primary19k"},
    "primary19k_ema": {"arch": "primary19k", "ema_decay": 0.9},
}


def pinned_config(**overrides: object) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 128, "seed": 0, "device": "cpu",
            "amp": "off", "channels_last": "off"}  # the fp32 path the history was pinned on
    return TrainConfig(**{**base, **overrides})


def small_splits():
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


def main() -> None:
    torch.set_num_threads(1)
    splits = small_splits()
    pinned = {"machine": platform.processor() or platform.machine(), "runs": {}}
    for name, overrides in RUNS.items():
        result = fit(pinned_config(**overrides), splits, progress=False, log=None)
        pinned["runs"][name] = {
            "config": overrides,
            "history": [{k: v for k, v in r.items() if k != "seconds"} for r in result.history],
            "weights_abs_sum": weight_fingerprint(result.model),
        }
    OUT.write_text(json.dumps(pinned, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
