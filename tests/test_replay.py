"""Replaying a run's first epoch: identical on the machine and numeric path that trained it,
"different" when the recorded history is not what this machine computes, and a clear refusal,
before any training, of a folder it cannot replay."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.mnist_slices import first_images
from utils.data import MNISTSplits
from utils.experiments.replay import main, recorded_run, replay, report
from utils.recipe import TrainConfig
from utils.run_files import HISTORY_FILE, MODEL_FILE, RunFolderError
from utils.train import fit


@pytest.fixture(scope="module")
def small(splits: MNISTSplits) -> MNISTSplits:
    return first_images(splits, 1500, 500)


@pytest.fixture(scope="module")
def trained(small, tmp_path_factory):
    """A finished two-epoch run; "auto" lets this machine pick its numeric path."""
    run_dir = tmp_path_factory.mktemp("runs") / "seed0"
    config = TrainConfig(arch="micro2k", epochs=2, seed=0, device="cpu", amp="auto")
    fit(config, small, run_dir=run_dir, progress=False, log=None)
    return run_dir


def test_a_run_trained_here_replays_identically_on_its_own_numeric_path(trained, small):
    run = recorded_run(trained)
    assert run.config.amp in ("on", "off") and run.config.channels_last in ("on", "off")  # never "auto"
    result = replay(run, small)
    assert result["identical"] and result["here"] == result["recorded"]
    assert result["recorded"]["train_loss"] == run.first_epoch["train_loss"]
    assert "identical" in report(result)


def test_a_history_made_by_other_arithmetic_is_told_apart(trained, small, tmp_path):
    copy = tmp_path / "seed0"
    shutil.copytree(trained, copy)
    history = json.loads((copy / HISTORY_FILE).read_text())
    history[0]["train_loss"] *= 1 + 1e-12  # a rounding difference, as another CPU would make
    (copy / HISTORY_FILE).write_text(json.dumps(history))
    result = replay(recorded_run(copy), small)
    assert not result["identical"]
    assert "different" in report(result)


def test_a_folder_without_a_finished_run_is_refused_with_its_fix(tmp_path, capsys):
    with pytest.raises(RunFolderError, match="finished run folder"):
        recorded_run(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "finished run folder" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine could replay a GPU run")
def test_a_gpu_run_is_refused_on_a_machine_without_one(trained, tmp_path):
    copy = tmp_path / "seed0"
    shutil.copytree(trained, copy)
    payload = torch.load(copy / MODEL_FILE, weights_only=False)
    payload["metadata"]["config"]["device"] = "cuda"
    torch.save(payload, copy / MODEL_FILE)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        recorded_run(copy)
