"""Checkpoints: atomic writes, safe loading, clear mismatch errors, and the metadata a run records."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from utils.atomic_files import atomic_torch_save, atomic_write_json
from utils.checkpoints import (
    CheckpointError,
    load_model_checkpoint,
    read_checkpoint,
    save_model_checkpoint,
)
from utils.data import MNISTSplits
from utils.evaluate import predict_logits
from utils.models import build_model, count_parameters
from utils.recipe import TrainConfig
from utils.train import (
    HISTORY_FILE,
    MODEL_FILE,
    STATE_FILE,
    FitResult,
    cpu_model,
    cpu_supports_bf16,
    fit,
)

ARCH, OTHER_ARCH = "micro2k", "compact8k"


class NotAWeight:
    """An arbitrary Python object: pickle can store it, ``weights_only`` loading must refuse it."""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def saved_model(folder: Path, arch: str = ARCH) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = build_model(arch)
    path = folder / "model.pt"
    save_model_checkpoint(path, model, arch, {"note": "test"})
    return path, model


# ------------------------------------------------------------------------------- writing


def test_atomic_save_leaves_no_temp_files(tmp_path):
    atomic_torch_save({"x": torch.arange(3)}, tmp_path / "a.pt")
    atomic_write_json({"b": 1}, tmp_path / "b.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.json"]
    assert torch.equal(read_checkpoint(tmp_path / "a.pt")["x"], torch.arange(3))
    assert json.loads((tmp_path / "b.json").read_text()) == {"b": 1}


def test_a_failing_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "state.pt"
    atomic_torch_save({"epoch": 1}, path)
    before = path.read_bytes()
    with pytest.raises((pickle.PicklingError, AttributeError)):  # a lambda cannot be pickled
        atomic_torch_save({"epoch": 2, "bad": lambda: None}, path)
    assert path.read_bytes() == before
    assert read_checkpoint(path) == {"epoch": 1}
    assert leftovers(tmp_path) == []


def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    atomic_torch_save({"epoch": 1}, path)

    def half_write_then_interrupt(obj, target):
        Path(target).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert read_checkpoint(path) == {"epoch": 1}
    assert leftovers(tmp_path) == []


def test_atomic_save_creates_missing_folders(tmp_path):
    atomic_write_json([1, 2], tmp_path / "a" / "b" / "c.json")
    assert json.loads((tmp_path / "a" / "b" / "c.json").read_text()) == [1, 2]


# ------------------------------------------------------------------------------- loading


def test_round_trip_restores_identical_weights_in_eval_mode(tmp_path):
    path, model = saved_model(tmp_path)
    loaded, info = load_model_checkpoint(path)
    assert info["arch"] == ARCH and info["metadata"] == {"note": "test"}
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_loading_uses_weights_only(tmp_path, monkeypatch):
    path, _ = saved_model(tmp_path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_model_checkpoint(path)
    assert calls and all(call.get("weights_only") is True for call in calls)


def test_a_checkpoint_holding_arbitrary_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"arch": ARCH, "state_dict": {}, "payload": NotAWeight()}, path)
    with pytest.raises(CheckpointError, match="Python objects besides tensors") as caught:
        load_model_checkpoint(path)
    assert "weights_only=False" not in str(caught.value)  # never advise unsafe loading


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda good: b"", "it is empty \\(0 bytes\\)"),
        (lambda good: good[: len(good) // 2], "it is truncated or corrupt"),
        (lambda good: bytes(range(256)) * 8, "not a PyTorch checkpoint"),
    ],
    ids=["empty", "truncated", "random-bytes"],
)
def test_unreadable_checkpoints_say_why_in_plain_words(tmp_path, make, reason):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.arange(50_000)}, good)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(make(good.read_bytes()))
    with pytest.raises(CheckpointError, match=reason) as caught:
        read_checkpoint(bad)
    message = str(caught.value)
    assert "bad.pt" in message and "weights_only" not in message and "Errno" not in message


def test_missing_or_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_model_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_model_checkpoint(tmp_path / "junk.pt")


def test_asking_for_another_arch_names_both(tmp_path):
    path, _ = saved_model(tmp_path)
    with pytest.raises(CheckpointError) as caught:
        load_model_checkpoint(path, arch=OTHER_ARCH)
    assert ARCH in str(caught.value) and OTHER_ARCH in str(caught.value)


def test_weights_that_do_not_fit_the_arch_name_both_shapes(tmp_path):
    state = build_model(ARCH).state_dict()
    key = next(k for k, v in state.items() if v.dim() == 4)  # the first conv weight
    wrong = dict(state)
    wrong[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 2)
    path = tmp_path / "wrong_shape.pth"
    torch.save(wrong, path)
    with pytest.raises(CheckpointError) as caught:
        load_model_checkpoint(path, arch=ARCH)
    message = str(caught.value)
    assert key in message and repr(ARCH) in message
    assert str(tuple(wrong[key].shape)) in message and str(tuple(state[key].shape)) in message


def test_weights_of_another_arch_report_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(build_model(OTHER_ARCH).state_dict(), path)
    with pytest.raises(CheckpointError, match=f"does not fit architecture '{ARCH}'"):
        load_model_checkpoint(path, arch=ARCH)


def test_a_bare_state_dict_needs_an_arch(tmp_path):
    model = build_model(ARCH)
    path = tmp_path / "bare.pth"
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="arch="):
        load_model_checkpoint(path)
    loaded, info = load_model_checkpoint(path, arch=ARCH)
    assert info["arch"] == ARCH
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())


# ------------------------------------------------------------------- what a run records


@pytest.fixture(scope="module")
def finished_run(splits: MNISTSplits, tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    small = replace(splits, train_images=splits.train_images[:1000],
                    train_labels=splits.train_labels[:1000],
                    val_images=splits.val_images[:300], val_labels=splits.val_labels[:300])
    config = TrainConfig(arch=ARCH, epochs=1, seed=3, device="cpu", train_subset=800,
                         amp="off", channels_last="off")
    return fit(config, small, run_dir=tmp_path_factory.mktemp("run"), progress=False, log=None)


def test_a_run_writes_its_files_atomically(finished_run):
    folder = finished_run.run_dir
    assert {p.name for p in folder.iterdir()} == {MODEL_FILE, HISTORY_FILE, STATE_FILE}


def test_model_checkpoint_metadata_says_how_it_was_made(finished_run):
    model, info = load_model_checkpoint(finished_run.run_dir / MODEL_FILE)
    meta = info["metadata"]
    config = finished_run.config
    assert info["arch"] == ARCH
    assert info["num_parameters"] == count_parameters(build_model(ARCH))
    assert info["torch_version"] == str(torch.__version__)
    assert meta["epochs"] == config.epochs and meta["seed"] == config.seed
    assert TrainConfig.from_dict(meta["config"]) == config  # every hyperparameter, redoable
    assert meta["val_acc"] == finished_run.history[-1]["val_acc"]
    assert meta["data_split"]["train"] == 1000 and meta["data_split"]["train_used"] == 800
    # the split it was given, not a hard-coded description of the default one
    assert meta["data_split"]["val"] == 300
    assert meta["data_split"]["val_source"].startswith("5,000 images stratified")
    assert meta["precision"] == {"forward": "float32", "channels_last": False,
                                 "cpu_bf16_kernels": cpu_supports_bf16()}
    assert meta["cpu"] == cpu_model() and meta["cpu"]
    mean, std = finished_run.normalization
    assert meta["normalization"] == {"mean": mean, "std": std}


def test_the_saved_model_predicts_like_the_trained_one(finished_run, splits):
    model, info = load_model_checkpoint(finished_run.run_dir / MODEL_FILE)
    norm = info["metadata"]["normalization"]
    images = splits.val_images[:200]
    expected = predict_logits(finished_run.model, images, *finished_run.normalization)
    torch.testing.assert_close(predict_logits(model, images, norm["mean"], norm["std"]), expected)


def test_history_json_matches_the_returned_history(finished_run):
    saved = json.loads((finished_run.run_dir / HISTORY_FILE).read_text())
    assert saved == finished_run.history
