"""Hostile inputs to the commands that read run folders (utils.experiments.sweep, utils.experiments.numeric_paths,
utils.experiments.frontier, distillation teachers): each test is a case where a command used to lose work
or give a silent wrong result. Every refusal must come before MNIST loads or anything trains,
and must say what differs and how to keep runs apart. Cases: tests/README.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import utils.experiments.sweep as sweep
from tests.test_run_store import FP32, finished_run
from utils.checkpoints import save_model_checkpoint
from utils.experiments import frontier, numeric_paths
from utils.experiments.run_store import METRICS_FILE, RECORD_FILE, SettingsMismatch
from utils.models import build_model
from utils.recipe import TrainConfig

ARCH = "micro2k"


@pytest.fixture
def no_data(monkeypatch):
    """Any attempt to load MNIST (i.e. to start work) fails the test."""
    fail = lambda *a, **k: pytest.fail("MNIST was loaded: the refusal came after work began")  # noqa: E731
    monkeypatch.setattr(sweep, "load_mnist_splits", fail)
    monkeypatch.setattr(numeric_paths, "load_mnist_splits", fail)


def refused(main, argv: list[str], capsys) -> str:
    """Run a command that must exit with status 2; its error text."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


# ---------------------------------------------------------------- runs roots and tables
def test_a_misspelt_runs_root_is_an_error_and_writes_no_table(tmp_path, no_data, capsys) -> None:
    finished_run(tmp_path / "runs", 0)
    err = refused(sweep.main, ["--tables-only", "--runs-root", str(tmp_path / "rnus")], capsys)
    assert "rnus does not exist: check the spelling" in err
    assert not list(tmp_path.glob("sweep*"))


def test_an_empty_runs_root_is_an_error(tmp_path, no_data, capsys) -> None:
    (tmp_path / "runs").mkdir()
    err = refused(sweep.main, ["--tables-only", "--runs-root", str(tmp_path / "runs")], capsys)
    assert "holds no finished run" in err and not list(tmp_path.glob("sweep*"))


def test_another_runs_root_never_writes_over_the_course_tables(tmp_path, no_data) -> None:
    results = tmp_path / "results"
    finished_run(results / "my_runs", 0)
    (results / "sweep.csv").write_text("the course's headline table\n")
    sweep.main(["--tables-only", "--runs-root", str(results / "my_runs")])
    assert (results / "sweep.csv").read_text() == "the course's headline table\n"
    assert (results / "my_runs" / "sweep.csv").read_text().count("\n") == 2  # header + micro2k
    sweep.main(["--tables-only", "--runs-root", str(results / "my_runs"), "--out",
                str(tmp_path / "tables")])
    assert (tmp_path / "tables" / "sweep.md").is_file()


@pytest.mark.parametrize("option", ["--out", "--figures-dir", "--runs-root"])
def test_sweep_output_paths_that_are_files_are_refused_before_work(tmp_path, no_data, capsys,
                                                                   option) -> None:
    finished_run(tmp_path / "runs", 0)
    (tmp_path / "a_file").write_text("")
    argv = ["--runs-root", str(tmp_path / "runs"), option, str(tmp_path / "a_file")]
    err = refused(sweep.main, [*argv, "--models", ARCH, "--seeds", "1"], capsys)
    assert f"{tmp_path / 'a_file'}" in err and "is a file, not a folder" in err


# ---------------------------------------------------------------- a finished run stands only for itself
def test_a_finished_run_of_other_settings_is_refused_not_reused(tmp_path, no_data, capsys) -> None:
    """`--epochs 1 --amp on` on a finished 15-epoch float32 run used to print its old result."""
    finished_run(tmp_path / "runs", 0)
    argv = ["--models", ARCH, "--seeds", "0", "--runs-root", str(tmp_path / "runs"),
            "--device", "cpu"]
    err = refused(sweep.main, [*argv, "--epochs", "1", "--amp", "on"], capsys)
    assert "is a finished run of other settings than asked" in err
    assert "epochs: finished 15, asked 1" in err
    assert "forward pass: finished 'float32', asked 'bfloat16 autocast'" in err
    assert "another --runs-root" in err and "--epochs 15 --amp off" in err
    args = sweep.parse_args([*argv, "--epochs", "15", "--amp", "off"])  # the same: reused
    assert sweep.finished_run(args.specs[0], args.specs[0].path(tmp_path / "runs"))


def test_a_one_epoch_seed_is_not_averaged_into_a_15_epoch_row(tmp_path, no_data, capsys) -> None:
    for seed in (0, 1):
        finished_run(tmp_path / "runs", seed)
    finished_run(tmp_path / "runs", 7, TrainConfig(arch=ARCH, seed=7, epochs=1, amp="off"))
    err = refused(sweep.main, ["--tables-only", "--runs-root", str(tmp_path / "runs")], capsys)
    assert "seed7" in err and "epochs: seed0 15, seed7 1" in err and "never mixes" in err
    assert not (tmp_path / "sweep.csv").exists()


