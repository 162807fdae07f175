"""Notebook 03's live training loop is ``fit``: the cell tagged ``live-loop``, read from the
notebook and executed as it stands with the training step the student writes (exercise 03.7,
its solution cell), gives bit-identical weights to ``fit`` for the same settings.

The loop is written out in the notebook (not hidden in ``utils``) so that students see it; this
test keeps it honest: it must draw random numbers in the same order as ``fit`` (seed, model
build, generator, shuffle, augmentation draws) and take the same steps.
"""

from __future__ import annotations

import nbformat
import pytest
import torch
import torch.nn.functional as F

from utils.data import MNISTSplits
from utils.paths import REPO_ROOT
from utils.recipe import TrainConfig
from utils.train import fit

NOTEBOOK = REPO_ROOT / "notebooks" / "03_training.ipynb"
LIVE_TAG = "live-loop"
STEP_CELL_ID = "e03-7-answer"  # the solution of exercise 03.7: def training_step(...)


def live_loop_source() -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if LIVE_TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{NOTEBOOK.name} must have exactly one cell tagged {LIVE_TAG!r}"
    assert cells[0].cell_type == "code"
    return cells[0].source


def step_source() -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if c.get("id") == STEP_CELL_ID]
    assert len(cells) == 1, f"{NOTEBOOK.name} must have the cell {STEP_CELL_ID!r} (exercise 03.7)"
    return cells[0].source


def run_live_loop(source: str, splits: MNISTSplits, arch: str, seed: int,
                  step: str | None = None) -> dict:
    """Execute the step's cell, then the loop's, with the names the notebook gives them
    (``splits``, ``config`` and ``F``)."""
    namespace = {"splits": splits, "config": TrainConfig(arch=arch, seed=seed), "F": F}
    exec(compile(step_source() if step is None else step, STEP_CELL_ID, "exec"), namespace)
    exec(compile(source, f"{NOTEBOOK.name}[{LIVE_TAG}]", "exec"), namespace)
    return namespace


def fit_weights(live: TrainConfig, splits: MNISTSplits) -> dict[str, torch.Tensor]:
    return fit(live, splits, progress=False, log=None).model.state_dict()


def differing(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> list[str]:
    assert got.keys() == expected.keys()
    return [name for name in expected if not torch.equal(got[name], expected[name])]


def test_the_cell_is_the_loop_itself_not_a_call_to_fit():
    source, step = live_loop_source(), step_source()
    assert "fit(" not in source and "train_one_epoch" not in source
    assert "training_step(" in source and "utils.train import training_step" not in source
    for needle in ("for step in range(", "training_batch(", "make_optimizer(",
                   "learning_rate_at(", "torch.randperm("):
        assert needle in source, f"the live loop no longer shows {needle!r}"
    for needle in ("F.cross_entropy(", "label_smoothing=", "zero_grad(", "loss.backward()",
                   "opt.step()"):
        assert needle in step, f"the training step (exercise 03.7) no longer shows {needle!r}"


@pytest.mark.parametrize("arch, seed", [("primary19k", 0), ("micro2k", 3)])
def test_live_loop_gives_fits_weights(splits: MNISTSplits, arch: str, seed: int,
                                      capsys: pytest.CaptureFixture[str]):
    namespace = run_live_loop(live_loop_source(), splits, arch, seed)
    live = namespace["live"]
    assert (live.arch, live.seed, live.epochs, live.amp, live.channels_last) == (
        arch, seed, 1, "off", "off")
    assert live.train_subset is not None and live.train_subset <= 4096, "a small, quick subset"
    assert "loss" in capsys.readouterr().out, "the loop prints its progress"
    wrong = differing(namespace["net"].state_dict(), fit_weights(live, splits))
    assert not wrong, f"the notebook's loop and fit() differ in {wrong}"


def test_the_comparison_catches_a_changed_loop(splits: MNISTSplits):
    """A step that skips label smoothing (one small change) no longer matches fit()."""
    step = step_source()
    changed = step.replace("label_smoothing=label_smoothing", "label_smoothing=0.0")
    assert changed != step
    namespace = run_live_loop(live_loop_source(), splits, "micro2k", 3, step=changed)
    assert differing(namespace["net"].state_dict(), fit_weights(namespace["live"], splits))
