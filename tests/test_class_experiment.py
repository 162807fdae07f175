"""The class experiment: a student's run into one result file, and the instructor's merge that
refuses what cannot be one class's experiment and then runs notebook 05's paired analysis."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import utils.experiments.class_experiment as ce
from utils.experiments import ablations
from utils.paths import RESULTS_DIR

EXAMPLE = RESULTS_DIR / "class_example"
EXAMPLE_TABLE = RESULTS_DIR / "class_example.md"
ABLATION_RUNS = RESULTS_DIR / "ablations"
AUG0_SEED0 = ABLATION_RUNS / "primary19k-aug0" / "seed0"


@pytest.fixture
def no_mnist(monkeypatch) -> None:
    """Checks that must come before MNIST loads: loading it fails the test."""
    def load(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("MNIST was loaded before the arguments were checked")

    monkeypatch.setattr(ce, "load_mnist_splits", load)


@pytest.fixture
def mnist(monkeypatch, splits) -> None:
    """MNIST as the conftest fixture loaded it once, not loaded again by each command."""
    monkeypatch.setattr(ce, "load_mnist_splits", lambda *args, **kwargs: splits)


def refused(argv: list[str], capsys) -> str:
    """Run the command, which must exit with status 2; its error text."""
    with pytest.raises(SystemExit) as exited:
        ce.main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


def example_copy(tmp_path: Path, variants: tuple[str, ...] = ("control", "aug0")) -> Path:
    """The example class's files of ``variants``, in a folder of their own."""
    folder = tmp_path / "handed_in"
    folder.mkdir()
    for variant in variants:
        for path in EXAMPLE.glob(f"{variant}-seed*.json"):
            shutil.copy(path, folder / path.name)
    return folder


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def rehash(data: dict[str, Any]) -> None:
    data["predictions_sha256"] = hashlib.sha256(data["predictions"].encode()).hexdigest()


# ------------------------------------------------------------------ run: checked before work
@pytest.mark.parametrize(("argv", "message"), [
    (["--variant", "nope", "--seed", "0"], "Unknown ablation"),
    (["--variant", "aug0"], "give --variant NAME and --seed N"),
    (["--variant", "ep5", "--seed", "0", "--epochs", "2"], "variant ep5 is about the number"),
    (["--variant", "aug0", "--seed", "0", "--train-subset", "60000"], "train_subset=60000"),
    (["--variant", "aug0", "--seed", "0", "--epochs", "0"], "--epochs"),
    (["--variant", "aug0", "--seed", "-1"], "--seed"),
    (["--from-run", str(AUG0_SEED0), "--seed", "1"], "drop --seed"),
    (["--from-run", "results/ablations/primary19k-aug0/seed9"], "not a finished ablation run"),
    (["--from-run", "results/runs/primary19k/seed0"], "is not an ablation run"),
])
def test_run_refuses_bad_arguments_before_mnist(argv: list[str], message: str, tmp_path: Path,
                                                no_mnist, capsys) -> None:
    err = refused(["run", *argv, "--out", str(tmp_path / "r.json")], capsys)
    assert message in err
    assert not (tmp_path / "r.json").exists()


def test_run_never_overwrites_and_writes_only_json(tmp_path: Path, no_mnist, capsys) -> None:
    handed_in = tmp_path / "aug0-seed1.json"
    handed_in.write_text("{}")
    args = ["run", "--variant", "aug0", "--seed", "1", "--out"]
    assert "is never overwritten" in refused([*args, str(handed_in)], capsys)
    assert handed_in.read_text() == "{}"
    assert "name a .json file" in refused([*args, str(tmp_path / "aug0.txt")], capsys)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert "a file, not a folder" in refused([*args, str(blocker / "r.json")], capsys)


