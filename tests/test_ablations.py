"""Notebook 05's ablation engine: planning, validation-only finishing, tables, LR range test."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import utils.experiments.ablations as ablations
from utils.experiments.lr_range import lr_range_test, steepest_descent_lr
from utils.experiments.run_store import RunFolderError, SettingsMismatch
from utils.models import build_model, count_parameters
from utils.recipe import TrainConfig
from utils.train import MODEL_FILE, STATE_FILE


def test_every_ablation_changes_exactly_what_it_says() -> None:
    control = TrainConfig(arch="primary19k").to_dict()
    for name, ablation in ablations.ABLATIONS.items():
        config = TrainConfig(**{"arch": "primary19k", **ablation.settings})
        config.validate()
        changed = {k for k, v in config.to_dict().items() if v != control[k]}
        assert changed == set(ablation.settings), name
        assert (name == ablations.CONTROL) == (not changed)


def test_ablation_models_keep_the_budget_and_change_one_thing() -> None:
    base = build_model("primary19k")
    assert count_parameters(build_model("primary19k_dropout")) == count_parameters(base)
    for name in ("primary19k_nobn", "primary19k_fchead"):
        assert abs(count_parameters(build_model(name)) - count_parameters(base)) < 500
    nobn = build_model("primary19k_nobn")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in nobn.modules())
    assert any(isinstance(m, torch.nn.Dropout) for m in build_model("primary19k_dropout").modules())
    assert not any(isinstance(m, torch.nn.AdaptiveAvgPool2d)
                   for m in build_model("primary19k_fchead").modules())


def test_plan_is_seed_major_and_rejects_bad_input() -> None:
    specs = ablations.plan_ablations(["control", "ls0"], [0, 1], "cpu")
    assert [(s.variant, s.seed) for s in specs] == [("control", 0), ("ls0", 0), ("control", 1),
                                                   ("ls0", 1)]
    assert specs[1].config.label_smoothing == 0.0 and specs[1].config.seed == 0
    with pytest.raises(ValueError, match="Unknown ablation.*'nope'"):
        ablations.plan_ablations(["nope"], [0], "cpu")
    with pytest.raises(ValueError, match="repeated"):
        ablations.plan_ablations(["control"], [1, 1], "cpu")


def test_cli_refuses_bad_arguments_before_loading_data(capsys) -> None:
    with pytest.raises(SystemExit) as excinfo:
        ablations.main(["--variants", "nobn", "--seeds", "0"])
    assert excinfo.value.code == 2
    assert "Unknown ablation" in capsys.readouterr().err


def _tiny(spec, epochs: int = 1):
    """The same variant at a size a CPU test can afford."""
    config = replace(spec.config, epochs=epochs, train_subset=512, batch_size=128)
    return replace(spec, config=config)


def test_runs_finish_on_validation_only_and_tabulate(tmp_path: Path, splits) -> None:
    # no test images at all: an ablation that touched the test split would fail here; 1,000
    # validation images keep the four runs' evaluations (most of this test's time) short
    no_test = replace(splits, val_images=splits.val_images[:1000],
                      val_labels=splits.val_labels[:1000],
                      test_images=splits.test_images[:0], test_labels=splits.test_labels[:0])
    runs_root = tmp_path / "ablations"
    specs = ablations.plan_ablations(["control", "ls0"], [0, 1], "cpu", amp="off")
    for spec in specs:
        metrics = ablations.run_ablation(_tiny(spec), runs_root, no_test, progress=False)
        folder = spec.path(runs_root)
        assert not (folder / MODEL_FILE).exists() and not (folder / STATE_FILE).exists()
        predictions = ablations.read_predictions(runs_root, spec.variant, spec.seed)
        assert len(predictions) == len(no_test.val_labels)
        assert metrics["val_acc"] == pytest.approx(
            float((predictions == no_test.val_labels).float().mean()))
        assert "test_acc" not in metrics
    rows = ablations.collect(runs_root)
    assert [(r["variant"], r["seed"]) for r in rows] == [("control", 0), ("control", 1),
                                                        ("ls0", 0), ("ls0", 1)]
    comparisons = ablations.compare_to_control(rows, runs_root, no_test.val_labels)
    by_name = {c.variant: c for c in comparisons}
    assert by_name["control"].diffs == [0.0, 0.0] and not by_name["control"].beyond_noise
    expected = [100 * (b["val_acc"] - a["val_acc"]) for a, b in zip(rows[:2], rows[2:], strict=True)]
    assert by_name["ls0"].diffs == pytest.approx(expected)
    assert len(by_name["ls0"].p_values) == 2
    ablations.write_tables(rows, comparisons, tmp_path)
    with open(tmp_path / "ablations.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4
    assert set(ablations.CSV_COLUMNS) >= {"variant", "changed", "seed", "epochs", "params",
                                          "val_acc", "val_loss", "train_seconds", "device"}
    assert list(table[0]) == ablations.CSV_COLUMNS
    markdown = (tmp_path / "ablations.md").read_text()
    assert "| ls0 | no label smoothing | 2 |" in markdown
    # a finished run is not trained again
    again = ablations.run_ablation(_tiny(specs[0]), runs_root, no_test, progress=False)
    assert again == json.loads((specs[0].path(runs_root) / "metrics.json").read_text())


def test_a_diverged_run_is_recorded_and_tabulated_as_not_learned(tmp_path: Path, splits) -> None:
    # the engine stops a run whose loss turns NaN; its record must still be a finished run
    small = replace(splits, val_images=splits.val_images[:500], val_labels=splits.val_labels[:500])
    runs_root = tmp_path / "ablations"
    control, variant = ablations.plan_ablations(["control", "nobn-lr0.3"], [0], "cpu", amp="off")
    diverging = replace(variant, config=replace(_tiny(variant, epochs=3).config, lr=1e3,
                                                schedule="constant"))
    ablations.run_ablation(_tiny(control), runs_root, small, progress=False)
    metrics = ablations.run_ablation(diverging, runs_root, small, progress=False)
    assert metrics["epochs"] == 1 and metrics["val_loss"] is None
    assert not ablations.learned(metrics["val_acc"])
    rows = ablations.collect(runs_root)
    by_name = {c.variant: c for c in ablations.compare_to_control(rows, runs_root,
                                                                  small.val_labels)}
    assert by_name["nobn-lr0.3"].not_learned_seeds == [0]
    ablations.write_tables(rows, list(by_name.values()), tmp_path)
    assert "| nobn-lr0.3 |" in (tmp_path / "ablations.md").read_text()


@pytest.mark.parametrize(("diffs", "expected"), [
    ([0.3, 0.25, 0.35], True),  # one sign, t = 10.4 > 4.30
    ([-0.16, -0.24, -0.16], True),  # aug2's seeds: t = -7.0
    ([0.3, -0.1, 0.2], False),  # t = 0.9: within seed noise
    ([0.3, 0.01, 0.6], False),  # one sign but spread: t = 1.8 < 4.30
    ([-0.16, -0.40, -0.58], False),  # nobn-lr0.1: every seed lower, yet t = -3.1
    ([0.3, 0.3], False),  # two seeds: no verdict
])
def test_beyond_noise_is_the_run_level_test_alone(diffs, expected) -> None:
    comparison = ablations.Comparison("x", [0, 1, 2], 99.5, 0.1, dict(enumerate(diffs)),
                                      [1e-9] * len(diffs), {"cpu": 1.0}, [])
    assert comparison.beyond_noise is expected  # per-seed McNemar p of 1e-9 changes nothing
    if len(diffs) >= 3:
        low, high = comparison.paired.ci95
        assert (low > 0 or high < 0) is expected  # the same decision as the interval


def test_the_control_has_no_comparison() -> None:
    control = ablations.Comparison("control", [0, 1, 2], 99.5, 0.1, dict.fromkeys(range(3), 0.0),
                                   [], {"cpu": 1.0}, [])
    assert control.paired is None and not control.beyond_noise


def _rows(accs: dict[str, list[float]]) -> list[dict]:
    return [{"variant": v, "seed": seed, "val_acc": a}
            for v, values in accs.items() for seed, a in enumerate(values)]


def test_seed_differences_and_verdicts_pair_by_seed() -> None:
    rows = _rows({"control": [0.9950, 0.9960, 0.9955], "aug2": [0.9934, 0.9936, 0.9939],
                  "ls0": [0.9962, 0.9956, 0.9949]})
    diffs = ablations.seed_differences(rows)
    assert diffs["aug2"] == pytest.approx({0: -0.16, 1: -0.24, 2: -0.16})
    assert ablations.verdicts(rows) == {"aug2": True, "ls0": False}
    # a variant missing a seed is paired on the seeds both ran; two seeds give no verdict
    assert ablations.verdicts(rows[:-1])["ls0"] is False


def test_read_table_round_trips_the_committed_csv() -> None:
    rows = ablations.read_table(ablations.RESULTS_DIR / "ablations.csv")
    assert {r["variant"] for r in rows} == set(ablations.ABLATIONS)
    runs = {(r["variant"], r["seed"]): r["val_acc"]
            for r in ablations.collect(ablations.RESULTS_DIR / "ablations")}
    assert {(r["variant"], r["seed"]): r["val_acc"] for r in rows} == pytest.approx(runs)
    assert all(isinstance(r["seed"], int) for r in rows)


def _fake_run(runs_root: Path, variant: str, seed: int, predictions: str, val_acc: float) -> Path:
    folder = ablations.run_folder(runs_root, ablations.ARCH, seed, variant)
    folder.mkdir(parents=True)
    (folder / ablations.PREDICTIONS_FILE).write_text(predictions + "\n")
    (folder / "metrics.json").write_text(json.dumps({"val_acc": val_acc}))
    return folder


def test_predictions_must_match_their_metrics(tmp_path: Path) -> None:
    labels = torch.tensor([1, 2, 3, 4])
    _fake_run(tmp_path, "ls0", 0, "1233", 0.75)
    assert ablations.checked_predictions(tmp_path, "ls0", 0, labels).tolist() == [1, 2, 3, 3]
    short = _fake_run(tmp_path, "ls0", 1, "123", 0.75)
    with pytest.raises(ValueError, match=f"{short / 'val_predictions.txt'}.*3 predictions.*4"):
        ablations.checked_predictions(tmp_path, "ls0", 1, labels)
    stale = _fake_run(tmp_path, "ls0", 2, "1234", 0.75)
    with pytest.raises(ValueError, match=f"{stale / 'val_predictions.txt'}.*100.00%.*75.00%"):
        ablations.checked_predictions(tmp_path, "ls0", 2, labels)
    garbled = _fake_run(tmp_path, "ls0", 3, "12x4", 0.75)
    with pytest.raises(ValueError, match=f"{garbled / 'val_predictions.txt'}"):
        ablations.checked_predictions(tmp_path, "ls0", 3, labels)


def test_committed_predictions_agree_with_their_metrics(splits) -> None:
    runs_root = ablations.RESULTS_DIR / "ablations"
    for row in ablations.read_table(ablations.RESULTS_DIR / "ablations.csv"):
        predictions = ablations.checked_predictions(runs_root, row["variant"], row["seed"],
                                                    splits.val_labels)
        assert len(predictions) == 5_000


def test_a_run_at_chance_did_not_learn_and_its_plateau_is_read_from_the_history(
        tmp_path: Path) -> None:
    assert ablations.learned(0.9919) and not ablations.learned(0.1124)
    accs = {"0": [0.11, 0.6, 0.97], "1": [0.11, 0.32, 0.11], "2": [0.11, 0.11, 0.52]}
    for seed, values in accs.items():
        folder = ablations.run_folder(tmp_path, ablations.ARCH, int(seed), "nobn-lr0.1")
        folder.mkdir(parents=True)
        (folder / "history.json").write_text(json.dumps(
            [{"epoch": i + 1, "val_acc": a} for i, a in enumerate(values)]))
    epochs = [ablations.first_learned_epoch(tmp_path, "nobn-lr0.1", s) for s in (0, 1, 2)]
    assert epochs == [2, None, 3]  # seed 1 left chance for an epoch, then fell back
    rows = [{"variant": v, "seed": seed, "device": "cpu", "val_acc": accs[str(seed)][-1]}
            for v in ("control", "nobn-lr0.1") for seed in (0, 1, 2)]
    outcomes = ablations.learning_outcomes(rows, tmp_path, ["nobn-lr0.1"])
    assert [(o["seed"], o["learned_at_epoch"]) for o in outcomes] == [(0, 2), (1, None), (2, 3)]
    assert [o["val_acc"] for o in outcomes] == pytest.approx([97.0, 11.0, 52.0])


def test_markdown_counts_runs_that_did_not_learn_and_times_per_device() -> None:
    rows = [{"variant": v, "seed": s, "val_acc": a, "changed": v, "device": d}
            for v, s, a, d in [("control", 0, 0.995, "cuda"), ("control", 1, 0.996, "cpu"),
                               ("control", 2, 0.996, "cpu"), ("nobn-lr0.1", 0, 0.992, "cuda"),
                               ("nobn-lr0.1", 1, 0.1124, "cpu"), ("nobn-lr0.1", 2, 0.991, "cpu")]]
    comparisons = [ablations.Comparison("control", [0, 1, 2], 99.57, 0.06,
                                        dict.fromkeys(range(3), 0.0), [],
                                        {"cpu": 900.0, "cuda": 34.0}, []),
                   ablations.Comparison("nobn-lr0.1", [0, 1, 2], 69.8, 50.0,
                                        {0: -0.3, 1: -88.5, 2: -0.5}, [],
                                        {"cpu": 700.0, "cuda": 28.0}, [1])]
    text = ablations.markdown_report(rows, comparisons)
    line = next(x for x in text.splitlines() if x.startswith("| nobn-lr0.1 |"))
    assert line.endswith("| 1 of 3 | 700 on cpu; 28 on cuda |")
    assert "cuDNN run float32 convolutions in TF32" in text  # what "float32" means on CUDA


def test_a_curve_across_variants_uses_the_seeds_all_of_them_ran() -> None:
    rows = _rows({"control": [0.995, 0.996, 0.9955, 0.997], "lr0.2": [0.994, 0.995, 0.996],
                  "ls0": [0.99]})
    kept = ablations.on_shared_seeds(rows, ["control", "lr0.2"])
    assert sorted((r["variant"], r["seed"]) for r in kept) == [
        ("control", 0), ("control", 1), ("control", 2), ("lr0.2", 0), ("lr0.2", 1), ("lr0.2", 2)]


def test_times_compare_on_a_device_every_variant_ran_on() -> None:
    def timed(variant: str, seconds: dict[str, float]) -> ablations.Comparison:
        return ablations.Comparison(variant, [0, 1, 2], 99.5, 0.1, dict.fromkeys(range(3), 0.0), [],
                                    seconds, [])

    comparisons = [timed("control", {"cpu": 900.0, "cuda": 34.0}), timed("bs64", {"cuda": 64.0}),
                   timed("bs512", {"cpu": 300.0, "cuda": 13.0}), timed("ls0", {"cpu": 800.0})]
    assert ablations.shared_device(comparisons, ["control", "bs64", "bs512"]) == "cuda"
    assert ablations.shared_device(comparisons, ["control", "bs512"]) == "cpu"
    with pytest.raises(ValueError, match="bs64, ls0 share no device"):
        ablations.shared_device(comparisons, ["bs64", "ls0"])


def test_markdown_states_the_run_level_rule_and_labels_mcnemar() -> None:
    rows = [{**r, "changed": r["variant"], "device": "cpu"} for r in _rows(
        {"control": [0.9950, 0.9960, 0.9955], "aug2": [0.9934, 0.9936, 0.9939]})]
    comparisons = [ablations.Comparison("control", [0, 1, 2], 99.55, 0.05,
                                        dict.fromkeys(range(3), 0.0), [], {"cpu": 30.0}, []),
                   ablations.Comparison("aug2", [0, 1, 2], 99.36, 0.02,
                                        {0: -0.16, 1: -0.24, 2: -0.16}, [0.1, 0.02, 0.13],
                                        {"cpu": 30.0}, [])]
    text = ablations.markdown_report(rows, comparisons)
    assert "pooled" not in text.lower() and "TF32" not in text  # CPU runs only
    assert "McNemar p per seed (fixed networks)" in text
    line = next(x for x in text.splitlines() if x.startswith("| aug2 |"))
    assert "| -0.30 to -0.07 | -7.0 | 0.02 |" in line and "| yes | 0.1, 0.02, 0.13 |" in line
    assert line.endswith("| 0 of 3 | 30 on cpu |")


def test_t_statistic_by_hand() -> None:
    comparison = ablations.Comparison("x", [0, 1, 2], 99.5, 0.1, {0: 0.1, 1: 0.2, 2: 0.3}, [],
                                      {"cpu": 1.0}, [])
    # mean 0.2, sd 0.1, n 3: t = 0.2 / (0.1 / sqrt 3) = 3.46
    assert comparison.t_statistic == pytest.approx(2 * 3**0.5)


def test_lr_range_test_rises_geometrically_and_stops_on_divergence(splits) -> None:
    small = replace(splits, train_images=splits.train_images[:2048],
                    train_labels=splits.train_labels[:2048])
    config = TrainConfig(arch="micro2k", device="cpu", amp="off", channels_last="off")
    points = lr_range_test(config, small, start_lr=1e-3, end_lr=1e3, steps=60, progress=False)
    lrs = [p.lr for p in points]
    assert lrs[0] == pytest.approx(1e-3)
    ratios = {round(b / a, 9) for a, b in zip(lrs, lrs[1:], strict=False)}
    assert len(ratios) == 1  # geometric
    assert len(points) < 60  # a learning rate of hundreds diverges before the end
    assert 1e-3 <= steepest_descent_lr(points) <= lrs[-1]
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_range_test(config, small, start_lr=1.0, end_lr=0.1)


# ---------------------------------------------------------------- hostile run folders
VAL_LABELS = torch.tensor([1, 2, 3, 4])


def _finished(runs_root: Path, variant: str, seed: int, folder: str | None = None,
              **changes) -> Path:
    """A finished ablation run as record_validation leaves it (metrics and predictions, no
    weights); its predictions are all right on ``VAL_LABELS``."""
    path = ablations.run_folder(runs_root, ablations.ARCH, seed, variant)
    path = path.parent / folder if folder else path
    path.mkdir(parents=True)
    (path / ablations.PREDICTIONS_FILE).write_text("1234\n")
    metrics = {"variant": variant, "changed": ablations.ABLATIONS[variant].changed,
               "group": ablations.ABLATIONS[variant].group, "arch": ablations.ARCH,
               "seed": seed, "epochs": 15, "batch_size": 128, "params": 19546,
               "val_acc": 1.0, "val_loss": 0.02, "train_seconds": 30.0, "device": "cpu",
               "precision": "float32", "torch_version": "2", **changes}
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def test_a_seed_backup_folder_is_named_and_not_counted(tmp_path: Path, capsys) -> None:
    _finished(tmp_path, "control", 0)
    backup = _finished(tmp_path, "control", 0, folder="seed0_backup")
    stray = tmp_path / "primary19k-typo" / "seed0"
    stray.mkdir(parents=True)
    rows = ablations.collect(tmp_path)
    assert [(r["variant"], r["seed"]) for r in rows] == [("control", 0)]
    out = capsys.readouterr().out
    assert f"{backup}: not a seed<N> folder" in out and "primary19k-typo" in out


def test_a_row_never_mixes_settings(tmp_path: Path) -> None:
    """A 5-epoch seed left in the control's folder used to be averaged into its row."""
    _finished(tmp_path, "control", 0)
    odd = _finished(tmp_path, "control", 1, epochs=5)
    with pytest.raises(SettingsMismatch, match=f"{odd}.*epochs.*the control row"):
        ablations.collect(tmp_path)


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not valid JSON"),
    ('{"variant": "control", "arch": "primary19k", "seed": 0, "val_acc": 0.9}', "lacks"),
])
def test_a_bad_metrics_file_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = _finished(tmp_path, "control", 0) / "metrics.json"
    path.write_text(content)
    with pytest.raises(RunFolderError, match=f"{path}.*{message}"):
        ablations.collect(tmp_path)


