"""Building blocks of the speed benchmark (benchmarks/bench_speed.py), on tiny data.

The benchmark itself prints timings and is never run as a test; these tests check that the
two pipelines feed the model the same kind of batches and that the bookkeeping is right.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset

from benchmarks import bench_speed
from benchmarks.original_pipeline import (
    EpochRecord,
    OriginalRecipe,
    make_loader,
    make_original_optimizer,
    original_train_dataset,
    original_transform,
    split_indices,
    train_original_recipe,
)
from utils.augment import AugmentConfig

RECIPE = OriginalRecipe()
LOW = (0.0 - RECIPE.mean) / RECIPE.std  # a black pixel after normalisation
HIGH = (1.0 - RECIPE.mean) / RECIPE.std  # a white pixel


@pytest.fixture(scope="module")
def tiny(splits):
    """256 training and 200 validation images, and the original-style dataset of the same 256."""
    small = replace(splits, train_images=splits.train_images[:256],
                    train_labels=splits.train_labels[:256], val_images=splits.val_images[:200],
                    val_labels=splits.val_labels[:200])
    train_idx, _ = split_indices()
    return small, original_train_dataset(None, train_idx[:256])


def test_original_dataset_holds_our_training_images(tiny) -> None:
    small, dataset = tiny
    assert isinstance(dataset, Subset) and len(dataset) == 256
    base = dataset.dataset
    idx = torch.tensor(dataset.indices)
    assert torch.equal(base.data[idx], small.train_images)
    assert torch.equal(base.targets[idx], small.train_labels)


def test_both_pipelines_give_same_kind_of_batch(tiny) -> None:
    small, dataset = tiny
    x_orig, y_orig = next(iter(make_loader(dataset, batch_size=64)))
    augment = AugmentConfig(rotation_deg=RECIPE.rotation_deg, translate_px=0.0, scale=0.0)
    x_ours, y_ours = next(bench_speed.ours_batches(small.train_images, small.train_labels, 64,
                                                   augment, RECIPE.mean, RECIPE.std))
    for x, y in ((x_orig, y_orig), (x_ours, y_ours)):
        assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32
        assert y.shape == (64,) and y.dtype == torch.int64
        assert x.min().item() == pytest.approx(LOW, abs=1e-5)  # MNIST borders are black
        assert x.max().item() <= HIGH + 1e-5
        assert x.max().item() > HIGH - 0.5  # digits reach (near) white
    # same normalisation: the mean pixel of the two batches agree closely
    assert x_orig.mean().item() == pytest.approx(x_ours.mean().item(), abs=0.15)


def test_unaugmented_pipelines_are_pixel_identical(tiny, splits) -> None:
    """With augmentation off, the PIL/ToTensor/Normalize path and ours give the same tensor."""
    small, _ = tiny
    idx = torch.tensor(tiny[1].indices[:3])
    plain = original_train_dataset(None, idx, original_transform(replace(RECIPE, rotation_deg=0)))
    for i in range(3):
        x_orig, y_orig = plain[i]
        x_ours, y_ours = next(bench_speed.ours_batches(
            small.train_images[i : i + 1], small.train_labels[i : i + 1], 1,
            AugmentConfig(0.0, 0.0, 0.0), RECIPE.mean, RECIPE.std))
        assert y_orig == int(y_ours[0])
        torch.testing.assert_close(x_ours[0], x_orig, atol=1e-6, rtol=0)


def test_original_recipe_settings() -> None:
    model = torch.nn.Linear(2, 2)
    group = make_original_optimizer(model, RECIPE).param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.003, 1e-5)
    assert len(group["params"]) == 2  # weight decay on every parameter, biases included
    names = [type(t).__name__ for t in original_transform().transforms]
    assert names == ["RandomRotation", "ToTensor", "Normalize"]
    assert (RECIPE.batch_size, RECIPE.arch, RECIPE.num_workers) == (64, "original19k", 0)


def test_time_steps_counts_images() -> None:
    batches = iter([(torch.zeros(5, 1), torch.zeros(5))] * 3 + [(torch.zeros(2, 1),
                                                                 torch.zeros(2))])
    calls = []
    images, seconds = bench_speed.time_steps(batches, n_steps=2, warmup=2,
                                             device=torch.device("cpu"),
                                             step=lambda x, y: calls.append(len(y)))
    assert images == 5 + 2 and seconds > 0
    assert calls == [5, 5, 5, 2]  # warm-up steps run, but are not counted


def test_measure_throughput_shape(tiny) -> None:
    small, dataset = tiny
    settings = bench_speed.BenchSettings(throughput_steps=2, warmup_steps=1, rounds=2)
    row = bench_speed.measure_throughput("micro2k", 32, small, dataset, torch.device("cpu"),
                                         settings)
    assert (row["arch"], row["batch_size"], row["params"]) == ("micro2k", 32, 1_790)
    for key in ("original_train", "ours_train", "original_data", "ours_data"):
        assert len(row["rounds_ips"][key]) == 2 and row[f"{key}_ips"] > 0
    assert row["speedup_train"] == pytest.approx(row["ours_train_ips"] / row["original_train_ips"])


def _records(accs: list[float], train_s: float = 10.0) -> list[EpochRecord]:
    return [EpochRecord(i + 1, train_s + i, 1.0, acc, 0.1) for i, acc in enumerate(accs)]


def test_summarize_counts_training_time_until_target() -> None:
    summary = bench_speed.summarize(_records([0.98, 0.993, 0.994, 0.996]), target=0.994)
    assert summary["reached"] and summary["epoch_reached"] == 3
    assert summary["train_seconds_to_target"] == pytest.approx(10 + 11 + 12)
    assert summary["eval_seconds_total"] == pytest.approx(4.0)
    missed = bench_speed.summarize(_records([0.98, 0.99]), target=0.994)
    assert not missed["reached"] and missed["train_seconds_to_target"] is None
    assert missed["epochs_run"] == 2 and missed["best_val_acc"] == 0.99


def test_tta_ratio() -> None:
    def side(name: str, accs: list[float], train_s: float) -> dict:
        return {"side": name, **bench_speed.summarize(_records(accs, train_s), 0.994)}

    assert bench_speed.tta_ratio(side("original", [0.995], 30.0),
                                 side("ours", [0.995], 10.0)) == "3.0x"
    assert bench_speed.tta_ratio(side("original", [0.99], 30.0),
                                 side("ours", [0.995], 10.0)).startswith("> 3.0x")
    assert bench_speed.tta_ratio(side("original", [0.995], 30.0),
                                 side("ours", [0.99], 10.0)).startswith("n/a")
    assert bench_speed.tta_ratio(None, side("ours", [0.995], 10.0)).startswith("n/a")


def test_original_recipe_stops_at_target(tiny) -> None:
    small, dataset = tiny
    loader = make_loader(dataset, 64)
    cpu = torch.device("cpu")
    stopped = train_original_recipe(loader, small.val_images, small.val_labels, cpu,
                                    max_epochs=3, target=0.0, log=None)
    assert len(stopped) == 1 and stopped[0].lr == RECIPE.lr
    unreachable = train_original_recipe(loader, small.val_images, small.val_labels, cpu,
                                        max_epochs=2, target=1.01, log=None)
    assert [r.epoch for r in unreachable] == [1, 2]
    assert all(r.train_seconds > 0 and r.eval_seconds > 0 for r in unreachable)


def test_ours_time_to_accuracy_stops_early_and_splits_time(tiny) -> None:
    small, _ = tiny
    settings = bench_speed.BenchSettings(max_epochs=5, target=0.0, ours_epochs=3)
    result = bench_speed.time_to_accuracy_ours(small, torch.device("cpu"), settings)
    assert result["side"] == "ours fp32, NCHW" and result["arch"] == "primary19k"
    assert result["epochs_run"] == 1 and result["epoch_reached"] == 1  # stopped early
    bounded = bench_speed.time_to_accuracy_ours(
        small, torch.device("cpu"), replace(settings, target=1.01, max_epochs=2))
    assert bounded["epochs_run"] == 2 and not bounded["reached"]
    epochs = bounded["epochs"]
    assert all(e["train_seconds"] > 0 and e["eval_seconds"] > 0 for e in epochs)
    assert epochs[1]["lr"] < epochs[0]["lr"]  # OneCycle is annealing by epoch 2 of 3


def test_settings_from_args() -> None:
    quick = bench_speed.settings_from_args(bench_speed.parse_args(["--quick", "--rounds", "4"]))
    assert quick.train_subset is not None and quick.rounds == 4
    full = bench_speed.settings_from_args(bench_speed.parse_args(["--batch-sizes", "32"]))
    assert full.batch_sizes == (32,) and full.train_subset is None
    with pytest.raises(SystemExit):
        bench_speed.settings_from_args(bench_speed.parse_args(["--max-epochs", "0"]))


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--batch-sizes", "0"],
                                  ["--batch-sizes", "64", "-1"]])
def test_bad_counts_are_usage_errors_not_tracebacks(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_speed.parse_args(argv)
    assert exited.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err


def test_engine_paths_each_train_and_the_batch_step_is_timed(tiny) -> None:
    small, _ = tiny
    settings = bench_speed.BenchSettings(engine_batch_sizes=(16,), engine_steps=2, rounds=1,
                                         warmup_steps=1)
    (row,) = bench_speed.measure_engine_paths(small, torch.device("cpu"), settings)
    assert row["batch_size"] == 16 and row["images"] == 32
    timed = bench_speed.engine_paths_for(torch.device("cpu"))
    assert set(timed) >= {"fp32", "fp32 channels_last"}
    assert ("bf16" in timed) == bench_speed.cpu_supports_bf16()
    for name in timed:
        assert row[f"{name}_ips"] > 0 and len(row["rounds_ips"][name]) == 1
    assert row["batch_step_ips"] > 0


def test_the_numeric_path_raced_is_what_this_machine_has() -> None:
    amp, channels_last = bench_speed.numeric_path_to_race(torch.device("cpu"))
    if bench_speed.cpu_supports_bf16():
        assert (amp, channels_last) == ("auto", "auto")
    else:  # no bf16 here: channels_last alone
        assert (amp, channels_last) == ("off", "on")


def test_report_files(tmp_path: Path) -> None:
    results = [
        {"side": "original", "recipe": "original: x", "arch": "original19k",
         **bench_speed.summarize(_records([0.99, 0.995]), 0.994)},
        {"side": "ours", "recipe": "ours: y", "arch": "primary19k",
         **bench_speed.summarize(_records([0.99]), 0.994)},
    ]
    report = {
        "quick": True, "hardware": bench_speed.hardware_info(torch.device("cpu")),
        "settings": asdict(bench_speed.BenchSettings()),
        "throughput": [], "time_to_accuracy": results,
        "time_to_accuracy_ratio": bench_speed.tta_ratio(*results),
    }
    md_path, json_path = bench_speed.write_report(report, tmp_path, torch.device("cpu"))
    assert md_path.name == "bench_cpu_quick.md"
    text = md_path.read_text()
    assert "not reached in 1 epochs" in text and "| 2 |" in text
    assert json.loads(json_path.read_text())["time_to_accuracy_ratio"].startswith("n/a")


def test_the_header_says_when_the_run_was_pinned_to_fewer_cores() -> None:
    hw = {"cpu": "Xeon", "cpu_cores": 16}
    assert bench_speed.cores_text({**hw, "cores_usable": 2}) == "16 cores, this run pinned to 2"
    assert bench_speed.cores_text({**hw, "cores_usable": 16}) == "16 cores"
    assert bench_speed.cores_text(hw) == "16 cores"  # a report written before it was recorded
    here = bench_speed.hardware_info(torch.device("cpu"))
    assert 1 <= here["cores_usable"] <= here["cpu_cores"]