# ------------------------------------------------------------------ --from-run
def test_from_run_round_trips_a_committed_run(tmp_path: Path, mnist, capsys) -> None:
    out = tmp_path / "aug0-seed0.json"
    ce.main(["run", "--from-run", str(AUG0_SEED0), "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["metrics"] == json.loads((AUG0_SEED0 / "metrics.json").read_text())
    assert result["predictions"] == (AUG0_SEED0 / "val_predictions.txt").read_text().strip()
    assert result["predictions_sha256"] == hashlib.sha256(
        result["predictions"].encode()).hexdigest()
    assert (result["variant"], result["seed"], result["class_options"]) == (
        "aug0", 0, {"epochs": None, "train_subset": None})
    assert result["config"]["augment_strength"] == 0.0 and result["config"]["epochs"] == 15
    assert result["numeric_path"] == {"forward": "float32", "channels_last": False}
    assert result["data_split"]["val"] == 5_000 and out.stat().st_size < 20_000
    assert out.read_text() == (EXAMPLE / out.name).read_text()  # the committed export is current
    assert "is never overwritten" in refused(["run", "--from-run", str(AUG0_SEED0), "--out",
                                              str(out)], capsys)


def test_a_renamed_run_folder_is_refused(tmp_path: Path, no_mnist, capsys) -> None:
    moved = tmp_path / "primary19k-aug2" / "seed0"
    shutil.copytree(AUG0_SEED0, moved)
    err = refused(["run", "--from-run", str(moved), "--out", str(tmp_path / "r.json")], capsys)
    assert "records aug0 seed 0 but lies in primary19k-aug2/seed0/" in err


# ------------------------------------------------------------------ merge refuses
def test_merge_refuses_the_same_run_twice(tmp_path: Path, no_mnist, capsys) -> None:
    folder = example_copy(tmp_path)
    shutil.copy(folder / "aug0-seed1.json", folder / "aug0-seed1-again.json")
    err = refused(["merge", str(folder)], capsys)
    assert "the same variant and seed: aug0-seed1-again.json (aug0 seed 1), aug0-seed1.json" in err
    assert "identical predictions" in err


def test_merge_refuses_the_same_predictions_under_another_name(tmp_path: Path, no_mnist,
                                                               capsys) -> None:
    folder = example_copy(tmp_path)
    shutil.copy(folder / "aug0-seed1.json", folder / "aug0-seed5.json")
    edit(folder / "aug0-seed5.json",
         lambda d: d.update(seed=5, metrics={**d["metrics"], "seed": 5}))
    shutil.copy(folder / "control-seed1.json", folder / "control-seed5.json")
    edit(folder / "control-seed5.json",
         lambda d: d.update(seed=5, metrics={**d["metrics"], "seed": 5}))
    err = refused(["merge", str(folder)], capsys)
    assert "identical predictions: aug0-seed1.json (aug0 seed 1), aug0-seed5.json" in err


@pytest.mark.parametrize(("change", "differs"), [
    (lambda d: d["class_options"].update(epochs=3), "--epochs: class None, this file 3"),
    (lambda d: d["config"].update(train_subset=512), "train_subset: class None, this file 512"),
    (lambda d: d["numeric_path"].update(forward="bfloat16 autocast"),
     "forward pass: class 'float32', this file 'bfloat16 autocast'"),
    (lambda d: d.update(torch_version="3.0.0"), "torch major version: class '2', this file '3'"),
])
def test_merge_refuses_mixed_settings_naming_file_and_setting(change, differs: str,
                                                              tmp_path: Path, no_mnist,
                                                              capsys) -> None:
    folder = example_copy(tmp_path)
    edit(folder / "aug0-seed2.json", change)
    err = refused(["merge", str(folder)], capsys)
    assert "aug0-seed2.json (aug0 seed 2): " in err and differs in err
    assert "control-seed0.json" in err  # the class's settings, as in a file named


def test_merge_allows_what_the_variant_changes_and_the_device(tmp_path: Path, no_mnist) -> None:
    folder = example_copy(tmp_path, ("control", "nobn-lr0.1"))
    edit(folder / "control-seed0.json", lambda d: d.update(device="cpu",
                                                           torch_version="2.14.1"))
    results = ce.parse_args(["merge", str(folder)]).results
    assert [(r.variant, r.seed) for r in results][:4] == [("control", 0), ("control", 1),
                                                          ("control", 2), ("nobn-lr0.1", 0)]


def test_merge_refuses_predictions_that_do_not_match_their_hash(tmp_path: Path, no_mnist,
                                                                capsys) -> None:
    folder = example_copy(tmp_path)
    edit(folder / "aug0-seed0.json", lambda d: d.update(
        predictions=str((int(d["predictions"][0]) + 1) % 10) + d["predictions"][1:]))
    err = refused(["merge", str(folder)], capsys)
    assert "aug0-seed0.json" in err and "do not match their predictions_sha256" in err


def test_merge_refuses_predictions_that_do_not_match_their_accuracy(tmp_path: Path, mnist,
                                                                    splits, capsys) -> None:
    folder = example_copy(tmp_path)
    labels = "".join(str(int(d)) for d in splits.val_labels)

    def tamper(data: dict[str, Any]) -> None:  # an image it got right now wrong, hash redone
        right = next(i for i, (p, y) in enumerate(zip(data["predictions"], labels, strict=True))
                     if p == y)
        wrong = str((int(labels[right]) + 1) % 10)
        data["predictions"] = data["predictions"][:right] + wrong + data["predictions"][right + 1:]
        rehash(data)

    edit(folder / "aug0-seed0.json", tamper)
    err = refused(["merge", str(folder)], capsys)
    assert "aug0-seed0.json (aug0 seed 0): its predictions are 99.48% right but it records " \
           "99.50%" in err


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("metrics"),
    lambda d: d.update(predictions=d["predictions"][:-1]),
    lambda d: d.update(format="something else"),
    lambda d: d["metrics"].update(val_acc=float("nan")),
    lambda d: d["metrics"].update(train_seconds="32"),
    lambda d: d["metrics"].update(seed=9),
])
def test_merge_refuses_a_file_that_is_not_a_result(damage, tmp_path: Path, no_mnist,
                                                   capsys) -> None:
    folder = example_copy(tmp_path)
    edit(folder / "aug0-seed1.json", damage)
    assert f"{folder / 'aug0-seed1.json'}: " in refused(["merge", str(folder)], capsys)


