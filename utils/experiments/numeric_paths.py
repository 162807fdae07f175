"""Does training on the CPU fast path (bfloat16 autocast) change what the recipe learns?

The accuracy check of the fast path. Each fast-path run is paired with the float32 run of the same model
and seed: same initial weights, batch order and augmentation draws, so the numeric path is the
only difference. Both are scored on the same images with the same float32 evaluation, and
compared seed by seed (exact McNemar on the images) and over seeds (paired t):

    python -m utils.experiments.sweep --models compact8k primary19k --seeds 0 1 2 3 4 --device cpu \\
        --amp on --runs-root results/bf16/runs
    python -m utils.experiments.numeric_paths            # -> results/bf16/comparison.md and .csv

The decision (may "auto" train in bf16?) is read on the **validation** split, as every choice
in this course is. The test columns re-score each finished run's saved weights on the test set
(the same numbers its single test evaluation wrote to ``metrics.json``, which is checked): they
report the paired comparison on the test images, and nothing is chosen from them.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from utils.atomic_files import atomic_write_text
from utils.checkpoints import load_model_checkpoint
from utils.data import MNISTSplits, load_mnist_splits
from utils.evaluate import predict_logits
from utils.experiments.cli import add_mnist_root
from utils.experiments.run_store import (
    RunFolderError,
    SettingsMismatch,
    numeric_path_of,
    read_metrics,
    require_finished,
    require_runs_root,
    run_settings,
    scan_runs,
    settings_differences,
)
from utils.experiments.sweep import METRICS_FILE, run_folder, tables_dir
from utils.experiments.tables import markdown_table
from utils.models import require_known_models
from utils.paths import RESULTS_DIR, check_output_file
from utils.run_files import FLOAT32, MODEL_FILE
from utils.stats import McNemarResult, PairedSeeds, mcnemar_from_correct, paired_seeds

MODELS = ["primary19k", "compact8k"]  # the two models the bf16 study compares
RUN_METRICS_KEYS = ("arch", "seed", "test_errors")  # what a comparison reads of metrics.json


@dataclass(frozen=True)
class ScoredRun:
    """One finished run's right/wrong answers on the validation and test images."""

    seed: int
    precision: str  # the forward pass: FLOAT32 or BF16_AUTOCAST (utils.numeric_path)
    cpu: str  # where it trained (device, CPU, kernels, torch), as its run recorded it
    val_correct: torch.Tensor
    test_correct: torch.Tensor


def training_precision(metadata: dict[str, Any]) -> str:
    """The forward pass's number format, as :func:`numeric_path_of` reads it; a run whose path
    is not known (saved on a GPU before the engine recorded it) is refused."""
    forward = numeric_path_of(metadata).get("forward")
    if forward is not None:
        return forward
    raise ValueError(f"A {metadata.get('device')} run saved without its numeric path: it may "
                     "have trained in bf16 (older engines turned autocast on for CUDA). Compare "
                     "runs that record metadata['precision'].")


def hardware_of(metadata: dict[str, Any], torch_version: str | None = None) -> str:
    """``cpu: AMD EPYC, no bf16 kernels; torch 2.14.1`` (an emulated bf16 run). Kernels and
    memory format are named for bf16 runs only; older runs say what they did not record."""
    label = f"{metadata.get('device', '?')}: {metadata.get('cpu', 'CPU not recorded')}"
    if training_precision(metadata) != FLOAT32:
        precision = metadata.get("precision", {})
        label += {True: ", bf16 kernels", False: ", no bf16 kernels"}.get(
            precision.get("cpu_bf16_kernels"), ", bf16 kernels not recorded")
        label += ", channels_last" if precision.get("channels_last") else ""
    return label + (f"; torch {torch_version}" if torch_version else "")


def correct_answers(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    normalization: dict[str, float]) -> torch.Tensor:
    logits = predict_logits(model, images, normalization["mean"], normalization["std"])
    return logits.argmax(1) == labels