def test_a_run_copied_into_another_variants_folder_is_refused(tmp_path: Path) -> None:
    copied = _finished(tmp_path, "ls0", 0)
    (copied / "metrics.json").write_text(json.dumps(
        {**json.loads((copied / "metrics.json").read_text()), "variant": "aug2"}))
    with pytest.raises(RunFolderError, match="records variant 'aug2' but lies in"):
        ablations.collect(tmp_path)


@pytest.fixture
def fake_data(monkeypatch):
    """MNIST as the tables need it (validation labels only); ``calls`` counts the loads."""
    calls: list[int] = []

    def load(*args, **kwargs):
        calls.append(1)
        return SimpleNamespace(val_labels=VAL_LABELS)

    monkeypatch.setattr(ablations, "load_mnist_splits", load)
    return calls


def refused(argv: list[str], capsys) -> str:
    """Run the CLI, which must exit with status 2; its error text."""
    with pytest.raises(SystemExit) as exited:
        ablations.main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_a_finished_run_of_other_settings_is_refused_before_mnist(tmp_path: Path, fake_data,
                                                                  capsys) -> None:
    """It used to surface as a traceback mid-loop, after the runs before it had trained."""
    odd = _finished(tmp_path / "ablations", "ls0", 0, epochs=5)
    err = refused(["--variants", "control", "ls0", "--seeds", "0", "--device", "cpu", "--amp",
                   "off", "--runs-root", str(tmp_path / "ablations")], capsys)
    assert f"{odd} is a finished run of other settings" in err and "epochs: finished 5, asked 15" in err
    assert not fake_data and not (tmp_path / "ablations.csv").exists()


