"""Tiny CNNs on MNIST: the library behind the notebooks, and beside it the experiments and the
course that use it.

The library (this folder) is one way data flows::

    paths (folders, MNIST root, device) -> data (validated MNIST, fixed split)
    -> augment (batched random affine, the one batch step) -> models (registry)
    -> recipe (TrainConfig, schedules, optimiser) -> train (the engine, resumable; distill for
    a teacher; numeric_path) -> run_files (what a run folder holds)
    -> checkpoints (weights_only loading) -> evaluate (logits, loss)
    -> stats (intervals, paired tests) / error_analysis / interpretation -> plots/
    atomic_files is used by every writer; receptive_field and digit_stats serve notebooks 02
    and 01.

``utils.experiments`` holds the commands that made ``results/`` (a run store and recipes over
it), ``utils.course`` the checkers, the student copy and the notebook parameter checks. The
library imports neither, except the two plot modules that draw the experiments' tables
(``plots.ablations``, ``plots.results``).

Nothing is imported here, so ``import utils.train`` loads only what training needs (no pandas,
no matplotlib); notebooks import from the submodules, so a reader sees where each function lives.
"""