def test_a_seed_backup_folder_is_named_and_not_counted(tmp_path, no_data, capsys) -> None:
    for seed in (0, 1):
        finished_run(tmp_path / "runs", seed)
    finished_run(tmp_path / "copy", 0)
    (tmp_path / "copy" / ARCH / "seed0").rename(tmp_path / "runs" / ARCH / "seed0_backup")
    sweep.main(["--tables-only", "--runs-root", str(tmp_path / "runs")])
    row = (tmp_path / "sweep.csv").read_text().splitlines()[1].split(",")
    assert row[0] == ARCH and row[3] == "2"  # seeds
    assert "not counted: " in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [
    ("", "is empty"), ("{", "is not valid JSON"), ('{"arch": "micro2k", "seed": 0}', "lacks"),
    (None, "= nan"),
])
def test_a_bad_metrics_file_is_named(tmp_path, no_data, capsys, content, message) -> None:
    path = finished_run(tmp_path / "runs", 0) / METRICS_FILE
    if content is None:
        content = path.read_text().replace('"val_acc": 0.98', '"val_acc": NaN')
    path.write_text(content)
    err = refused(sweep.main, ["--tables-only", "--runs-root", str(tmp_path / "runs")], capsys)
    assert str(path) in err and message in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--device", "mps"], "no Apple GPU"),
    (["--seeds", str(2**64)], "seed must be a whole number from 0 to"),
])
def test_a_device_or_seed_that_cannot_run_fails_before_mnist(tmp_path, no_data, capsys, argv,
                                                             message) -> None:
    if "mps" in argv and torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    err = refused(sweep.main, [*argv, "--models", ARCH, "--runs-root", str(tmp_path)], capsys)
    assert message in err


def test_a_new_run_records_what_made_it(tmp_path: Path) -> None:
    spec = sweep.plan_runs([ARCH], [0], "control", 2, "cpu", "off")[0]

    def train(path: Path) -> None:  # what fit leaves: a model.pt with the engine's metadata
        metadata = {"config": spec.config.to_dict(), "seed": 0, "epochs": 2, "device": "cpu",
                    "data_split": {"train": 55000, "train_used": 55000, "val": 5000},
                    "precision": FP32, "teachers": []}
        save_model_checkpoint(path / "model.pt", build_model(ARCH), ARCH, metadata)

    def finish(path: Path) -> dict:
        (path / "model.pt").unlink()  # as ablations do: the record must not need the weights
        metrics = {"arch": ARCH, "seed": 0, "epochs": 2, "val_acc": 0.5}
        (path / METRICS_FILE).write_text(json.dumps(metrics))
        return metrics

    sweep.complete_run(spec, tmp_path, train, finish)
    record = json.loads((spec.path(tmp_path) / RECORD_FILE).read_text())
    assert record["config"] == json.loads(json.dumps(spec.config.to_dict()))
    assert record["numeric_path"] == {"forward": "float32", "channels_last": False}
    assert record["data_split"]["train_used"] == 55000 and record["teachers"] == []
    assert record["torch_version"] == str(torch.__version__)
    with pytest.raises(SettingsMismatch, match="epochs: finished 2, asked 3"):
        sweep.complete_run(sweep.plan_runs([ARCH], [0], "control", 3, "cpu", "off")[0],
                           tmp_path, train, finish)


# ---------------------------------------------------------------- distillation teachers
def test_a_teacher_checkpoint_replaced_under_its_run_is_refused(tmp_path: Path) -> None:
    """A weak micro2k copied over primary19k/seed1/model.pt used to teach under that name."""
    teacher = finished_run(tmp_path, 1, TrainConfig(arch="compact8k", seed=1))
    save_model_checkpoint(teacher / "model.pt", build_model(ARCH), ARCH, {"seed": 1})
    config = TrainConfig(arch=ARCH, teacher=(str(teacher),), distill_weight=0.5)
    with pytest.raises(ValueError, match="holds micro2k seed 1, but the run's metrics.json "
                                         "records compact8k seed 1"):
        config.validate()


def test_a_distilled_run_is_not_reused_once_its_teacher_changed(tmp_path: Path) -> None:
    teacher = finished_run(tmp_path / "teachers", 0)
    config = TrainConfig(arch=ARCH, teacher=(str(teacher),), distill_weight=0.5, amp="off",
                         device="cpu", epochs=15)
    from utils.distill import teacher_records

    student = finished_run(tmp_path / "runs", 0, config, name=f"{ARCH}-kd",
                           teachers=teacher_records(config.teacher))
    spec = sweep.RunSpec(ARCH, "kd", 0, config)
    assert sweep.finished_run(spec, student)  # same teacher: reused
    torch.manual_seed(5)
    save_model_checkpoint(teacher / "model.pt", build_model(ARCH), ARCH,
                          {"seed": 0, "config": {}})  # retrained teacher, same path
    with pytest.raises(SettingsMismatch, match="teacher sha256: finished"):
        sweep.finished_run(spec, student)