def score_run(run_dir: Path, splits: MNISTSplits) -> ScoredRun:
    """Re-score a finished run in float32; its test accuracy must equal the one ``metrics.json``
    recorded (else the folder holds other weights than those the sweep evaluated)."""
    metrics_path = run_dir / METRICS_FILE
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished sweep run (no {METRICS_FILE}).")
    recorded = read_metrics(metrics_path, RUN_METRICS_KEYS)
    model, info = load_model_checkpoint(run_dir / MODEL_FILE)
    meta = info["metadata"]
    norm = meta["normalization"]
    val = correct_answers(model, splits.val_images, splits.val_labels, norm)
    test = correct_answers(model, splits.test_images, splits.test_labels, norm)
    if int((~test).sum()) != recorded["test_errors"]:
        raise ValueError(f"{run_dir}: its weights make {int((~test).sum())} test errors but "
                         f"metrics.json recorded {recorded['test_errors']}: its model.pt is not "
                         "the one that was evaluated. Restore that model.pt (e.g. from git), or "
                         "move the seed folder away and train it again with utils.experiments.sweep.")
    return ScoredRun(meta["seed"], training_precision(meta),
                     hardware_of(meta, recorded.get("torch_version")), val, test)


@dataclass(frozen=True)
class PairedSplit:
    """Candidate vs reference on one split, seed by seed (accuracy points)."""

    reference: list[float]
    candidate: list[float]
    per_seed: list[McNemarResult]  # b: only the reference right, c: only the candidate right

    @property
    def only_reference_right(self) -> list[int]:
        return [m.b for m in self.per_seed]

    @property
    def only_candidate_right(self) -> list[int]:
        return [m.c for m in self.per_seed]

    @property
    def diffs(self) -> list[float]:
        return [c - r for r, c in zip(self.reference, self.candidate, strict=True)]

    @property
    def p_values(self) -> list[float]:
        return [m.p_value for m in self.per_seed]

    @property
    def over_seeds(self) -> PairedSeeds | None:
        """The run-level comparison (seeds are the sample); None with one seed."""
        return paired_seeds(self.diffs) if len(self.diffs) > 1 else None

    @property
    def beyond_noise(self) -> bool:
        """Decided over seeds alone, as every recipe comparison of the course: the per-seed
        McNemar tests describe fixed networks and play no part."""
        return self.over_seeds is not None and self.over_seeds.beyond_noise


def percent_right(correct: torch.Tensor) -> float:
    return 100 * int(correct.sum()) / len(correct)  # exact counts, not a float32 mean


def pair_split(reference: list[torch.Tensor], candidate: list[torch.Tensor]) -> PairedSplit:
    return PairedSplit(
        reference=[percent_right(r) for r in reference],
        candidate=[percent_right(c) for c in candidate],
        per_seed=[mcnemar_from_correct(r, c) for r, c in zip(reference, candidate, strict=True)],
    )


@dataclass(frozen=True)
class ModelComparison:
    arch: str
    seeds: list[int]
    reference_path: str  # e.g. "float32 on cpu: AMD EPYC, no bf16 kernels"
    candidate_path: str
    val: PairedSplit
    test: PairedSplit


def describe(runs: list[ScoredRun]) -> str:
    labels = sorted({f"{r.precision} on {r.cpu}" for r in runs})
    return "; ".join(labels)


def shared_seeds(arch: str, reference_root: Path, candidate_root: Path) -> list[int]:
    """The seeds of ``arch`` finished under both roots (``seed<N>`` folders only), each pair
    checked to differ in its numeric path alone: all from files, before any data loads."""
    def finished(root: Path) -> set[int]:
        return {run.seed for run in scan_runs(root, RUN_METRICS_KEYS, [arch]).finished}

    seeds = sorted(finished(reference_root) & finished(candidate_root))
    if not seeds:
        raise ValueError(f"No seed of {arch} has finished under both {reference_root} and "
                         f"{candidate_root}: train the candidate with utils.experiments.sweep --runs-root.")
    for seed in seeds:
        require_same_recipe(run_folder(reference_root, arch, seed),
                            run_folder(candidate_root, arch, seed))
    return seeds


