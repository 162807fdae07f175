"""Tiny CNNs on MNIST: the library behind the notebooks.

Data flows one way, one concern per module::

    paths (folders, MNIST root, device) -> data (validated MNIST, fixed split)
    -> augment (batched random affine, the one batch step) -> models (registry)
    -> train (engine, resume) -> checkpoints (weights_only loading) -> evaluate (logits, loss)
    -> stats (intervals, paired tests, calibration) / errors (confusion, mistakes)
    -> plots/ (one module per notebook topic)
    io (atomic writes) is used by every writer; receptive_field, digit_stats, sweep, frontier
    and report serve single notebooks or commands.

Nothing is imported here, so ``import utils.train`` loads only what training needs (no pandas,
no matplotlib); notebooks import from the submodules, so a reader sees where each function lives.
"""
