"""The bf16-vs-fp32 comparison (utils.experiments.numeric_paths): pairing, counts, checks and tables, on
hand-made runs (untrained models saved as sweep runs would be; nothing trains here)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from utils.checkpoints import save_model_checkpoint
from utils.data import MNISTSplits
from utils.experiments import numeric_paths
from utils.experiments.sweep import METRICS_FILE, run_folder
from utils.models import build_model
from utils.stats import mcnemar_exact
from utils.train import MODEL_FILE

ARCH = "micro2k"
NORM = {"mean": 0.1307, "std": 0.3081}


@pytest.fixture(scope="module")
def small(splits: MNISTSplits) -> MNISTSplits:
    return replace(splits, val_images=splits.val_images[:300], val_labels=splits.val_labels[:300],
                   test_images=splits.test_images[:400], test_labels=splits.test_labels[:400])


def save_run(root: Path, seed: int, weights_seed: int, splits: MNISTSplits,
             precision: dict | None, device: str = "cpu", errors_off_by: int = 0) -> Path:
    """A finished sweep run: weights, metadata and the metrics.json a sweep would write."""
    torch.manual_seed(weights_seed)
    model = build_model(ARCH)
    metadata = {"seed": seed, "normalization": NORM, "device": device, "cpu": "Test CPU"}
    if precision is not None:
        metadata["precision"] = precision
    folder = run_folder(root, ARCH, seed)
    folder.mkdir(parents=True)
    save_model_checkpoint(folder / MODEL_FILE, model, ARCH, metadata)
    right = numeric_paths.correct_answers(model, splits.test_images, splits.test_labels, NORM)
    (folder / METRICS_FILE).write_text(json.dumps(
        {"arch": ARCH, "seed": seed, "test_errors": int((~right).sum()) + errors_off_by}))
    return folder


BF16 = {"forward": "bfloat16 autocast", "channels_last": False, "cpu_bf16_kernels": False}


def two_roots(tmp_path: Path, splits: MNISTSplits, seeds=(0, 1, 2)) -> tuple[Path, Path]:
    for seed in seeds:
        save_run(tmp_path / "fp32", seed, weights_seed=seed, splits=splits, precision=None)
        save_run(tmp_path / "bf16", seed, weights_seed=100 + seed, splits=splits, precision=BF16)
    return tmp_path / "fp32", tmp_path / "bf16"


def test_pair_split_counts_each_kind_of_disagreement() -> None:
    reference = [torch.tensor([True, True, False, False, True])]
    candidate = [torch.tensor([True, False, True, True, True])]
    paired = numeric_paths.pair_split(reference, candidate)
    assert paired.reference == [60.0] and paired.candidate == [80.0]
    assert paired.diffs == [pytest.approx(20.0)]
    assert (paired.only_reference_right, paired.only_candidate_right) == ([1], [2])
    assert paired.p_values == [mcnemar_exact(1, 2).p_value]
    assert not paired.beyond_noise  # one seed: never judged beyond noise
    assert numeric_paths.verdict(paired) == "too few seeds to judge (need 3)"


def test_a_consistent_shift_over_seeds_and_images_is_beyond_noise() -> None:
    right, wrong = torch.ones(1000, dtype=torch.bool), torch.zeros(1000, dtype=torch.bool)
    reference = [right.clone() for _ in range(3)]
    candidate = []
    for k in (40, 45, 50):  # the candidate loses k images per seed, gains none
        c = right.clone()
        c[:k] = wrong[:k]
        candidate.append(c)
    paired = numeric_paths.pair_split(reference, candidate)
    assert paired.beyond_noise and numeric_paths.verdict(paired) == "candidate lower, beyond noise"
    flipped = numeric_paths.pair_split(candidate, reference)
    assert numeric_paths.verdict(flipped) == "candidate higher, beyond noise"
    assert numeric_paths.verdict(numeric_paths.pair_split(reference, reference)) == \
        "no change beyond noise"


def test_compare_model_pairs_seeds_and_writes_both_tables(tmp_path: Path, small) -> None:
    fp32, bf16 = two_roots(tmp_path, small)
    save_run(fp32, 3, weights_seed=3, splits=small, precision=None)  # no bf16 partner: left out
    comparison = numeric_paths.compare_model(ARCH, fp32, bf16, small)
    assert comparison.seeds == [0, 1, 2]
    assert comparison.reference_path == "float32 on cpu: Test CPU"
    assert comparison.candidate_path == "bfloat16 autocast on cpu: Test CPU, no bf16 kernels"
    for paired, n in ((comparison.val, 300), (comparison.test, 400)):
        assert all(0 <= a <= 100 for a in paired.reference + paired.candidate)
        # b and c explain the accuracy difference exactly: (c - b) / n
        assert paired.diffs == pytest.approx(
            [100 * (c - b) / n for b, c in zip(paired.only_reference_right,
                                                paired.only_candidate_right, strict=True)])
    numeric_paths.write_tables([comparison], tmp_path)
    rows = (tmp_path / "comparison.csv").read_text().splitlines()
    assert rows[0].split(",") == numeric_paths.CSV_COLUMNS and len(rows) == 1 + 3 * 2
    report = (tmp_path / "comparison.md").read_text()
    assert f"## {ARCH} (3 seeds: 0, 1, 2)" in report and "| test (10,000) |" in report


def test_one_seed_shows_no_spread_and_no_t(tmp_path: Path, small) -> None:
    """An interim table (one seed finished so far) must not print a spread of ± 0.00 or a t of
    ±inf, which would read as certainty."""
    fp32, bf16 = two_roots(tmp_path, small, seeds=(0,))
    report = numeric_paths.markdown([numeric_paths.compare_model(ARCH, fp32, bf16, small)])
    assert f"## {ARCH} (1 seed: 0)" in report
    rows = [line for line in report.splitlines() if line.startswith("| validation")]
    cells = rows[0].split(" | ")
    assert "±" not in rows[0] and "inf" not in rows[0] and cells[5] == "—"
    assert cells[-1].startswith("too few seeds to judge")


def test_weights_that_disagree_with_their_metrics_are_refused(tmp_path: Path, small) -> None:
    fp32, bf16 = two_roots(tmp_path, small, seeds=(0,))
    folder = run_folder(bf16, ARCH, 1)
    save_run(bf16, 1, weights_seed=7, splits=small, precision=BF16, errors_off_by=1)
    save_run(fp32, 1, weights_seed=1, splits=small, precision=None)
    with pytest.raises(ValueError, match=f"{folder}: its weights make .* test errors but"):
        numeric_paths.compare_model(ARCH, fp32, bf16, small)


def test_two_roots_on_the_same_numeric_path_are_refused(tmp_path: Path, small) -> None:
    fp32, _ = two_roots(tmp_path, small, seeds=(0,))
    with pytest.raises(ValueError, match="needs two numeric paths"):
        numeric_paths.compare_model(ARCH, fp32, fp32, small)


def test_no_common_seed_is_a_clear_error(tmp_path: Path, small) -> None:
    save_run(tmp_path / "fp32", 0, weights_seed=0, splits=small, precision=None)
    (tmp_path / "bf16").mkdir()
    with pytest.raises(ValueError, match="No seed of micro2k has finished under both"):
        numeric_paths.compare_model(ARCH, tmp_path / "fp32", tmp_path / "bf16", small)


def test_a_gpu_run_without_a_recorded_path_is_not_assumed_float32() -> None:
    assert numeric_paths.training_precision({"device": "cpu"}) == "float32"
    assert numeric_paths.training_precision({"precision": BF16}) == "bfloat16 autocast"
    with pytest.raises(ValueError, match="may have trained in bf16"):
        numeric_paths.training_precision({"device": "cuda (NVIDIA H200)"})


def test_a_bf16_run_names_its_kernels_memory_format_and_torch() -> None:
    fast = {"device": "cpu", "cpu": "Xeon",
            "precision": {**BF16, "channels_last": True, "cpu_bf16_kernels": True}}
    assert numeric_paths.hardware_of(fast, "2.11.0") == \
        "cpu: Xeon, bf16 kernels, channels_last; torch 2.11.0"
    assert numeric_paths.hardware_of({"device": "cpu", "precision": BF16}) == \
        "cpu: CPU not recorded, no bf16 kernels"
    assert numeric_paths.hardware_of({"device": "cpu", "cpu": "EPYC"}, "2.14.1") == \
        "cpu: EPYC; torch 2.14.1"


@pytest.mark.parametrize(("argv", "message"), [
    (["--models", "nosuch"], "Unknown model"),
    (["--candidate-root", "{tmp}/missing"], "is not a folder of sweep runs"),
])
def test_bad_arguments_fail_before_mnist_is_loaded(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(numeric_paths, "load_mnist_splits",
                        lambda root=None: pytest.fail("MNIST must not be loaded"))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit):
        numeric_paths.main(argv)
    assert message in capsys.readouterr().err



def test_the_command_pairs_two_roots_end_to_end(tmp_path: Path, small, monkeypatch, capsys) -> None:
    """main(), as the command line runs it: arguments checked, seeds paired, tables written."""
    fp32, bf16 = two_roots(tmp_path, small)
    monkeypatch.setattr(numeric_paths, "load_mnist_splits", lambda root=None: small)
    numeric_paths.main(["--models", ARCH, "--reference-root", str(fp32),
                        "--candidate-root", str(bf16), "--out", str(tmp_path / "out")])
    report = (tmp_path / "out" / "comparison.md").read_text()
    assert f"## {ARCH} (3 seeds: 0, 1, 2)" in report and "95% CI of Δ" in report
    assert "pooled" not in report  # the verdict is the run-level test's alone
    assert "[numeric_paths] wrote" in capsys.readouterr().out