def compare_model(arch: str, reference_root: Path, candidate_root: Path,
                  splits: MNISTSplits) -> ModelComparison:
    """Pair every seed finished under both roots; a clear error when there is none."""
    seeds = shared_seeds(arch, reference_root, candidate_root)
    reference = [score_run(run_folder(reference_root, arch, s), splits) for s in seeds]
    candidate = [score_run(run_folder(candidate_root, arch, s), splits) for s in seeds]
    if {r.precision for r in reference} == {c.precision for c in candidate}:
        raise ValueError(f"{arch}: both roots hold {reference[0].precision} runs; the "
                         "comparison needs two numeric paths.")
    return ModelComparison(
        arch=arch, seeds=seeds, reference_path=describe(reference),
        candidate_path=describe(candidate),
        val=pair_split([r.val_correct for r in reference], [c.val_correct for c in candidate]),
        test=pair_split([r.test_correct for r in reference], [c.test_correct for c in candidate]),
    )


# What a comparison of numeric paths lets differ between the two runs of a pair.
COMPARED = ("forward pass", "memory format")


def require_same_recipe(reference: Path, candidate: Path) -> None:
    """A pair may differ in its numeric path and nothing else (epochs, data split, teachers,
    any other setting): else the difference would not be the numeric path's."""
    differ = settings_differences(run_settings(reference), run_settings(candidate),
                                  ("reference", "candidate"), ignore=COMPARED)
    if differ:
        raise SettingsMismatch(
            f"{reference} and {candidate} differ in more than the numeric path "
            f"({'; '.join(differ)}): their difference would not be the numeric path's. "
            "Train the candidate with the reference's settings (utils.experiments.sweep --amp on "
            "--runs-root <its own root>) and compare again.")


# ---------------------------------------------------------------- tables
CSV_COLUMNS = ["arch", "seed", "split", "reference_acc", "candidate_acc", "diff",
               "only_reference_right", "only_candidate_right", "mcnemar_p"]


def mean_std(values: list[float], signed: bool = False) -> str:
    """``mean ± std``; one value has no spread to show."""
    mean = f"{statistics.fmean(values):{'+' if signed else ''}.2f}"
    return f"{mean} ± {statistics.stdev(values):.2f}" if len(values) > 1 else mean


def t_cell(paired: PairedSplit) -> str:
    """The paired t and its p, or a dash for one seed (no spread over seeds to divide by)."""
    seeds = paired.over_seeds
    return "—" if seeds is None else f"{seeds.t:+.2f} (p {seeds.p_value:.2g})"


def interval_cell(paired: PairedSplit) -> str:
    seeds = paired.over_seeds
    return "—" if seeds is None else f"{seeds.ci95[0]:+.2f} to {seeds.ci95[1]:+.2f}"


def verdict(paired: PairedSplit) -> str:
    if len(paired.diffs) < 3:
        return "too few seeds to judge (need 3)"
    if not paired.beyond_noise:
        return "no change beyond noise"
    return f"candidate {'higher' if statistics.fmean(paired.diffs) > 0 else 'lower'}, beyond noise"


def csv_rows(comparisons: list[ModelComparison]) -> list[dict[str, Any]]:
    rows = []
    for comp in comparisons:
        for split, paired in (("val", comp.val), ("test", comp.test)):
            for i, seed in enumerate(comp.seeds):
                rows.append({
                    "arch": comp.arch, "seed": seed, "split": split,
                    "reference_acc": f"{paired.reference[i]:.2f}",
                    "candidate_acc": f"{paired.candidate[i]:.2f}",
                    "diff": f"{paired.diffs[i]:+.2f}",
                    "only_reference_right": paired.only_reference_right[i],
                    "only_candidate_right": paired.only_candidate_right[i],
                    "mcnemar_p": f"{paired.p_values[i]:.3g}",
                })
    return rows


