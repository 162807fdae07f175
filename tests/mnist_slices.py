"""The small slice of the real MNIST splits that the engine's tests train on."""

from __future__ import annotations

from dataclasses import replace

from utils.data import MNISTSplits


def first_images(splits: MNISTSplits, n_train: int, n_val: int) -> MNISTSplits:
    """The first ``n_train`` training and ``n_val`` validation images (copies, so a test that
    edits them leaves the session's splits alone); the test split is kept as it is, since the
    engine must ignore it."""
    return replace(splits, train_images=splits.train_images[:n_train].clone(),
                   train_labels=splits.train_labels[:n_train].clone(),
                   val_images=splits.val_images[:n_val].clone(),
                   val_labels=splits.val_labels[:n_val].clone())
