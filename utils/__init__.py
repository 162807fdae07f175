"""Tiny CNNs on MNIST: the library behind the notebooks.

Data flows one way, one concern per module::

    paths (folders, MNIST root, device) -> data (validated MNIST, fixed split)
    -> augment (batched random affine) -> models (registry) -> train (engine, resume)
    -> checkpoints (atomic, weights_only) -> evaluate (predictions, metrics)
    -> plots/ (one module per notebook) ; receptive_field, digit_stats, sweep, frontier, report

The names below are the small public API; notebooks import from the submodules directly so
a reader can see where each function lives.
"""

from .augment import AugmentConfig, random_affine
from .checkpoints import load_model_checkpoint
from .data import MNISTSplits, load_mnist_splits, normalization_stats
from .evaluate import accuracy_with_ci, predict_logits
from .models import available_models, build_model, count_parameters
from .paths import resolve_device, resolve_mnist_root
from .receptive_field import receptive_field_table
from .train import TrainConfig, fit

__all__ = [
    "AugmentConfig",
    "MNISTSplits",
    "TrainConfig",
    "accuracy_with_ci",
    "available_models",
    "build_model",
    "count_parameters",
    "fit",
    "load_mnist_splits",
    "load_model_checkpoint",
    "normalization_stats",
    "predict_logits",
    "random_affine",
    "receptive_field_table",
    "resolve_device",
    "resolve_mnist_root",
]