def markdown(comparisons: list[ModelComparison]) -> str:
    lines = ["# bf16 autocast vs float32 training, paired by seed", "",
             "Each candidate run is the reference recipe with only the numeric path changed "
             "(same model, seed, data order and augmentation); both are evaluated in float32 on "
             "the same images. Accuracy in %, final epoch. Δ = candidate − reference on the same "
             "seed. b / c = images only the reference / only the candidate gets right; p = exact "
             "McNemar, per seed: a statement about those two fixed networks, not about the numeric "
             "paths, so it plays no part in the verdict. 'Beyond noise': the paired t-test over "
             "seeds (the training run is the unit) rejects 'no change' at 5%, which is the same "
             "as the 95% interval of the mean Δ excluding zero. The decision is read on "
             "validation; the test rows re-score the same weights (nothing is chosen on them).",
             ""]
    for comp in comparisons:
        seeds = f"{len(comp.seeds)} seed{'s' if len(comp.seeds) > 1 else ''}"
        lines += [f"## {comp.arch} ({seeds}: {', '.join(map(str, comp.seeds))})",
                  "", f"- reference: {comp.reference_path}", f"- candidate: {comp.candidate_path}",
                  ""]
        rows = []
        for name, paired in (("validation (5,000)", comp.val), ("test (10,000)", comp.test)):
            diffs = paired.diffs
            counts = zip(paired.only_reference_right, paired.only_candidate_right, strict=True)
            rows.append([name, mean_std(paired.reference), mean_std(paired.candidate),
                         ", ".join(f"{d:+.2f}" for d in diffs), mean_std(diffs, signed=True),
                         interval_cell(paired), t_cell(paired),
                         ", ".join(f"{b} / {c}" for b, c in counts),
                         ", ".join(f"{p:.2g}" for p in paired.p_values), verdict(paired)])
        lines += markdown_table(
            ["split", "reference mean ± std", "candidate mean ± std", "Δ per seed",
             "Δ mean ± std", "95% CI of Δ", "paired t", "b / c per seed",
             "McNemar p per seed", "verdict"], rows)
        lines.append("")
    return "\n".join(lines)


def write_tables(comparisons: list[ModelComparison], out_dir: Path) -> list[Path]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(comparisons))
    return [atomic_write_text(buffer.getvalue(), out_dir / "comparison.csv"),
            atomic_write_text(markdown(comparisons), out_dir / "comparison.md")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=MODELS, metavar="NAME",
                        help="architectures to compare (default: %(default)s)")
    parser.add_argument("--reference-root", type=Path, default=RESULTS_DIR / "runs",
                        help="the float32 runs (default: results/runs)")
    parser.add_argument("--candidate-root", type=Path, default=RESULTS_DIR / "bf16" / "runs",
                        help="the fast-path runs; the tables go to its parent "
                             "(default: results/bf16/runs)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for comparison.md and .csv (default: beside the candidate "
                             "runs, as utils.experiments.sweep puts its tables)")
    add_mnist_root(parser)
    args = parser.parse_args(argv)
    try:
        require_known_models(args.models)
    except ValueError as exc:
        parser.error(str(exc))
    for option, root in (("--reference-root", args.reference_root),
                         ("--candidate-root", args.candidate_root)):
        if not root.is_dir():
            parser.error(f"{root} is not a folder of sweep runs: train them with utils.experiments.sweep "
                         "--runs-root first.")
        try:
            require_runs_root(root, option)
            require_finished(scan_runs(root, RUN_METRICS_KEYS), option)
        except RunFolderError as exc:
            parser.error(str(exc))
    args.out = tables_dir(args.candidate_root, args.out)
    try:
        for name in ("comparison.csv", "comparison.md"):
            check_output_file(args.out / name, "--out")
        for arch in args.models:
            shared_seeds(arch, args.reference_root, args.candidate_root)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    splits = load_mnist_splits(args.mnist_root)
    comparisons = [compare_model(arch, args.reference_root, args.candidate_root, splits)
                   for arch in args.models]
    for path in write_tables(comparisons, args.out):
        print(f"[numeric_paths] wrote {path}")
    print(markdown(comparisons))


if __name__ == "__main__":
    main()
