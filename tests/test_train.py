"""The training engine: LR schedule, validation of settings, reproducibility, resume, test-set isolation.

Runs use a small slice of MNIST (1,500 training and 500 validation images), the 1.8k-parameter
``micro2k`` model, two epochs and the CPU, so the whole file takes seconds.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.mnist_slices import first_images
from utils.checkpoints import CheckpointError, read_checkpoint
from utils.data import MNISTSplits
from utils.models import available_models
from utils.recipe import TrainConfig, learning_rate_at, one_cycle_lr, steps_per_epoch
from utils.train import (
    HISTORY_FILE,
    MODEL_FILE,
    STATE_FILE,
    FitResult,
    cpu_supports_bf16,
    fit,
    load_history,
)

ARCH = "micro2k"
N_TRAIN, N_VAL = 1500, 500


@pytest.fixture(scope="module")
def small(splits: MNISTSplits) -> MNISTSplits:
    return first_images(splits, N_TRAIN, N_VAL)


def quick_config(**overrides) -> TrainConfig:
    values = {"arch": ARCH, "epochs": 2, "batch_size": 128, "seed": 0, "device": "cpu"}
    return TrainConfig(**{**values, **overrides})


def run(config: TrainConfig, splits: MNISTSplits, **kwargs) -> FitResult:
    return fit(config, splits, progress=False, log=None, **kwargs)


def without_seconds(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in record.items() if k not in ("seconds", "val_seconds")}
            for record in history]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), f"{key} differs"


def weights_differ(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return any(not torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


@pytest.fixture(scope="module")
def reference(small: MNISTSplits, tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    """One uninterrupted 2-epoch run, saved to disk, that the other runs are compared with."""
    return run(quick_config(), small, run_dir=tmp_path_factory.mktemp("reference"))


# ----------------------------------------------------------------------------- LR schedule


def test_one_cycle_starts_low_peaks_at_warmup_end_and_anneals():
    total, peak, pct = 100, 0.1, 0.2
    lrs = [one_cycle_lr(step, total, peak, pct) for step in range(total)]
    warm = round(pct * total)
    assert lrs[0] == pytest.approx(peak / 25)
    assert max(lrs) == pytest.approx(peak)
    assert lrs.index(max(lrs)) == warm
    assert lrs[-1] == pytest.approx(peak / (25 * 1e4), rel=1e-6)
    warmup, anneal = lrs[: warm + 1], lrs[warm:]
    assert all(b > a for a, b in zip(warmup, warmup[1:], strict=False))
    assert all(b < a for a, b in zip(anneal, anneal[1:], strict=False))


def test_one_cycle_is_a_cosine_halfway_through_each_phase():
    total, peak = 101, 1.0
    warm = round(0.2 * total)
    start, end = peak / 25, peak / 25 / 1e4
    assert one_cycle_lr(warm // 2, total, peak) == pytest.approx(
        peak + (start - peak) * (1 + math.cos(math.pi * (warm // 2) / warm)) / 2
    )
    middle = warm + (total - 1 - warm) // 2
    assert one_cycle_lr(middle, total, peak) == pytest.approx((peak + end) / 2, rel=1e-3)


def test_learning_rate_at_covers_the_whole_run_and_constant_schedule():
    config = quick_config(epochs=3, lr=0.05)
    n = steps_per_epoch(config, 1000)
    assert n == math.ceil(1000 / 128)
    assert steps_per_epoch(quick_config(train_subset=300), 1000) == math.ceil(300 / 128)
    assert learning_rate_at(config, 0, n) == pytest.approx(0.05 / 25)
    assert learning_rate_at(config, 3 * n - 1, n) == pytest.approx(0.05 / 25 / 1e4)
    constant = quick_config(schedule="constant", lr=0.05)
    assert {learning_rate_at(constant, s, n) for s in range(3 * n)} == {0.05}


def test_fit_follows_the_planned_schedule(reference: FitResult, small: MNISTSplits):
    n = steps_per_epoch(reference.config, len(small.train_labels))
    for record in reference.history:
        last_step = record["epoch"] * n - 1
        assert record["lr"] == pytest.approx(learning_rate_at(reference.config, last_step, n))


# ------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"arch": "resnet50"}, r"Unknown model\(s\) 'resnet50'"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": -3}, "epochs must be a positive integer"),
        ({"epochs": 1.5}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"augment_strength": -1.0}, "strength must be >= 0"),
        ({"train_subset": N_TRAIN + 1}, "larger than the training split"),
        ({"train_subset": 0}, "train_subset must be a positive integer"),
        ({"device": "tpu"}, "device"),
        ({"swa_epochs": 2, "swa_lr": 0.01}, "leaves no epoch of the 2"),
        ({"swa_epochs": 1}, r"swa_lr must be in \(0, lr=0.1\]"),
        ({"swa_epochs": 1, "swa_lr": 0.5}, r"swa_lr must be in \(0, lr=0.1\]"),
        ({"swa_lr": 0.01}, "does nothing without swa_epochs"),
        ({"swa_epochs": -1}, "swa_epochs must be a whole number"),
        ({"swa_epochs": 1, "swa_lr": 0.01, "ema_decay": 0.9}, "two ways to average"),
        ({"swa_epochs": 1, "swa_lr": 0.01, "schedule": "constant"}, "SWA follows the onecycle"),
    ],
)
def test_bad_settings_fail_before_any_work(small, tmp_path, overrides, message):
    messages: list[str] = []
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        fit(quick_config(**overrides), small, run_dir=run_dir, progress=False, log=messages.append)
    assert messages == [], "fit started (logged) before rejecting the settings"
    assert not run_dir.exists(), "fit wrote files before rejecting the settings"


def test_unknown_arch_lists_the_valid_names(small):
    with pytest.raises(ValueError) as caught:
        run(quick_config(arch="resnet50"), small)
    for name in available_models():
        assert name in str(caught.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present here")
def test_cuda_without_a_gpu_is_a_clear_error(small):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        run(quick_config(device="cuda"), small)


def test_resume_needs_an_output_folder(small):
    with pytest.raises(ValueError, match="run_dir"):
        run(quick_config(), small, resume=True)


# ------------------------------------------------------------------------ reproducibility


def test_same_seed_gives_identical_history_and_weights(reference, small):
    again = run(quick_config(), small)
    assert without_seconds(again.history) == without_seconds(reference.history)
    assert_same_weights(again.model, reference.model)
    assert again.normalization == reference.normalization


def test_a_different_seed_gives_a_different_run(reference, small):
    other = run(quick_config(seed=1), small)
    assert without_seconds(other.history) != without_seconds(reference.history)
    assert weights_differ(other.model, reference.model)


def test_history_records_every_epoch(reference):
    assert [r["epoch"] for r in reference.history] == [1, 2]
    for record in reference.history:
        assert set(record) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                               "seconds", "val_seconds"}
        assert 0 <= record["train_acc"] <= 1 and 0 <= record["val_acc"] <= 1
        assert record["train_loss"] > 0 and record["seconds"] > record["val_seconds"] > 0
    # The model learns something even in two epochs on 1,500 images (chance is 10%).
    assert reference.history[-1]["train_loss"] < reference.history[0]["train_loss"]


# ------------------------------------------------------------------------------- resume


class Interrupt(KeyboardInterrupt):
    """What Ctrl-C in a notebook raises, from inside the training loop."""


def interrupt_after(epoch: int):
    def callback(record: dict[str, float]) -> None:
        if record["epoch"] == epoch:
            raise Interrupt

    return callback


def test_interrupted_run_resumes_to_the_same_result(reference, small, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(quick_config(), small, run_dir=run_dir, on_epoch_end=interrupt_after(1))
    assert (run_dir / STATE_FILE).is_file()
    assert not (run_dir / MODEL_FILE).exists() and not (run_dir / HISTORY_FILE).exists()
    assert read_checkpoint(run_dir / STATE_FILE)["epoch"] == 1

    messages: list[str] = []
    resumed = fit(quick_config(), small, run_dir=run_dir, resume=True, progress=False,
                  log=messages.append)
    assert any("Resumed" in m and "after epoch 1" in m for m in messages)
    assert without_seconds(resumed.history) == without_seconds(reference.history)
    assert_same_weights(resumed.model, reference.model)
    assert without_seconds(load_history(run_dir)) == without_seconds(reference.history)


def test_resume_without_a_saved_state_starts_from_scratch(reference, small, tmp_path):
    messages: list[str] = []
    result = fit(quick_config(), small, run_dir=tmp_path / "fresh", resume=True, progress=False,
                 log=messages.append)
    assert any("starting from scratch" in m for m in messages)
    assert without_seconds(result.history) == without_seconds(reference.history)


def test_resume_with_different_settings_is_refused(small, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(quick_config(), small, run_dir=run_dir, on_epoch_end=interrupt_after(1))
    with pytest.raises(CheckpointError, match="different settings") as caught:
        run(quick_config(lr=0.05, label_smoothing=0.0), small, run_dir=run_dir, resume=True)
    message = str(caught.value)
    # Names only the settings that differ, old and new value, not two whole config dicts.
    assert "label_smoothing: saved 0.05, now 0.0" in message
    assert "lr: saved 0.1, now 0.05" in message
    assert "batch_size" not in message and len(message) < 400
    assert not (run_dir / MODEL_FILE).exists()


def test_a_finished_model_is_not_resumed_as_a_training_state(small, tmp_path):
    run_dir = tmp_path / "run"
    run(quick_config(epochs=1), small, run_dir=run_dir)
    (run_dir / MODEL_FILE).replace(run_dir / STATE_FILE)  # model.pt copied in as last.pt
    with pytest.raises(CheckpointError, match="finished model .*cannot be resumed"):
        run(quick_config(), small, run_dir=run_dir, resume=True)


def dead_pid() -> int:
    """The process id of a process that has exited (the writer of a leftover temp file)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_resume_removes_temp_files_left_by_a_killed_save(small, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(quick_config(), small, run_dir=run_dir, on_epoch_end=interrupt_after(1))
    stale = run_dir / f".{STATE_FILE}.{dead_pid()}.abc123.tmp"
    stale.write_bytes(b"")  # what a kill -9 during torch.save leaves behind
    run(quick_config(), small, run_dir=run_dir, resume=True)
    assert not stale.exists()
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([HISTORY_FILE, MODEL_FILE, STATE_FILE])


# ---------------------------------------------------------------- the test split is unused


class Poisoned:
    """Stands in for the test tensors: any use at all fails the test."""

    def _fail(self, *args, **kwargs):
        raise AssertionError("fit touched the test split")

    __getattr__ = __len__ = __getitem__ = __iter__ = __array__ = _fail

    @classmethod
    def __torch_function__(cls, *args, **kwargs):
        raise AssertionError("fit touched the test split")


def test_fit_never_reads_the_test_split(reference, small):
    blind = replace(small, test_images=Poisoned(), test_labels=Poisoned())
    result = run(quick_config(), blind)
    assert without_seconds(result.history) == without_seconds(reference.history)
    assert_same_weights(result.model, reference.model)


def test_fit_ignores_nonsense_test_tensors(reference, small):
    nonsense = replace(small, test_images=torch.full((3, 28, 28), float("nan")),
                       test_labels=torch.tensor([-1, 99, 7]))
    result = run(quick_config(), nonsense)
    assert without_seconds(result.history) == without_seconds(reference.history)


# ------------------------------------------------------------------------------ divergence
def diverging_config(**overrides) -> TrainConfig:
    """A constant learning rate so large that the first epoch's loss is already NaN."""
    return quick_config(epochs=3, lr=1e3, schedule="constant", **overrides)


def test_a_run_that_trains_normally_records_no_divergence(reference):
    assert reference.diverged_at_epoch is None
    assert read_checkpoint(reference.run_dir / MODEL_FILE)["metadata"]["diverged_at_epoch"] is None


def test_a_diverged_run_stops_and_is_saved_as_it_is(small, tmp_path):
    messages: list[str] = []
    result = fit(diverging_config(), small, run_dir=tmp_path, progress=False,
                 log=messages.append)
    assert result.diverged_at_epoch == 1 and len(result.history) == 1  # not 3 epochs of NaN
    assert any(m.startswith("Stopped after epoch 1 of 3") for m in messages)
    on_disk = json.loads((tmp_path / HISTORY_FILE).read_text())  # standard JSON: null, not NaN
    assert on_disk[0]["train_loss"] is None and on_disk[0]["val_loss"] is None
    assert 0 <= on_disk[0]["val_acc"] <= 1
    history = load_history(tmp_path)
    assert math.isnan(history[0]["train_loss"]) and math.isnan(history[0]["val_loss"])
    metadata = read_checkpoint(tmp_path / MODEL_FILE)["metadata"]
    assert metadata["diverged_at_epoch"] == 1 and metadata["val_loss"] is None


def test_a_diverged_run_is_not_trained_on_when_resumed(small, tmp_path):
    with pytest.raises(KeyboardInterrupt):  # interrupted after last.pt of the NaN epoch
        run(diverging_config(), small, run_dir=tmp_path, on_epoch_end=interrupt_after(1))
    messages: list[str] = []
    resumed = fit(diverging_config(), small, run_dir=tmp_path, resume=True, progress=False,
                  log=messages.append)
    assert resumed.diverged_at_epoch == 1 and len(resumed.history) == 1
    assert any(m.startswith("Stopped after epoch 1 of 3") for m in messages)
    assert (tmp_path / MODEL_FILE).is_file()


@pytest.mark.parametrize(("records", "message"), [
    ([{"train_loss": None}, {}], "epoch record 0 has train_loss"),  # only the last may diverge
    ([{}, {"val_acc": None}], "epoch record 1 has val_acc"),  # accuracies are always numbers
    ([{}, {"val_loss": None}], "epoch record 1 has val_loss"),  # the training loss diverges first
])
def test_load_history_accepts_no_other_missing_numbers(tmp_path, records, message):
    fine = {"epoch": 1, "train_loss": 0.5, "train_acc": 0.9, "val_loss": 0.4, "val_acc": 0.9,
            "lr": 0.1, "seconds": 1.0}
    path = tmp_path / HISTORY_FILE
    path.write_text(json.dumps([{**fine, "epoch": i + 1, **r} for i, r in enumerate(records)]))
    with pytest.raises(ValueError, match=message):
        load_history(path)


# --------------------------------------------------------------------------- load_history


def test_load_history_reads_a_file_or_a_run_folder(reference):
    folder = reference.run_dir
    assert load_history(folder) == load_history(folder / HISTORY_FILE)
    assert without_seconds(load_history(folder)) == without_seconds(reference.history)


def test_load_history_explains_missing_or_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No training history"):
        load_history(tmp_path)
    bad = tmp_path / HISTORY_FILE
    bad.write_text(json.dumps([{"epoch": 1, "train_loss": 0.5}]))
    with pytest.raises(ValueError, match="lacks"):
        load_history(bad)
    Path(bad).write_text("[]")
    with pytest.raises(ValueError, match="non-empty list"):
        load_history(bad)


# ------------------------------------------------------------------ training plots


def test_lr_schedule_plot_draws_the_engine_schedule():
    import matplotlib.pyplot as plt

    from utils.plots.training import plot_lr_schedule
    from utils.recipe import lr_schedule

    config = quick_config(epochs=3)
    lrs = lr_schedule(config, 10)
    assert lrs == [learning_rate_at(config, step, 10) for step in range(30)]
    fig = plot_lr_schedule(config, 10)
    drawn = fig.axes[0].lines[0].get_ydata()
    assert list(drawn) == lrs
    plt.close(fig)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        lr_schedule(config, 0)


def test_training_curves_plot_the_history(reference):
    import matplotlib.pyplot as plt

    from utils.plots.training import plot_training_curves

    fig = plot_training_curves(reference.history, title="test")
    loss_ax, acc_ax, lr_ax = fig.axes
    assert list(loss_ax.lines[1].get_ydata()) == [r["val_loss"] for r in reference.history]
    assert list(acc_ax.lines[0].get_ydata()) == [100 * r["train_acc"] for r in reference.history]
    assert list(lr_ax.lines[0].get_ydata()) == [r["lr"] for r in reference.history]
    assert loss_ax.get_yscale() == "log"
    accuracies = [100 * r[k] for r in reference.history for k in ("train_acc", "val_acc")]
    assert acc_ax.get_ylim()[0] <= min(accuracies)  # no epoch is clipped (epoch 1 included)
    plt.close(fig)
    with_floor = plot_training_curves(reference.history, loss_floor=0.28)
    assert list(with_floor.axes[0].lines[-1].get_ydata()) == [0.28, 0.28]
    plt.close(with_floor)
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves([])
    with pytest.raises(ValueError, match="val_acc"):
        plot_training_curves([{k: v for k, v in reference.history[0].items() if k != "val_acc"}])


def test_augmentation_preview_shows_originals_and_variants(small):
    import matplotlib.pyplot as plt

    from utils.augment import AugmentConfig
    from utils.plots.training import plot_augmentation_preview

    fig = plot_augmentation_preview(small.train_images[:5], AugmentConfig(), n_variants=3)
    assert len(fig.axes) == (3 + 1) * 5
    original = fig.axes[0].images[0].get_array()
    assert (original * 255).round().tolist() == small.train_images[0].float().tolist()
    assert fig.axes[5].images[0].get_array().tolist() != original.tolist()
    plt.close(fig)
    with pytest.raises(ValueError, match="uint8"):
        plot_augmentation_preview(small.train_images[:5].float(), AugmentConfig())


# ------------------------------------------------------------------ numeric paths


@pytest.mark.parametrize(("amp", "channels_last"),
                         [("off", "off"), ("off", "on"), ("on", "off"), ("on", "on")])
def test_every_numeric_path_trains_and_is_deterministic(small, amp, channels_last, tmp_path):
    """Forced on any machine: bf16 autocast runs (emulated where the CPU lacks bf16 kernels)."""
    config = quick_config(epochs=1, train_subset=256, amp=amp, channels_last=channels_last)
    first = run(config, small, run_dir=tmp_path / "a")
    again = run(config, small)
    assert without_seconds(first.history) == without_seconds(again.history)
    assert_same_weights(first.model, again.model)
    assert all(v.dtype == torch.float32 for v in first.model.state_dict().values()
               if v.dtype.is_floating_point)  # master weights stay fp32
    precision = read_checkpoint(tmp_path / "a" / MODEL_FILE)["metadata"]["precision"]
    assert precision == {"forward": "bfloat16 autocast" if amp == "on" else "float32",
                         "channels_last": channels_last == "on",
                         "cpu_bf16_kernels": cpu_supports_bf16()}


def test_cpu_bf16_autocast_rounds_inputs_and_result_but_sums_in_high_precision():
    """What makes a bf16 run on a CPU without bf16 kernels (emulated) a fair stand-in for one
    with them, numerically: both round the conv's inputs to bf16, sum the products in float32
    and round the result once. A bf16 accumulator would be off by many units in the last place."""
    torch.manual_seed(0)
    x, w = torch.randn(16, 16, 14, 14), torch.randn(32, 16, 3, 3) * 0.1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = F.conv2d(x, w, padding=1)
    assert y.dtype == torch.bfloat16
    exact = F.conv2d(x.bfloat16().double(), w.bfloat16().double(), padding=1)  # then rounded once
    ulps = (y.double() - exact.bfloat16().double()).abs() / (exact.abs() * 2**-7).clamp_min(1e-30)
    assert float((ulps == 0).double().mean()) > 0.999  # the rest: ties between two roundings
    assert float(ulps.max()) <= 1.5


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_picks_bf16_and_channels_last_only_where_the_cpu_has_bf16(monkeypatch, bf16):
    import utils.numeric_path as numeric_path

    monkeypatch.setattr(numeric_path, "cpu_supports_bf16", lambda: bf16)

    def path(**switches) -> tuple[bool, bool]:
        config = quick_config(**switches)
        numeric = numeric_path.resolve_numeric_path(config.amp, config.channels_last,
                                                    torch.device("cpu"))
        return numeric.bf16_autocast, numeric.channels_last

    assert path() == (bf16, bf16)
    assert path(amp="off", channels_last="on") == (False, True)  # forced switches win
    # float32 keeps NCHW under "auto", so amp="off" is the float32 runs' very path on any CPU;
    # forced bf16 without bf16 kernels (emulated) gains nothing from channels_last either.
    assert path(amp="off") == (False, False)
    assert path(amp="on") == (True, bf16)


def test_a_run_keeps_its_numeric_path_when_resumed_on_another_cpu(small, tmp_path, monkeypatch):
    """A run that "auto" started in bf16 on a CPU with bf16 kernels is not silently continued in
    float32 on a CPU without them (the checkpoint would then misreport its path): the resume is
    refused with the switches that continue it, and those reproduce the uninterrupted run."""
    import utils.numeric_path as numeric_path

    config = quick_config(train_subset=256)
    monkeypatch.setattr(numeric_path, "cpu_supports_bf16", lambda: True)
    uninterrupted = run(config, small)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(config, small, run_dir=run_dir, on_epoch_end=interrupt_after(1))

    monkeypatch.setattr(numeric_path, "cpu_supports_bf16", lambda: False)  # "another machine"
    with pytest.raises(CheckpointError, match="one numeric path") as caught:
        run(config, small, run_dir=run_dir, resume=True)
    message = str(caught.value)
    assert "first 1 epoch(s) ran with bf16 autocast, channels_last" in message
    assert "give fp32, NCHW here" in message
    assert "resume with amp='on', channels_last='on'" in message
    assert not (run_dir / MODEL_FILE).exists()

    resumed = run(replace(config, amp="on", channels_last="on"), small, run_dir=run_dir,
                  resume=True)
    assert without_seconds(resumed.history) == without_seconds(uninterrupted.history)
    assert_same_weights(resumed.model, uninterrupted.model)
    precision = read_checkpoint(run_dir / MODEL_FILE)["metadata"]["precision"]
    assert (precision["forward"], precision["channels_last"]) == ("bfloat16 autocast", True)


def test_switches_spelled_differently_still_must_match_in_an_older_last_pt(small, tmp_path):
    """A last.pt written before the path was recorded has only the switches to go by."""
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(quick_config(), small, run_dir=run_dir, on_epoch_end=interrupt_after(1))
    state = read_checkpoint(run_dir / STATE_FILE)
    del state["numeric_path"]
    torch.save(state, run_dir / STATE_FILE)
    with pytest.raises(CheckpointError, match="amp: saved 'auto', now 'off'"):
        run(quick_config(amp="off"), small, run_dir=run_dir, resume=True)


def test_bad_switch_values_are_refused(small):
    with pytest.raises(ValueError, match="amp must be one of"):
        run(quick_config(amp=True), small)


def test_old_checkpoint_configs_still_load():
    """Configs saved before the switches became strings (and with eval_batch_size) load."""
    old = {**quick_config().to_dict(), "amp": True, "channels_last": False,
           "eval_batch_size": 1000}
    config = TrainConfig.from_dict(old)
    assert (config.amp, config.channels_last) == ("auto", "off")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_cuda_path_trains_and_is_deterministic(small):
    config = quick_config(epochs=1, train_subset=256, device="cuda")
    first, again = run(config, small), run(config, small)
    assert without_seconds(first.history) == without_seconds(again.history)


# ------------------------------------------------------------ stochastic weight averaging


def swa_config(**overrides) -> TrainConfig:
    return quick_config(epochs=3, swa_epochs=2, swa_lr=0.02, **overrides)


def test_swa_schedule_is_a_shorter_cycle_then_a_constant_rate():
    config, n = swa_config(), 10
    rates = [learning_rate_at(config, step, n) for step in range(config.epochs * n)]
    assert rates[:n] == [one_cycle_lr(step, n, config.lr, config.pct_start) for step in range(n)]
    assert rates[n:] == [0.02] * (2 * n)


def test_swa_hands_on_the_average_of_its_epochs_weights(small, tmp_path):
    """The model a SWA run saves is the mean of the weights at the end of its SWA epochs
    (read from last.pt after each), with BatchNorm statistics of its own; resumed, the same."""
    raw: list[dict[str, torch.Tensor]] = []

    def keep(record: dict[str, float]) -> None:
        raw.append({k: v.clone() for k, v in read_checkpoint(tmp_path / "a" / STATE_FILE)["model"].items()})

    result = run(swa_config(), small, run_dir=tmp_path / "a", on_epoch_end=keep)
    saved = read_checkpoint(tmp_path / "a" / MODEL_FILE)["state_dict"]
    learnt = [k for k, _ in result.model.named_parameters()]
    for key in learnt:
        assert torch.allclose(saved[key], (raw[1][key] + raw[2][key]) / 2, atol=1e-6), key
    assert not torch.allclose(saved[learnt[0]], raw[2][learnt[0]])  # not the last weights
    means = [k for k in saved if k.endswith("running_mean")]
    assert means and any(not torch.allclose(saved[k], raw[2][k]) for k in means)
    assert [h["lr"] for h in result.history][1:] == [0.02, 0.02]
    with pytest.raises(KeyboardInterrupt):
        run(swa_config(), small, run_dir=tmp_path / "b", on_epoch_end=interrupt_after(2))
    resumed = run(swa_config(), small, run_dir=tmp_path / "b", resume=True)
    assert without_seconds(resumed.history) == without_seconds(result.history)
    assert_same_weights(resumed.model, result.model)