def test_a_run_of_another_numeric_path_is_refused_with_the_flag_that_asks_for_it(
        tmp_path: Path, fake_data, capsys) -> None:
    _finished(tmp_path / "ablations", "control", 0, precision="bfloat16 autocast")
    err = refused(["--variants", "control", "--seeds", "0", "--device", "cpu", "--amp", "off",
                   "--runs-root", str(tmp_path / "ablations")], capsys)
    assert "forward pass: finished 'bfloat16 autocast', asked 'float32'" in err
    assert "(--amp on)" in err and not fake_data


@pytest.mark.parametrize("root", ["rnus", "empty"])
def test_a_missing_or_empty_runs_root_is_an_error(tmp_path: Path, fake_data, capsys,
                                                  root: str) -> None:
    (tmp_path / "empty" / "primary19k" / "seed0_backup").mkdir(parents=True)
    err = refused(["--tables-only", "--runs-root", str(tmp_path / root)], capsys)
    assert ("does not exist" if root == "rnus" else "holds no finished run") in err
    assert not fake_data and not list(tmp_path.rglob("ablations.*"))


def test_another_runs_root_never_writes_over_the_course_tables(tmp_path: Path,
                                                               fake_data) -> None:
    results = tmp_path / "results"
    for variant in ("control", "ls0"):
        _finished(results / "my_ablations", variant, 0)
    (results / "ablations.md").write_text("the course's table\n")
    ablations.main(["--tables-only", "--runs-root", str(results / "my_ablations")])
    assert (results / "ablations.md").read_text() == "the course's table\n"
    assert "| ls0 | no label smoothing | 1 |" in (results / "my_ablations" / "ablations.md"
                                                 ).read_text()
    ablations.main(["--tables-only", "--runs-root", str(results / "my_ablations"), "--out",
                    str(tmp_path / "tables")])
    assert (tmp_path / "tables" / "ablations.csv").read_text().count("\n") == 3


def test_the_course_root_keeps_its_tables_beside_it() -> None:
    assert ablations.tables_dir(ablations.RESULTS_DIR / "ablations") == ablations.RESULTS_DIR
    assert ablations.tables_dir(Path("runs/ablations"), Path("out")) == Path("out")


def test_an_output_that_is_a_file_is_refused_before_work(tmp_path: Path, fake_data,
                                                         capsys) -> None:
    _finished(tmp_path / "ablations", "control", 0)
    (tmp_path / "a_file").write_text("")
    err = refused(["--tables-only", "--runs-root", str(tmp_path / "ablations"), "--out",
                   str(tmp_path / "a_file")], capsys)
    assert f"{tmp_path / 'a_file'}" in err and "is a file, not a folder" in err
    assert not fake_data


def test_the_committed_tables_regenerate_byte_identically(tmp_path: Path, splits,
                                                          monkeypatch) -> None:
    monkeypatch.setattr(ablations, "load_mnist_splits", lambda *a, **k: splits)
    ablations.main(["--tables-only", "--out", str(tmp_path)])
    for name in ("ablations.md", "ablations.csv"):
        assert (tmp_path / name).read_bytes() == (ablations.RESULTS_DIR / name).read_bytes()