# ---------------------------------------------------------------- numeric-path comparisons
def test_numeric_paths_refuses_a_pair_that_differs_in_more_than_the_path(tmp_path, no_data,
                                                                          capsys) -> None:
    """A 1-epoch candidate against the 15-epoch reference used to read as a bf16 effect."""
    finished_run(tmp_path / "ref", 0)
    bf16 = {**FP32, "forward": "bfloat16 autocast"}
    finished_run(tmp_path / "cand", 0, TrainConfig(arch=ARCH, seed=0, epochs=1, amp="on"), bf16)
    err = refused(numeric_paths.main, ["--models", ARCH, "--reference-root",
                                       str(tmp_path / "ref"), "--candidate-root",
                                       str(tmp_path / "cand")], capsys)
    assert "differ in more than the numeric path (epochs: reference 15, candidate 1)" in err


def test_numeric_paths_pairs_only_seed_folders(tmp_path: Path) -> None:
    finished_run(tmp_path / "ref", 0)
    finished_run(tmp_path / "cand", 0, precision={**FP32, "forward": "bfloat16 autocast"})
    (tmp_path / "cand" / ARCH / "seed0").rename(tmp_path / "cand" / ARCH / "seed0_backup")
    with pytest.raises(ValueError, match="No seed of micro2k has finished under both"):
        numeric_paths.shared_seeds(ARCH, tmp_path / "ref", tmp_path / "cand")


def test_numeric_paths_output_and_roots_are_checked_before_mnist(tmp_path, no_data,
                                                                  capsys) -> None:
    finished_run(tmp_path / "ref", 0)
    finished_run(tmp_path / "cand", 0, precision={**FP32, "forward": "bfloat16 autocast"})
    (tmp_path / "a_file").write_text("")
    roots = ["--models", ARCH, "--reference-root", str(tmp_path / "ref"), "--candidate-root"]
    err = refused(numeric_paths.main, [*roots, str(tmp_path / "cand"), "--out",
                                       str(tmp_path / "a_file")], capsys)
    assert "is a file, not a folder" in err
    (tmp_path / "empty").mkdir()
    err = refused(numeric_paths.main, [*roots, str(tmp_path / "empty")], capsys)
    assert "--candidate-root" in err and "holds no finished run" in err


def test_numeric_paths_never_advises_deleting_metrics(tmp_path: Path, splits) -> None:
    from dataclasses import replace

    small = replace(splits, val_images=splits.val_images[:50], val_labels=splits.val_labels[:50],
                    test_images=splits.test_images[:50], test_labels=splits.test_labels[:50])
    folder = finished_run(tmp_path, 0)
    with pytest.raises(ValueError) as error:
        numeric_paths.score_run(folder, small)
    assert "Restore that model.pt" in str(error.value) and "delete" not in str(error.value)


# ---------------------------------------------------------------- frontier
def test_a_nan_val_mean_is_never_the_best_of_a_budget() -> None:
    rows = [{"arch": "nan_first", "params": 900, "val_mean": float("nan"), "test_mean": 90.0},
            {"arch": "real", "params": 800, "val_mean": 98.0, "test_mean": 98.0}]
    with pytest.raises(ValueError, match=r"\['nan_first'\] have a val_mean that is not a finite"):
        frontier.best_by_budget(rows, budgets=(1_000,))


def test_a_nan_in_the_sweep_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sweep.csv"
    path.write_text("arch,params,seeds,test_mean,test_std,test_min,test_max,val_mean\n"
                    "a,900,3,99.0,0.1,98.9,99.1,nan\n")
    with pytest.raises(frontier.SweepTableError, match=f"{path}, line 2: val_mean is not a"):
        frontier.read_sweep_csv(path)


def test_the_frontier_of_another_table_is_drawn_beside_it(tmp_path, capsys) -> None:
    csv = tmp_path / "study" / "sweep.csv"
    csv.parent.mkdir()
    csv.write_text("arch,params,seeds,test_mean,test_std,test_min,test_max,val_mean\n"
                   "micro2k,1790,3,98.6,0.2,98.4,98.8,98.1\n")
    assert frontier.figure_folder(csv, None) == csv.parent
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as exited:
        frontier.main(["--csv", str(csv), "--figures-dir", str(tmp_path / "a_file")])
    assert exited.value.code == 2 and "is a file, not a folder" in capsys.readouterr().err
