"""utils.experiments.run_store: which run folders count, what made each run, and which runs may stand
together. Fake runs are written by hand (a model.pt of an untrained model with the metadata the
engine writes, a metrics.json); nothing trains here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from utils.checkpoints import save_model_checkpoint
from utils.experiments import run_store
from utils.experiments.run_store import (
    METRICS_FILE,
    RECORD_FILE,
    RunFolderError,
    SettingsMismatch,
    check_one_recipe,
    expected_settings,
    read_metrics,
    run_settings,
    scan_runs,
    settings_differences,
)
from utils.models import build_model
from utils.paths import RESULTS_DIR
from utils.recipe import TrainConfig

ARCH = "micro2k"
SPLIT = {"train": 55000, "train_used": 55000, "val": 5000, "val_source": "5,000 images"}
FP32 = {"forward": "float32", "channels_last": False, "cpu_bf16_kernels": False}
BF16 = {"forward": "bfloat16 autocast", "channels_last": False, "cpu_bf16_kernels": False}


def metrics_of(seed: int, arch: str = ARCH, **extra) -> dict:
    return {"arch": arch, "seed": seed, "epochs": 15, "num_parameters": 1790, "val_acc": 0.98,
            "test_acc": 0.985, "test_errors": 150, "train_seconds": 10.0, "device": "cpu",
            **extra}


def finished_run(root: Path, seed: int, config: TrainConfig | None = None,
                 precision: dict | None = None, name: str = ARCH, teachers: list | None = None,
                 metrics: dict | None = None) -> Path:
    """A finished sweep run as the engine and the sweep write it (weights untrained)."""
    config = config or TrainConfig(arch=ARCH, seed=seed, epochs=15, amp="off")
    folder = root / name / f"seed{seed}"
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    metadata = {"config": config.to_dict(), "seed": seed, "epochs": config.epochs,
                "device": "cpu", "data_split": SPLIT, "precision": precision or FP32,
                "normalization": {"mean": 0.1307, "std": 0.3081}}
    if teachers is not None:
        metadata["teachers"] = teachers
    save_model_checkpoint(folder / "model.pt", build_model(config.arch), config.arch, metadata)
    payload = metrics if metrics is not None else metrics_of(seed, config.arch,
                                                             epochs=config.epochs)
    (folder / METRICS_FILE).write_text(json.dumps(payload))
    return folder


# ---------------------------------------------------------------- metrics.json is checked
@pytest.mark.parametrize(("content", "message"), [
    ("", "is empty"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "should hold a JSON object"),
    ('{"arch": "micro2k", "seed": 0}', "lacks val_acc"),
    ('{"arch": "micro2k", "seed": 0, "val_acc": NaN}', "val_acc = nan"),
    ('{"arch": "micro2k", "seed": 0, "val_acc": 1.5}', "not an accuracy in [0, 1]"),
    ('{"arch": "micro2k", "seed": "0", "val_acc": 0.9}', "not a whole number"),
])
def test_a_bad_metrics_file_is_named_with_what_is_wrong(tmp_path: Path, content, message) -> None:
    path = tmp_path / METRICS_FILE
    path.write_text(content)
    with pytest.raises(RunFolderError, match=str(path)) as error:
        read_metrics(path)
    assert message in str(error.value)


def test_a_corrupt_metrics_file_under_a_root_is_named_not_a_bare_traceback(tmp_path) -> None:
    finished_run(tmp_path, 0)
    bad = finished_run(tmp_path, 1) / METRICS_FILE
    bad.write_text("{")
    with pytest.raises(RunFolderError, match=f"{bad} is not valid JSON"):
        scan_runs(tmp_path)


def test_a_metrics_file_whose_seed_is_not_its_folders_is_refused(tmp_path: Path) -> None:
    folder = finished_run(tmp_path, 1, metrics=metrics_of(0))
    with pytest.raises(RunFolderError, match="records seed 0 but lies in seed1/"):
        scan_runs(tmp_path)
    assert folder.is_dir()


# ---------------------------------------------------------------- only seed<N> folders count
def test_only_seed_n_folders_are_seeds_and_the_rest_is_named(tmp_path: Path) -> None:
    finished_run(tmp_path, 0)
    for odd in ("seed0_backup", "seed07", "seeds", "old-seed1"):
        finished_run(tmp_path, 0, name="tmp")  # one real run per odd name's sibling
        (tmp_path / "tmp" / "seed0").rename(tmp_path / ARCH / odd)
        (tmp_path / "tmp").rmdir()
    (tmp_path / ARCH / "seed3").mkdir()  # started, not finished
    (tmp_path / ".locks").mkdir()
    (tmp_path / "sweep.csv").write_text("tables beside the runs are not runs\n")
    scan = scan_runs(tmp_path)
    assert [(run.name, run.seed) for run in scan.finished] == [(ARCH, 0)]
    named = "\n".join(scan.not_counted)
    for odd in ("seed0_backup", "seed07", "seeds", "old-seed1"):
        assert f"{tmp_path / ARCH / odd}: not a seed<N> folder" in named
    assert f"{tmp_path / ARCH / 'seed3'}: not finished" in named
    assert ".locks" not in named and "sweep.csv" not in named


def test_a_scan_of_named_runs_reads_no_other_run(tmp_path: Path) -> None:
    finished_run(tmp_path, 0)
    (finished_run(tmp_path, 0, name="other") / METRICS_FILE).write_text("{")
    assert [run.name for run in scan_runs(tmp_path, names=[ARCH]).finished] == [ARCH]
    with pytest.raises(RunFolderError, match="other"):
        scan_runs(tmp_path)


def test_seed_of_reads_only_exact_seed_folders() -> None:
    assert run_store.seed_of("seed0") == 0 and run_store.seed_of("seed12") == 12
    for name in ("seed0_backup", "seed", "seed-1", "seed01", "Seed1", "seed1.bak"):
        assert run_store.seed_of(name) is None


def test_a_missing_or_empty_runs_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="does not exist: check the spelling"):
        run_store.require_runs_root(tmp_path / "rnus")
    (tmp_path / "file").write_text("")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        run_store.require_runs_root(tmp_path / "file")
    (tmp_path / "empty" / ARCH / "seed0_backup").mkdir(parents=True)
    with pytest.raises(RunFolderError, match="holds no finished run.*seed0_backup"):
        run_store.require_finished(scan_runs(tmp_path / "empty"))


# ---------------------------------------------------------------- what made a run
def test_settings_come_from_run_json_then_model_pt_then_metrics(tmp_path: Path) -> None:
    folder = finished_run(tmp_path, 0)
    from_checkpoint = run_settings(folder)
    assert from_checkpoint["epochs"] == 15 and from_checkpoint["forward pass"] == "float32"
    assert from_checkpoint["data split"] == {"train": 55000, "train_used": 55000, "val": 5000}
    assert "seed" not in from_checkpoint and "device" not in from_checkpoint
    record = run_store.record_of_checkpoint(run_store.checkpoint_header(folder / "model.pt"))
    (folder / RECORD_FILE).write_text(json.dumps({**record, "config": {
        **record["config"], "epochs": 3}}))
    assert run_settings(folder)["epochs"] == 3  # run.json wins
    (folder / RECORD_FILE).unlink()
    (folder / "model.pt").unlink()  # an ablation keeps no weights: its metrics.json speaks
    (folder / METRICS_FILE).write_text(json.dumps({**metrics_of(0), "batch_size": 128,
                                                   "precision": "float32"}))
    assert run_settings(folder) == {"arch": ARCH, "epochs": 15, "batch_size": 128,
                                    "forward pass": "float32"}


def test_an_early_run_that_wrote_its_validation_split_in_words_has_the_same_sizes() -> None:
    words = {"train": 55000, "train_used": 55000,
             "val": "5,000 stratified from the 60k training images (split seed 0)"}
    assert run_store.split_sizes(words) == run_store.split_sizes(SPLIT)


def test_amp_switches_compare_as_the_numeric_path_they_gave(tmp_path: Path) -> None:
    """'auto' and 'off' that both gave float32 are one recipe; 'on' (bfloat16) is another."""
    auto = finished_run(tmp_path, 0, TrainConfig(arch=ARCH, seed=0, amp="auto"))
    off = finished_run(tmp_path, 1, TrainConfig(arch=ARCH, seed=1, amp="off"))
    assert settings_differences(run_settings(auto), run_settings(off)) == []
    asked = expected_settings(TrainConfig(arch=ARCH, amp="on", channels_last="off", device="cpu"))
    assert settings_differences(run_settings(off), asked, ("finished", "asked")) == [
        "forward pass: finished 'float32', asked 'bfloat16 autocast'"]


def test_a_setting_only_one_side_recorded_is_not_compared() -> None:
    assert settings_differences({"epochs": 15}, {"epochs": 15, "teacher sha256": ["a"]}) == []
    assert settings_differences({"epochs": 15}, {"epochs": 1}) == ["epochs: first 15, second 1"]


def test_runs_of_two_recipes_are_never_one_row(tmp_path: Path) -> None:
    runs = [finished_run(tmp_path, 0), finished_run(tmp_path, 7, TrainConfig(
        arch=ARCH, seed=7, epochs=1, amp="off"))]
    scan = scan_runs(tmp_path)
    with pytest.raises(SettingsMismatch, match=f"{runs[0]} and {runs[1]} .*epochs: seed0 15, "
                                               "seed7 1.*never mixes settings"):
        check_one_recipe(scan.finished, [run_settings(r.folder) for r in scan.finished])


def test_teacher_hashes_tell_a_replaced_teacher_apart(tmp_path: Path) -> None:
    teacher = finished_run(tmp_path / "teachers", 0)
    config = TrainConfig(arch=ARCH, teacher=(str(teacher),), distill_weight=0.5, device="cpu",
                         amp="off")
    before = expected_settings(config)
    assert before["teacher sha256"] == [run_store_sha(teacher / "model.pt")]
    torch.manual_seed(99)
    save_model_checkpoint(teacher / "model.pt", build_model(ARCH), ARCH,
                          {"seed": 0, "config": {}})  # other weights under the same path
    after = expected_settings(replace(config))
    assert settings_differences(before, after) == ["teacher sha256: first "
                                                   f"{before['teacher sha256']!r}, second "
                                                   f"{after['teacher sha256']!r}"]


def run_store_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- the committed runs
def test_every_committed_run_reads_and_each_row_is_one_recipe() -> None:
    """The committed runs predate run.json: their settings are derived from model.pt (sweep
    runs) or metrics.json (ablations), and every row they make holds one recipe."""
    for root in (RESULTS_DIR / "runs", RESULTS_DIR / "ablations", RESULTS_DIR / "bf16" / "runs"):
        scan = scan_runs(root)
        assert scan.finished, root
        assert not [e for e in scan.not_counted if "not a seed<N>" in e]
        for name in {run.name for run in scan.finished}:
            runs = scan.of(name)
            by_variant: dict[str, list] = {}
            for run in runs:
                by_variant.setdefault(run.metrics.get("variant", "control"), []).append(run)
            for group in by_variant.values():
                check_one_recipe(group, [run_settings(r.folder, r.metrics) for r in group])
