"""The sweep's bookkeeping: aggregation, tables, skipping finished runs, resuming interrupted ones."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

import utils.experiments.sweep as sweep
from utils.checkpoints import read_checkpoint
from utils.recipe import TrainConfig
from utils.train import HISTORY_FILE, MODEL_FILE, STATE_FILE, fit

# (arch, params, seed, test_acc, val_acc, train_seconds)
RUNS = [
    ("alpha", 19_000, 0, 0.9951, 0.9960, 100.0),
    ("alpha", 19_000, 1, 0.9943, 0.9952, 110.0),
    ("alpha", 19_000, 2, 0.9960, 0.9958, 120.0),
    ("beta", 7_000, 0, 0.9921, 0.9930, 50.0),
    ("beta", 7_000, 3, 0.9935, 0.9941, 70.0),
    ("gamma", 2_000, 4, 0.9800, 0.9810, 30.0),
]


def _write_metrics(runs_root: Path, arch: str | None = None, seed: int = 0) -> None:
    """The fake finished runs of ``RUNS``, or one finished run of ``arch``/``seed``."""
    runs = RUNS if arch is None else [(arch, 1_790, seed, 0.986, 0.981, 30.0)]
    for arch, params, seed, test_acc, val_acc, seconds in runs:
        path = sweep.run_folder(runs_root, arch, seed) / sweep.METRICS_FILE
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({
            "arch": arch, "num_parameters": params, "seed": seed, "epochs": 15,
            "val_acc": val_acc, "test_acc": test_acc, "train_seconds": seconds, "device": "cpu",
        }))


def _expected(arch: str) -> dict[str, float]:
    """Sample statistics computed by hand, independently of ``statistics``."""
    runs = [r for r in RUNS if r[0] == arch]
    accs = [100 * r[3] for r in runs]
    n = len(accs)
    mean = sum(accs) / n
    std = math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1)) if n > 1 else 0.0
    return {
        "params": runs[0][1], "seeds": n, "test_mean": mean, "test_std": std,
        "test_min": min(accs), "test_max": max(accs),
        "val_mean": sum(100 * r[4] for r in runs) / n,
        "train_seconds_mean": sum(r[5] for r in runs) / n,
    }


@pytest.fixture
def rows(tmp_path: Path) -> list[dict]:
    _write_metrics(tmp_path / "runs")
    return sweep.aggregate(tmp_path / "runs")


def test_aggregate_statistics_per_arch(rows: list[dict]) -> None:
    assert [r["arch"] for r in rows] == ["alpha", "beta", "gamma"]  # largest model first
    for row in rows:
        for key, value in _expected(row["arch"]).items():
            assert row[key] == pytest.approx(value, abs=1e-9), (row["arch"], key)
        assert row["epochs"] == 15 and row["device"] == "cpu"


def test_aggregate_ignores_unfinished_runs(tmp_path: Path) -> None:
    _write_metrics(tmp_path / "runs")
    (sweep.run_folder(tmp_path / "runs", "alpha", 9)).mkdir()  # started, no metrics.json
    rows = sweep.aggregate(tmp_path / "runs")
    assert next(r for r in rows if r["arch"] == "alpha")["seeds"] == 3


def test_aggregate_empty_root(tmp_path: Path) -> None:
    assert sweep.aggregate(tmp_path / "nothing") == []


def test_write_tables_csv_and_markdown(rows: list[dict], tmp_path: Path) -> None:
    sweep.write_tables(rows, tmp_path)
    with (tmp_path / "sweep.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["arch"] for r in table] == ["alpha", "beta", "gamma"]
    for line in table:
        expected = _expected(line["arch"])
        assert int(line["params"]) == expected["params"]
        assert int(line["seeds"]) == expected["seeds"]
        for key in ("test_mean", "test_std", "test_min", "test_max", "val_mean",
                    "train_seconds_mean"):
            assert float(line[key]) == pytest.approx(expected[key], abs=5e-5), key
    markdown = (tmp_path / "sweep.md").read_text()
    alpha = _expected("alpha")
    assert f"| alpha | 19,000 | 15 | 3 | {alpha['test_mean']:.2f} ± {alpha['test_std']:.2f} |" \
        in markdown
    assert len(markdown.strip().splitlines()) == 2 + len(rows)


def test_train_one_skips_finished_run(tmp_path: Path, splits, monkeypatch) -> None:
    _write_metrics(tmp_path / "runs")

    def must_not_train(*args, **kwargs):
        raise AssertionError("fit was called for a finished run")

    _write_metrics(tmp_path / "runs", arch="micro2k", seed=3)
    monkeypatch.setattr(sweep, "fit", must_not_train)
    spec = sweep.RunSpec("micro2k", sweep.CONTROL, 3, TrainConfig(arch="micro2k", seed=3))
    metrics = sweep.train_one(spec, tmp_path / "runs", splits, progress=False)
    assert metrics["test_acc"] == 0.986 and metrics["seed"] == 3


class _Interrupt(Exception):
    pass


def test_train_one_resumes_interrupted_run(tmp_path: Path, splits, monkeypatch, capsys) -> None:
    """Interrupt a real tiny run after epoch 1 of 2 (last.pt on disk), then let the sweep finish it."""
    subset, epochs = 256, 2
    splits = replace(splits, val_images=splits.val_images[:500], val_labels=splits.val_labels[:500],
                     test_images=splits.test_images[:500], test_labels=splits.test_labels[:500])
    path = sweep.run_folder(tmp_path / "runs", "micro2k", 0)

    def stop_in_epoch_two(message: str) -> None:
        if message.startswith("epoch  2/"):  # logged before epoch 2's last.pt is written
            raise _Interrupt

    config = TrainConfig(arch="micro2k", epochs=epochs, seed=0, device="cpu", train_subset=subset)
    with pytest.raises(_Interrupt):
        fit(config, splits, run_dir=path, progress=False, log=stop_in_epoch_two)
    saved = read_checkpoint(path / STATE_FILE)
    assert saved["epoch"] == 1 and not (path / MODEL_FILE).exists()

    capsys.readouterr()
    spec = sweep.RunSpec("micro2k", sweep.CONTROL, 0, config)
    metrics = sweep.train_one(spec, tmp_path / "runs", splits, progress=False)
    assert "Resumed micro2k" in capsys.readouterr().out
    history = json.loads((path / HISTORY_FILE).read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0] == pytest.approx(saved["history"][0])  # epoch 1 was not re-trained
    assert metrics["epochs"] == epochs and 0.0 <= metrics["test_acc"] <= 1.0
    assert json.loads((path / sweep.METRICS_FILE).read_text()) == metrics
    assert not (path / STATE_FILE).exists()  # optimiser state dropped once finished


def test_main_writes_tables_and_frontier(tmp_path: Path, splits, monkeypatch) -> None:
    """A sweep whose runs are all finished only re-aggregates: tables plus the frontier figure."""
    _write_metrics(tmp_path / "runs")
    monkeypatch.setattr(sweep, "load_mnist_splits", lambda root=None: splits)
    monkeypatch.setattr(sweep, "fit", lambda *a, **k: pytest.fail("nothing should train"))
    _write_metrics(tmp_path / "runs", arch="micro2k", seed=0)
    sweep.main(["--models", "micro2k", "--seeds", "0", "--runs-root",
                str(tmp_path / "runs"), "--figures-dir", str(tmp_path / "figs"), "--no-progress"])
    table = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(table) == 1 + 4  # header + every finished arch, not only those asked for
    assert (tmp_path / "figs" / "07_frontier.png").is_file()


def test_a_separate_runs_root_draws_no_frontier_unless_asked(tmp_path: Path, monkeypatch) -> None:
    """Only the course's runs draw into the repo's figures/; another root's sweep (e.g.
    results/bf16/runs) must not overwrite the committed figure."""
    assert sweep.draws_frontier(sweep.RESULTS_DIR / "runs", None)
    assert not sweep.draws_frontier(tmp_path / "runs", None)
    assert sweep.draws_frontier(tmp_path / "runs", tmp_path / "figs")
    _write_metrics(tmp_path / "runs")
    import utils.experiments.frontier

    monkeypatch.setattr(utils.experiments.frontier, "write_frontier",
                        lambda *a, **k: pytest.fail("no frontier figure for a separate runs root"))
    sweep.main(["--tables-only", "--runs-root", str(tmp_path / "runs")])
    assert (tmp_path / "sweep.csv").is_file()


def test_tables_only_rebuilds_both_tables_without_data(tmp_path: Path, monkeypatch) -> None:
    """--tables-only needs no MNIST: it re-aggregates control runs and variant runs apart."""
    _write_metrics(tmp_path / "runs")
    variant_run = sweep.run_folder(tmp_path / "runs", "micro2k", 0, "kd") / sweep.METRICS_FILE
    variant_run.parent.mkdir(parents=True)
    variant_run.write_text(json.dumps({
        "arch": "micro2k", "variant": "kd", "num_parameters": 1_790, "seed": 0, "epochs": 20,
        "val_acc": 0.98, "test_acc": 0.985, "train_seconds": 60.0, "device": "cpu"}))
    monkeypatch.setattr(sweep, "load_mnist_splits", lambda root=None: pytest.fail("no data"))
    sweep.main(["--tables-only", "--runs-root", str(tmp_path / "runs"),
                "--figures-dir", str(tmp_path / "figs")])
    assert len((tmp_path / "sweep.csv").read_text().splitlines()) == 1 + len({r[0] for r in RUNS})
    variants = (tmp_path / "sweep_variants.csv").read_text().splitlines()
    assert len(variants) == 2 and variants[1].startswith("micro2k-kd,1790,20,1,98.5000")


@pytest.mark.notebooks
def test_train_one_via_notebook_keeps_the_executed_notebook(tmp_path: Path, splits) -> None:
    """The papermill-driven mode: notebook 03 trains, the executed copy and metrics are kept."""
    small = replace(splits, val_images=splits.val_images[:500], val_labels=splits.val_labels[:500])
    config = TrainConfig(arch="micro2k", epochs=1, seed=3, device="cpu", train_subset=512,
                         amp="off")
    metrics = sweep.train_one_via_notebook(sweep.RunSpec("micro2k", sweep.CONTROL, 3, config),
                                           tmp_path / "runs", small)
    path = sweep.run_folder(tmp_path / "runs", "micro2k", 3)
    executed = json.loads((path / sweep.EXECUTED_NOTEBOOK).read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "seed = 3" in "".join(injected[0]["source"])
    assert 'amp = "off"' in "".join(injected[0]["source"])
    assert metrics["arch"] == "micro2k" and metrics["seed"] == 3 and metrics["epochs"] == 1
    assert json.loads((path / sweep.METRICS_FILE).read_text()) == metrics
    assert (path / MODEL_FILE).is_file() and not (path / STATE_FILE).exists()


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from utils.experiments.sweep import run_lock
with run_lock(Path(sys.argv[1]), "micro2k-seed0"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_lock(runs_root: Path, seconds: float):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(runs_root), str(seconds)],
                              stdout=subprocess.PIPE, text=True, cwd=sweep.REPO_ROOT)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_run_lock_refuses_a_run_claimed_by_a_live_process(tmp_path: Path) -> None:
    holder = _hold_lock(tmp_path, 30)
    try:
        with pytest.raises(sweep.RunInProgress, match="micro2k-seed0"):
            with sweep.run_lock(tmp_path, "micro2k-seed0"):
                pass
    finally:
        holder.kill()
        holder.wait()
    # killed without releasing anything: the kernel dropped its lock, so the run is free again
    with sweep.run_lock(tmp_path, "micro2k-seed0"):
        pass


def test_two_sweeps_never_train_the_same_run(tmp_path: Path) -> None:
    """A second taker that arrives while the run trains skips it; one that arrives after it
    finished (it saw no metrics.json before waiting for the lock) does not train it again."""
    runs_root = tmp_path / "runs"
    spec = sweep.RunSpec("micro2k", sweep.CONTROL, 0, TrainConfig(arch="micro2k"))
    trained: list[str] = []

    def read_metrics(path: Path) -> dict:
        return json.loads((path / sweep.METRICS_FILE).read_text())

    def fake_train(path: Path) -> None:
        trained.append("first")
        with pytest.raises(sweep.RunInProgress):  # a concurrent taker is refused meanwhile
            sweep.complete_run(spec, runs_root, lambda p: trained.append("second"), read_metrics)
        _write_metrics(runs_root, arch="micro2k", seed=0)

    import unittest.mock as mock

    sweep.complete_run(spec, runs_root, fake_train, read_metrics)
    # delayed taker: checked for metrics.json before the first finished, takes the lock after
    with mock.patch.object(sweep, "_finished_metrics", side_effect=[None, {"done": 1}]):
        assert sweep.complete_run(spec, runs_root, lambda p: trained.append("late"),
                                  read_metrics) == {"done": 1}
    assert trained == ["first"]


def test_concurrent_sweep_processes_share_one_folder(tmp_path: Path) -> None:
    """Two real processes on one runs root: while one holds a run, the other skips it."""
    holder = _hold_lock(tmp_path, 30)
    try:
        with pytest.raises(sweep.RunInProgress):
            with sweep.run_lock(tmp_path, "micro2k-seed0"):
                pass
        with sweep.run_lock(tmp_path, "micro2k-seed1"):  # other runs stay free
            pass
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "must be a positive integer, got 0"),
        (["--epochs", "-3"], "must be a positive integer, got -3"),
        (["--models", "micro2k", "nope"], "Unknown model(s) 'nope'"),
        (["--device", "cuda"], "no CUDA GPU"),
        (["--seeds", "1", "1"], "Seeds are repeated"),
        (["--seeds", "-1"], "must be 0 or more"),
        (["--variant", "nope"], "invalid choice"),
    ],
)
def test_bad_arguments_fail_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr(sweep, "load_mnist_splits", lambda *a, **k: pytest.fail("loaded MNIST"))
    with pytest.raises(SystemExit) as exited:
        sweep.main([*argv, "--runs-root", str(tmp_path / "runs")])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # no empty run folders left behind


def test_variants_run_in_their_own_folders_and_table(tmp_path: Path) -> None:
    spec = sweep.plan_runs(["micro2k"], [0], "noaug", 2, "cpu")[0]
    assert spec.config.augment_strength == 0.0 and spec.config.epochs == 2
    assert spec.path(tmp_path) == tmp_path / "micro2k-noaug" / "seed0"
    _write_metrics(tmp_path, arch="micro2k", seed=0)
    (tmp_path / "micro2k-noaug" / "seed0").mkdir(parents=True)
    (tmp_path / "micro2k-noaug" / "seed0" / sweep.METRICS_FILE).write_text(json.dumps({
        "arch": "micro2k", "variant": "noaug", "num_parameters": 1790, "seed": 0, "epochs": 2,
        "val_acc": 0.9, "test_acc": 0.9, "train_seconds": 1.0, "device": "cpu"}))
    assert [r["arch"] for r in sweep.aggregate(tmp_path)] == ["micro2k"]
    assert [r["arch"] for r in sweep.aggregate(tmp_path, "noaug")] == ["micro2k-noaug"]


def test_notebook_mode_refuses_settings_notebook_03_cannot_take() -> None:
    spec = sweep.plan_runs(["micro2k"], [0], "control", None, "cpu")[0]
    sweep.check_notebook_mode([spec])
    sweep.check_notebook_mode([replace(spec, config=replace(spec.config, amp="off"))])
    odd = replace(spec, config=replace(spec.config, label_smoothing=0.0))
    with pytest.raises(ValueError, match="no parameter for \\['label_smoothing'\\]"):
        sweep.check_notebook_mode([odd])


def test_main_skips_runs_another_sweep_is_training(tmp_path: Path, splits, monkeypatch,
                                                   capsys) -> None:
    def busy(*args, **kwargs):
        raise sweep.RunInProgress("runs/x is being trained by process 1.")

    monkeypatch.setattr(sweep, "load_mnist_splits", lambda root=None: splits)
    monkeypatch.setattr(sweep, "train_one", busy)
    sweep.main(["--models", "micro2k", "--seeds", "0", "1", "--runs-root",
                str(tmp_path / "runs"), "--no-progress"])
    out = capsys.readouterr().out
    assert out.count("[sweep] skipping micro2k") == 2


def test_devices_of_names_every_device_with_its_count() -> None:
    assert sweep.devices_of([{"device": "cpu"}, {"device": "cpu"}]) == "cpu"
    mixed = [{"device": "cuda (NVIDIA H200)"}] * 3 + [{"device": "cpu"}] * 2
    assert sweep.devices_of(mixed) == "cuda (NVIDIA H200) x3, cpu x2"
