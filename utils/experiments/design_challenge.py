"""Notebook 07's trained design challenge: a student's design under 8,000 parameters, trained
for a few epochs through the engine and judged on the validation split.

Training takes minutes, so the notebook does not train by default: it loads the committed
reference run (``results/design_challenge/``: weights, history, metrics), made once by
``python -m utils.experiments.design_challenge`` from the same design the notebook's solution registers
(``sep8k``'s layers), into the ``FitResult`` that ``fit`` would have returned.

Run from the repository root: ``OMP_NUM_THREADS=1 python -m utils.experiments.design_challenge``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from utils.atomic_files import atomic_write_json
from utils.checkpoints import checkpoint_normalization, load_state_dict_strict, read_checkpoint
from utils.data import load_mnist_splits
from utils.experiments.cli import add_mnist_root
from utils.models import MODEL_REGISTRY, build_model, count_parameters
from utils.paths import RESULTS_DIR, resolve_mnist_root
from utils.recipe import TrainConfig
from utils.run_files import METRICS_FILE
from utils.train import (
    HISTORY_FILE,
    MODEL_FILE,
    STATE_FILE,
    FitResult,
    cpu_model,
    fit,
    load_history,
    resolve_numeric_path,
)

RESULTS = RESULTS_DIR / "design_challenge"
REFERENCE_ARCH = "sep8k"  # the layers of the notebook's solution design
MAX_PARAMS = 8_000
MAX_EPOCHS = 3
COMMAND = "OMP_NUM_THREADS=1 python -m utils.experiments.design_challenge"

_STUDENT_NAMES: set[str] = set()  # names registered by register_design (may be replaced)


def register_design(name: str, factory: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    """Register ``factory`` under ``name`` in the engine's model registry, so that
    ``fit(TrainConfig(arch=name))`` builds it. Running the cell again replaces the earlier
    version (``utils.models.register`` refuses a name twice); a built-in name is refused."""
    if name in MODEL_REGISTRY and name not in _STUDENT_NAMES:
        raise ValueError(f"{name!r} is one of the repository's models; choose another name.")
    MODEL_REGISTRY[name] = factory
    _STUDENT_NAMES.add(name)
    return factory


def reference_config(arch: str = REFERENCE_ARCH) -> TrainConfig:
    """The recipe of the reference run: engine defaults, the epoch budget, seed 0."""
    return TrainConfig(arch=arch, epochs=MAX_EPOCHS, seed=0)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=RESULTS_DIR.parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train_reference(out_dir: Path = RESULTS, mnist_root: str | None = None) -> dict[str, Any]:
    """Train the reference design once and write model.pt, history.json and metrics.json."""
    splits = load_mnist_splits(resolve_mnist_root(mnist_root))
    result = fit(reference_config(), splits, run_dir=out_dir, progress=False)
    (out_dir / STATE_FILE).unlink(missing_ok=True)  # resuming is not needed; keep the folder small
    metrics = {
        "arch": REFERENCE_ARCH,
        "params": count_parameters(result.model),
        "epochs": len(result.history),
        "val_acc": result.history[-1]["val_acc"],
        "train_seconds": sum(r["seconds"] for r in result.history),
        "cpu": cpu_model(),
        "numeric_path": resolve_numeric_path(result.config.amp, result.config.channels_last, torch.device("cpu")).describe(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": COMMAND,
        "commit": git_commit(),
    }
    atomic_write_json(metrics, out_dir / METRICS_FILE)
    return metrics


def load_reference_run(arch: str, run_dir: Path = RESULTS) -> FitResult:
    """The committed reference run as ``fit`` returns it, its weights loaded into the design
    registered as ``arch`` (strictly: that design must have the reference's layers)."""
    payload = read_checkpoint(run_dir / MODEL_FILE)
    model = build_model(arch)
    load_state_dict_strict(model, payload["state_dict"], arch, str(run_dir / MODEL_FILE))
    metadata = payload.get("metadata", {})
    config = TrainConfig.from_dict({**metadata["config"], "arch": arch})
    history = load_history(run_dir / HISTORY_FILE)
    return FitResult(model.eval(), history, config, run_dir,
                     checkpoint_normalization(payload))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    add_mnist_root(parser)
    args = parser.parse_args(argv)
    metrics = train_reference(args.out, args.mnist_root)
    print(f"{metrics['arch']}: {100 * metrics['val_acc']:.2f}% on validation after "
          f"{metrics['epochs']} epochs, {metrics['train_seconds']:.0f} s of training.")


if __name__ == "__main__":
    main()