def test_merge_refuses_a_variant_seed_without_its_control(tmp_path: Path, no_mnist,
                                                          capsys) -> None:
    folder = example_copy(tmp_path)
    (folder / "control-seed2.json").unlink()
    err = refused(["merge", str(folder)], capsys)
    assert "control is missing at seed(s) 2, needed by aug0-seed2.json (aug0 seed 2)" in err


def test_merge_refuses_nothing_to_merge(tmp_path: Path, no_mnist, capsys) -> None:
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    assert "is not text" in refused(["merge", str(tmp_path)], capsys)
    (tmp_path / "binary.json").unlink()
    assert "holds no .json result file" in refused(["merge", str(tmp_path)], capsys)
    assert "does not exist" in refused(["merge", str(tmp_path / "nope")], capsys)


# ------------------------------------------------------------------ the example class
def table_rows(text: str, variants: list[str]) -> list[str]:
    return [line for line in text.splitlines()
            if line.split(" | ")[0].lstrip("| ") in variants]


def test_the_example_class_reproduces_the_ablation_table(tmp_path: Path, mnist, splits,
                                                         capsys) -> None:
    """The example class hands in the committed ablation runs of 4 variants at seeds 0-2, so its
    rows are the ablation analysis of exactly those runs (the committed table has more seeds)."""
    out = tmp_path / "class.md"
    ce.main(["merge", str(EXAMPLE), "--out", str(out)])
    assert out.read_text() == EXAMPLE_TABLE.read_text() == capsys.readouterr().out
    variants = sorted({path.name.rsplit("-seed", 1)[0] for path in EXAMPLE.glob("*.json")})
    assert len(variants) == 4 and len(list(EXAMPLE.glob("*.json"))) == 12
    runs = ABLATION_RUNS
    same = [r for r in ablations.collect(runs) if r["variant"] in variants and r["seed"] < 3]
    analysed = ablations.markdown_report(
        same, ablations.compare_to_control(same, runs, splits.val_labels))
    rows = table_rows(out.read_text(), variants)
    assert len(rows) == 4 and rows == table_rows(analysed, variants)


# ------------------------------------------------------------------ a real run, tiny
def test_a_tiny_real_run_is_a_result_merge_reads(tmp_path: Path, mnist, capsys) -> None:
    """1 epoch on 512 training images on the CPU: about 10 s with one thread."""
    started = time.perf_counter()
    out = tmp_path / "aug0-seed7.json"
    ce.main(["run", "--variant", "aug0", "--seed", "7", "--epochs", "1", "--train-subset", "512",
             "--device", "cpu", "--no-progress", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["class_options"] == {"epochs": 1, "train_subset": 512}
    assert result["config"]["augment_strength"] == 0.0 and result["config"]["seed"] == 7
    assert result["config_source"] == "run.json" and result["cpu"]
    assert result["numeric_path"] == {"forward": "float32", "channels_last": False}
    assert result["data_split"]["train_used"] == 512 and len(result["predictions"]) == 5_000
    assert ce.read_result(out).seed == 7
    # beside the full-length example class it is refused, naming the settings that differ
    shutil.copy(EXAMPLE / "control-seed0.json", tmp_path)
    shutil.copy(EXAMPLE / "aug0-seed0.json", tmp_path)
    err = refused(["merge", str(tmp_path)], capsys)
    assert "aug0-seed7.json (aug0 seed 7): " in err and "--train-subset: class None" in err
    assert time.perf_counter() - started < 60


def test_merge_class_is_the_command_in_one_call(splits) -> None:
    assert ce.merge_class([EXAMPLE], splits.val_labels) == EXAMPLE_TABLE.read_text()
