"""Reference data the checkers compute their answers from, loaded once per process.

Each loader reads what the notebooks read (the MNIST splits, the committed checkpoints, runs
and result tables) through the same ``utils`` functions, and caches it: a notebook that checks
six exercises loads the splits once. Paths default to the committed ones; ``check(...,
runs_root=...)`` and the like override them where a notebook is run on other results.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import torch

from utils.data import MNISTSplits, load_mnist_splits, normalization_stats
from utils.paths import RESULTS_DIR, resolve_mnist_root, resolve_repo_path, shipped_run_dir
from utils.run_files import MODEL_FILE

ABLATIONS_ROOT = RESULTS_DIR / "ablations"
SWEEP_RUNS_ROOT = RESULTS_DIR / "runs"
ROBUSTNESS_CSV = RESULTS_DIR / "robustness.csv"
PathLike = str | os.PathLike | None


def _key(path: PathLike, default: Path) -> str:
    """One cache key per folder, however it was spelled."""
    return str(resolve_repo_path(path) if path is not None else default)


@functools.cache
def _splits(root: str) -> MNISTSplits:
    return load_mnist_splits(root)


def splits(mnist_root: PathLike = None) -> MNISTSplits:
    """The train/val/test splits every notebook loads (``$MNIST_ROOT`` unless given)."""
    return _splits(str(resolve_mnist_root(mnist_root)))


@functools.cache
def _train_normalization(root: str) -> tuple[float, float]:
    return normalization_stats(_splits(root).train_images)


def train_normalization(mnist_root: PathLike = None) -> tuple[float, float]:
    """Mean and std of the training split's pixels (in [0, 1]), as notebook 01 computes them."""
    return _train_normalization(str(resolve_mnist_root(mnist_root)))


@functools.cache
def _evaluation_model(path: str) -> Any:
    # utils.checkpoints loads utils.models and the checkpoint reader: only checkers that need a
    # trained model pay for them.
    from utils.checkpoints import load_evaluation_model

    return load_evaluation_model(path)


def shipped_model(arch: str = "primary19k") -> Any:
    """The committed seed-0 checkpoint of ``arch``, ready for evaluation on the CPU."""
    return _evaluation_model(str(shipped_run_dir(arch) / MODEL_FILE))


@functools.cache
def _val_logits(arch: str, root: str) -> torch.Tensor:
    from utils.evaluate import predict_logits  # only the checkers that score a model need it

    model, data = shipped_model(arch), _splits(root)
    return predict_logits(model.model, data.val_images, model.mean, model.std)


def val_logits(arch: str = "primary19k", mnist_root: PathLike = None) -> torch.Tensor:
    """Logits of the shipped ``arch`` on the validation split (never the test split)."""
    return _val_logits(arch, str(resolve_mnist_root(mnist_root)))


@functools.cache
def _ablation_rows(root: str) -> tuple[dict[str, Any], ...]:
    # here, not at the top: only notebook 05's checkers read the ablation runs
    from utils.experiments.ablations import collect

    return tuple(collect(Path(root)))


def ablation_rows(runs_root: PathLike = None) -> list[dict[str, Any]]:
    """The finished ablation runs, one dict per variant and seed (notebook 05's ``rows``)."""
    return list(_ablation_rows(_key(runs_root, ABLATIONS_ROOT)))


def ablation_root(runs_root: PathLike = None) -> Path:
    return Path(_key(runs_root, ABLATIONS_ROOT))


def sweep_root(runs_root: PathLike = None) -> Path:
    return Path(_key(runs_root, SWEEP_RUNS_ROOT))


@functools.cache
def _robustness_curves(path: str) -> Any:
    # here, not at the top: only notebook 06's checkers read the robustness curves
    from utils.experiments.robustness import read_results

    return read_results(path)


def robustness_curves(csv_path: PathLike = None) -> Any:
    """The committed robustness curves (test split, read only: never used to choose)."""
    return _robustness_curves(_key(csv_path, ROBUSTNESS_CSV))
