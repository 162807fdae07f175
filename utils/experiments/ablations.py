"""Notebook 05's evidence: each design choice of ``primary19k`` changed one at a time, over
seeds, judged on the **validation** split only (the test set is never loaded here).

Every ablation run goes through the sweep's machinery (one folder per variant and seed,
resumable, an OS lock per run so parallel workers share the work) but finishes differently:
it records validation accuracy, loss and predictions instead of evaluating the test set, and
keeps no weights (the histories and predictions are what notebook 05 reads)::

    python -m utils.experiments.ablations --seeds 0 1 2            # every variant, then the tables
    python -m utils.experiments.ablations --variants control ls0 --seeds 0   # a few
    python -m utils.experiments.ablations --tables-only            # rebuild the tables from the runs

Outputs: ``results/ablations.csv`` (one row per run), ``results/ablations.md`` (per variant:
mean ± std, and the run-level comparison with the control: the paired differences over seeds,
their 95% interval, the paired t-test that decides "beyond noise", and the smallest difference
the design could detect), ``results/lr_range.csv``. They go beside the runs: to the parent of a
runs root named ``ablations`` (the course's ``results/ablations``), else into the root itself,
or to ``--out``. Only ``seed<N>`` folders count, a row never mixes settings, and a finished run
of other settings than asked is refused before MNIST loads, naming the differences.

The unit of comparison between two recipes is the training run (the seed), not the image: the
verdict comes from the seeds alone. McNemar's test appears per seed only, as a statement about
two fixed networks on the same validation images.

One module past 400 lines: the variants and their run-level analysis stay together, because
notebook 05 and the class experiment read both.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from utils.atomic_files import atomic_write_json, atomic_write_text
from utils.checkpoints import load_evaluation_model
from utils.data import MNISTSplits, load_mnist_splits
from utils.evaluate import predict_logits
from utils.experiments.cli import (
    add_amp,
    add_device,
    add_mnist_root,
    add_no_progress,
    add_seeds,
    amp_flag,
)
from utils.experiments.lr_range import lr_range_test, steepest_descent_lr
from utils.experiments.run_store import (
    CONTROL,
    RunFolderError,
    RunsScan,
    check_one_recipe,
    expected_settings,
    odd_entries,
    read_metrics,
    refuse_other_settings,
    require_finished,
    require_runs_root,
    run_settings,
    scan_runs,
)
from utils.experiments.sweep import (
    METRICS_FILE,
    RunInProgress,
    RunSpec,
    complete_run,
    require_distinct_seeds,
    run_folder,
    run_name,
)
from utils.experiments.tables import markdown_table
from utils.paths import RESULTS_DIR, check_output_dir, check_output_file, resolve_device
from utils.recipe import TrainConfig
from utils.run_files import HISTORY_FILE, read_json
from utils.stats import PairedSeeds, mcnemar_exact, paired_seeds, paired_t_statistic
from utils.train import MODEL_FILE, fit

ARCH = "primary19k"
LEARNED = 0.5  # final validation accuracy of a run that learned the task; chance is about 0.1
PREDICTIONS_FILE = "val_predictions.txt"  # one digit per validation image, in split order
RESTORE = "Restore the run's files (e.g. from git) or move its seed folder away and re-run it."


@dataclass(frozen=True)
class Ablation:
    changed: str  # what differs from the control, in words (the table's second column)
    settings: dict[str, Any]  # TrainConfig overrides of the shipped primary19k recipe
    group: str  # the design question it answers (notebook 05's sections)


ABLATIONS: dict[str, Ablation] = {
    CONTROL: Ablation("nothing: the shipped recipe", {}, "control"),
    # 1. BatchNorm. Without it the usual learning rate may be wrong, so a grid of four peak
    # rates, one step above the control's 0.1 so that the grid brackets the best one
    "nobn-lr0.3": Ablation("no BatchNorm, peak LR 0.3",
                           {"arch": "primary19k_nobn", "lr": 0.3}, "batchnorm"),
    "nobn-lr0.1": Ablation("no BatchNorm, peak LR 0.1", {"arch": "primary19k_nobn"}, "batchnorm"),
    "nobn-lr0.03": Ablation("no BatchNorm, peak LR 0.03",
                            {"arch": "primary19k_nobn", "lr": 0.03}, "batchnorm"),
    "nobn-lr0.01": Ablation("no BatchNorm, peak LR 0.01",
                            {"arch": "primary19k_nobn", "lr": 0.01}, "batchnorm"),
    # 2. head, 3. dropout
    "fchead": Ablation("flatten + linear head instead of GAP", {"arch": "primary19k_fchead"},
                       "head"),
    "dropout": Ablation("dropout 0.15 added (as the original)", {"arch": "primary19k_dropout"},
                        "dropout"),
    # 4. augmentation strength (1 = control)
    "aug0": Ablation("augmentation off", {"augment_strength": 0.0}, "augmentation"),
    "aug0.5": Ablation("augmentation at half strength", {"augment_strength": 0.5},
                       "augmentation"),
    "aug2": Ablation("augmentation at double strength", {"augment_strength": 2.0},
                     "augmentation"),
    # 5. label smoothing
    "ls0": Ablation("no label smoothing", {"label_smoothing": 0.0}, "label smoothing"),
    # 6. schedule and optimiser
    "constant-lr0.1": Ablation("constant LR 0.1 instead of OneCycle",
                               {"schedule": "constant"}, "schedule"),
    "constant-lr0.02": Ablation("constant LR 0.02 instead of OneCycle",
                                {"schedule": "constant", "lr": 0.02}, "schedule"),
    "adam-plateau": Ablation("the original's Adam 0.003 (wd 1e-5) + plateau on val",
                             {"optimizer": "adam", "lr": 0.003, "weight_decay": 1e-5,
                              "schedule": "plateau"}, "schedule"),
    # 7. batch size (same peak LR)
    "bs64": Ablation("batch 64", {"batch_size": 64}, "batch size"),
    "bs512": Ablation("batch 512", {"batch_size": 512}, "batch size"),
    # 8. training length
    "ep5": Ablation("5 epochs", {"epochs": 5}, "epochs"),
    "ep10": Ablation("10 epochs", {"epochs": 10}, "epochs"),
    "ep20": Ablation("20 epochs", {"epochs": 20}, "epochs"),
    # 9. peak learning rate around the control's 0.1
    "lr0.03": Ablation("peak LR 0.03", {"lr": 0.03}, "peak LR"),
    "lr0.05": Ablation("peak LR 0.05", {"lr": 0.05}, "peak LR"),
    "lr0.2": Ablation("peak LR 0.2", {"lr": 0.2}, "peak LR"),
    "lr0.4": Ablation("peak LR 0.4", {"lr": 0.4}, "peak LR"),
    # a reader's question: does weight averaging help the shipped recipe?
    "ema": Ablation("EMA of weights (decay 0.999)", {"ema_decay": 0.999}, "weight averaging"),
}


def plan_ablations(names: list[str], seeds: list[int], device: str,
                   amp: str = "auto") -> list[RunSpec]:
    """Every run's config, validated before anything trains; ordered seed by seed so that
    an interrupted sweep has every variant at the first seeds."""
    unknown = [n for n in names if n not in ABLATIONS]
    if unknown:
        raise ValueError(f"Unknown ablation(s) {unknown}: choose from {', '.join(ABLATIONS)}.")
    require_distinct_seeds(seeds)
    resolve_device(device)
    specs = []
    for seed in seeds:
        for name in names:
            settings = {"arch": ARCH, "device": device, "amp": amp, "seed": seed,
                        **ABLATIONS[name].settings}
            config = TrainConfig(**settings)
            config.validate()
            specs.append(RunSpec(ARCH, name, seed, config))
    return specs


def record_validation(path: Path, spec: RunSpec, splits: MNISTSplits) -> dict[str, Any]:
    """Finish an ablation run: validation predictions and metrics, no test set, no weights."""
    loaded = load_evaluation_model(path / MODEL_FILE)
    info, meta = loaded.info, loaded.info["metadata"]
    model = loaded.model.to(resolve_device(spec.config.device))
    predictions = predict_logits(model, splits.val_images, loaded.mean, loaded.std).argmax(1)
    atomic_write_text("".join(str(int(d)) for d in predictions.tolist()) + "\n",
                      path / PREDICTIONS_FILE)
    metrics = {
        "variant": spec.variant,
        "changed": ABLATIONS[spec.variant].changed,
        "group": ABLATIONS[spec.variant].group,
        "arch": info["arch"],
        "seed": meta["seed"],
        "epochs": meta["epochs"],
        "batch_size": spec.config.batch_size,
        "params": info["num_parameters"],
        "val_acc": float((predictions == splits.val_labels).float().mean()),
        "val_loss": meta["val_loss"],
        "train_seconds": meta["train_seconds"],
        "device": meta["device"],
        "precision": meta["precision"]["forward"],
        "torch_version": info["torch_version"],
    }
    atomic_write_json(metrics, path / METRICS_FILE)
    (path / MODEL_FILE).unlink()
    return metrics


def check_finished(spec: RunSpec, runs_root: Path) -> None:
    """Refuse a finished run made otherwise than ``spec`` asks, naming the differences: checked
    for every requested run before MNIST loads, not mid-loop after other runs have trained."""
    path = spec.path(runs_root)
    if not (path / METRICS_FILE).is_file():
        return
    finished = run_settings(path, read_metrics(path / METRICS_FILE, METRICS_KEYS))
    asked = expected_settings(spec.config)
    how = "another of --variants"
    if finished.get("forward pass", asked["forward pass"]) != asked["forward pass"]:
        how = amp_flag(finished["forward pass"])
    refuse_other_settings(path, finished, asked, how)


def run_ablation(spec: RunSpec, runs_root: Path, splits: MNISTSplits,
                 progress: bool) -> dict[str, Any]:
    def train(path: Path) -> None:
        fit(spec.config, splits, run_dir=path, resume=True, progress=progress)

    return complete_run(spec, runs_root, train, lambda path: record_validation(path, spec, splits))


# ---------------------------------------------------------------- tables
CSV_COLUMNS = ["variant", "changed", "group", "seed", "epochs", "batch_size", "params", "val_acc",
               "val_loss", "train_seconds", "device", "precision"]
METRICS_KEYS = ("arch", *CSV_COLUMNS)  # what record_validation writes and the tables read
RUN_NAMES = {run_name(ARCH, variant): variant for variant in ABLATIONS}


def scan_ablations(runs_root: Path) -> RunsScan:
    """The finished ablation runs under ``runs_root`` (only ``seed<N>`` folders of the variants
    in ABLATIONS), each ``metrics.json`` checked; other entries are listed as not counted."""
    scan = scan_runs(runs_root, METRICS_KEYS, names=list(RUN_NAMES))
    if runs_root.is_dir():
        scan.not_counted.extend(f"{entry}: not a run of any variant in utils.experiments.ablations.ABLATIONS"
                                for entry in sorted(runs_root.iterdir())
                                if entry.is_dir() and not entry.name.startswith(".")
                                and entry.name not in RUN_NAMES)
    for run in scan.finished:
        if run.metrics["variant"] != RUN_NAMES[run.name]:
            raise RunFolderError(
                f"{run.folder / METRICS_FILE} records variant {run.metrics['variant']!r} but lies "
                f"in {run.name}/: it was copied or renamed. Move it back to "
                f"{run_name(ARCH, run.metrics['variant'])}/ or away from {runs_root}.")
    return scan


def collect(runs_root: Path, scan: RunsScan | None = None) -> list[dict[str, Any]]:
    """Every finished ablation run under ``runs_root``, in ABLATIONS order, then by seed.

    Only ``seed<N>`` folders count (any other entry is named, not counted), and a variant's
    seeds must share their settings: a row never averages runs made differently."""
    scan = scan_ablations(runs_root) if scan is None else scan
    if odd_entries(scan):
        print("[ablations] not counted: " + "; ".join(odd_entries(scan)), flush=True)
    for name, variant in RUN_NAMES.items():
        runs = scan.of(name)
        check_one_recipe(runs, [run_settings(run.folder, run.metrics) for run in runs],
                         f"the {variant} row")
    order = {name: i for i, name in enumerate(ABLATIONS)}
    rows = [run.metrics for run in scan.finished]
    return sorted(rows, key=lambda r: (order[r["variant"]], r["seed"]))


def read_predictions(runs_root: Path, variant: str, seed: int) -> torch.Tensor:
    """One run's validation predictions, as written by :func:`record_validation`."""
    path = run_folder(runs_root, ARCH, seed, variant) / PREDICTIONS_FILE
    text = path.read_text().strip()
    if not text.isdigit():
        raise ValueError(f"{path}: expected one digit per validation image and nothing else. "
                         f"{RESTORE}")
    return torch.tensor([int(c) for c in text])


def checked_predictions(runs_root: Path, variant: str, seed: int,
                        val_labels: torch.Tensor) -> torch.Tensor:
    """:func:`read_predictions`, refused unless they are the predictions its ``metrics.json``
    describes: one per validation image, and their accuracy equal to the recorded one (a stale
    or truncated file would otherwise feed the per-seed tests silently)."""
    folder = run_folder(runs_root, ARCH, seed, variant)
    predictions = read_predictions(runs_root, variant, seed)
    if len(predictions) != len(val_labels):
        raise ValueError(f"{folder / PREDICTIONS_FILE}: {len(predictions):,} predictions, but the "
                         f"validation split has {len(val_labels):,} images. {RESTORE}")
    recorded = read_metrics(folder / METRICS_FILE, required=("val_acc",))["val_acc"]
    accuracy = int((predictions == val_labels).sum()) / len(val_labels)
    if abs(accuracy - recorded) > 1e-6:  # float32 rounding of the recorded mean, not an image
        raise ValueError(f"{folder / PREDICTIONS_FILE}: these predictions are {100 * accuracy:.2f}% "
                         f"right but {folder / METRICS_FILE} records {100 * recorded:.2f}%. "
                         f"{RESTORE}")
    return predictions


def discordant_images(runs_root: Path, variant: str, seed: int,
                      val_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the validation images only the control gets right and only ``variant`` gets
    right, for one seed: what a McNemar test of those two fixed networks counts."""
    right_c = checked_predictions(runs_root, CONTROL, seed, val_labels) == val_labels
    right_v = checked_predictions(runs_root, variant, seed, val_labels) == val_labels
    return torch.nonzero(right_c & ~right_v)[:, 0], torch.nonzero(~right_c & right_v)[:, 0]


def mcnemar_per_seed(runs_root: Path, variant: str, seeds: list[int],
                     val_labels: torch.Tensor) -> list[float]:
    """Exact McNemar p of the control and ``variant`` on each seed: each compares two fixed
    networks on the same validation images, from the images :func:`discordant_images` finds."""
    return [mcnemar_exact(*map(len, discordant_images(runs_root, variant, seed, val_labels))
                          ).p_value for seed in seeds]


def seed_differences(rows: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Per variant, variant − control validation accuracy (points) on each seed both ran:
    the run-level sample every verdict is computed from."""
    by_variant: dict[str, dict[int, float]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], {})[int(row["seed"])] = 100 * float(row["val_acc"])
    control = by_variant.get(CONTROL, {})
    return {variant: {seed: acc - control[seed] for seed, acc in sorted(runs.items())
                      if seed in control}
            for variant, runs in by_variant.items()}


def read_table(path: Path) -> list[dict[str, Any]]:
    """``ablations.csv`` back as rows with numbers where :func:`collect` has numbers."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["seed"], row["val_acc"] = int(row["seed"]), float(row["val_acc"])
    return rows


def verdicts(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """Per non-control variant: is it beyond noise by the run-level test (see
    :attr:`utils.stats.PairedSeeds.beyond_noise`)? Fewer than 3 paired seeds: never."""
    return {variant: len(diffs) >= 3 and paired_seeds(list(diffs.values())).beyond_noise
            for variant, diffs in seed_differences(rows).items() if variant != CONTROL}


@dataclass(frozen=True)
class Comparison:
    """A variant against the control on the same seeds: the run-level comparison decides.

    ``p_values`` are exact McNemar tests *per seed*: each compares two fixed trained networks
    on the same 5,000 validation images, so it says whether those two networks differ, not
    whether the recipes do (another seed gives other networks).
    """

    variant: str
    seeds: list[int]
    val_mean: float
    val_std: float
    diffs_by_seed: dict[int, float]  # variant - control per paired seed, accuracy points
    p_values: list[float]  # exact McNemar per seed: two fixed networks, same validation images
    seconds_by_device: dict[str, float]  # mean training seconds per run on each device
    not_learned_seeds: list[int]  # seeds whose run ended below LEARNED: it never left chance

    @property
    def diffs(self) -> list[float]:
        return list(self.diffs_by_seed.values())

    @property
    def not_learned(self) -> int:
        return len(self.not_learned_seeds)

    @property
    def learned_diffs(self) -> list[float]:
        """The paired differences of the seeds whose run learned: "when it learns, how well?"."""
        return [d for s, d in self.diffs_by_seed.items() if s not in self.not_learned_seeds]

    @property
    def not_learned_diffs(self) -> list[float]:
        return [d for s, d in self.diffs_by_seed.items() if s in self.not_learned_seeds]

    @property
    def diff_mean(self) -> float:
        return statistics.fmean(self.diffs) if self.diffs else 0.0

    @property
    def diff_std(self) -> float:
        return statistics.stdev(self.diffs) if len(self.diffs) > 1 else 0.0

    @property
    def t_statistic(self) -> float:
        return paired_t_statistic(self.diffs) if self.diffs else 0.0

    @property
    def paired(self) -> PairedSeeds | None:
        """The run-level comparison (None for the control or with fewer than 2 paired seeds)."""
        if self.variant == CONTROL or len(self.diffs) < 2:
            return None
        return paired_seeds(self.diffs)

    @property
    def beyond_noise(self) -> bool:
        """The paired t-test over seeds alone rejects "no change" at 5% (3 or more seeds)."""
        return self.paired is not None and self.paired.beyond_noise


def learned(val_acc: float) -> bool:
    """Did a run learn the task at all? A network that never leaves its starting plateau ends
    at chance (about one image in ten right), far below any run that trained."""
    return float(val_acc) >= LEARNED


def first_learned_epoch(runs_root: Path, variant: str, seed: int) -> int | None:
    """The first epoch whose validation accuracy reaches LEARNED (None if none does): how long
    a run sat on its starting plateau."""
    history = read_json(run_folder(runs_root, ARCH, seed, variant) / HISTORY_FILE, "history")
    return next((int(e["epoch"]) for e in history if learned(e["val_acc"])), None)


def learning_outcomes(rows: list[dict[str, Any]], runs_root: Path,
                      variants: list[str]) -> list[dict[str, Any]]:
    """Per run of ``variants``: where it ran, its final validation accuracy, and the epoch it
    left its starting plateau (None: it never did), for variants whose runs do not all learn."""
    return [{"variant": r["variant"], "seed": r["seed"], "device": r["device"],
             "val_acc": 100 * float(r["val_acc"]),
             "learned_at_epoch": first_learned_epoch(runs_root, r["variant"], r["seed"])}
            for r in rows if r["variant"] in variants]


def compare_to_control(rows: list[dict[str, Any]], runs_root: Path,
                       val_labels: torch.Tensor) -> list[Comparison]:
    by_variant: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], {})[row["seed"]] = row
    differences = seed_differences(rows)
    comparisons = []
    for variant, runs in by_variant.items():
        accs = [100 * r["val_acc"] for r in runs.values()]
        by_device: dict[str, list[float]] = {}
        for run in runs.values():
            by_device.setdefault(run["device"], []).append(float(run["train_seconds"]))
        p_values = ([] if variant == CONTROL else
                    mcnemar_per_seed(runs_root, variant, list(differences[variant]), val_labels))
        comparisons.append(Comparison(
            variant=variant, seeds=sorted(runs),
            val_mean=statistics.fmean(accs),
            val_std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
            diffs_by_seed=differences[variant], p_values=p_values,
            seconds_by_device={d: statistics.fmean(s) for d, s in sorted(by_device.items())},
            not_learned_seeds=sorted(s for s, r in runs.items() if not learned(r["val_acc"])),
        ))
    return comparisons


def on_shared_seeds(rows: list[dict[str, Any]], variants: Iterable[str]) -> list[dict[str, Any]]:
    """The rows of ``variants`` at the seeds every one of them ran, so that a curve across the
    variants compares means over the same seeds."""
    names = list(variants)
    seeds = set.intersection(*({r["seed"] for r in rows if r["variant"] == n} for n in names))
    return [r for r in rows if r["variant"] in names and r["seed"] in seeds]


def shared_device(comparisons: list[Comparison], variants: Iterable[str]) -> str:
    """A device on which every one of ``variants`` ran (the first by name if several): training
    seconds compare only within one machine."""
    by_name = {c.variant: c for c in comparisons}
    names = list(variants)
    common = set.intersection(*(set(by_name[n].seconds_by_device) for n in names))
    if not common:
        raise ValueError(f"{', '.join(names)} share no device, so their training times do not "
                         "compare: run them on one machine.")
    return sorted(common)[0]


def write_tables(rows: list[dict[str, Any]], comparisons: list[Comparison], out_dir: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(buffer.getvalue(), out_dir / "ablations.csv")
    atomic_write_text(markdown_report(rows, comparisons), out_dir / "ablations.md")


MD_INTRO = (
    "Accuracy in %, final epoch. Δ = variant − control on the same seed, in points; the seed "
    "(the training run) is the unit. 95% CI: mean Δ ± t(0.975, n − 1) · sd / √n over seeds. "
    "'beyond noise': the paired t-test over seeds rejects 'no change' at 5% (two-sided), which "
    "is the same as the interval excluding 0. MDE: the smallest true mean Δ this design (its "
    "seeds, the measured sd of its paired differences) detects with 80% power at 5%, from the "
    "noncentral t; a variant not beyond noise may still differ by less than its MDE. "
    "McNemar p per seed: two *fixed* networks on the same 5,000 validation images, a statement "
    "about those networks, not about the recipes; it plays no part in the verdict. 'did not "
    f"learn': runs whose final validation accuracy is below {LEARNED:.0%} (chance is about 10%); "
    "where there are any, the paired differences are far from normal and the t-test's verdict "
    "is not to be trusted (notebook 05, section 2). Seconds: the mean per run on each device.")


CUDA_NOTE = ("On CUDA, float32 is torch's default, which lets cuDNN run float32 convolutions "
             "in TF32. ")


def markdown_report(rows: list[dict[str, Any]], comparisons: list[Comparison]) -> str:
    per_device = Counter(r["device"] for r in rows)
    devices = ", ".join(f"{n} on {device}" for device, n in sorted(per_device.items()))
    md = ["# Ablations of primary19k (validation split only)", "",
          f"Runs: {len(rows)} ({devices}; forward pass "
          f"{', '.join(sorted({r.get('precision', 'not recorded') for r in rows}))}). A run's "
          f"seconds depend on its device and on the load it shared the machine with. "
          f"{CUDA_NOTE if any(r['device'].startswith('cuda') for r in rows) else ''}"
          f"{MD_INTRO}", ""]
    changed = {r["variant"]: r["changed"] for r in rows}
    table = []
    for comp in comparisons:
        paired = comp.paired
        cells = ["—"] * 6
        if paired is not None:
            low, high = paired.ci95
            cells = [f"{low:+.2f} to {high:+.2f}", f"{paired.t:+.1f}", f"{paired.p_value:.2g}",
                     f"{paired.mde80:.2f}", "yes" if paired.beyond_noise else "no",
                     ", ".join(f"{p:.2g}" for p in comp.p_values)]
        table.append([comp.variant, changed[comp.variant], len(comp.seeds),
                      f"{comp.val_mean:.2f} ± {comp.val_std:.2f}",
                      f"{comp.diff_mean:+.2f} ± {comp.diff_std:.2f}", *cells,
                      f"{comp.not_learned} of {len(comp.seeds)}",
                      "; ".join(f"{sec:.0f} on {device}"
                                for device, sec in comp.seconds_by_device.items())])
    md += markdown_table(
        ["variant", "changed", "seeds", "val acc mean ± std", "Δ vs control (mean ± std)",
         "95% CI of Δ", "paired t", "p (t-test)", "MDE (80% power)", "beyond noise",
         "McNemar p per seed (fixed networks)", "did not learn", "train s / run"], table)
    return "\n".join(md) + "\n"


def write_lr_range(config: TrainConfig, splits: MNISTSplits, out_dir: Path,
                   progress: bool) -> Path:
    points = lr_range_test(config, splits, progress=progress)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", "lr", "loss", "smoothed"])
    writer.writerows([p.step, f"{p.lr:.6g}", f"{p.loss:.6f}", f"{p.smoothed:.6f}"]
                     for p in points)
    path = atomic_write_text(buffer.getvalue(), out_dir / "lr_range.csv")
    print(f"[ablations] LR range test: steepest descent at lr {steepest_descent_lr(points):.3g}, "
          f"{len(points)} steps -> {path}", flush=True)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(ABLATIONS), metavar="NAME",
                        help=f"ablations to run (default: all: {', '.join(ABLATIONS)})")
    add_seeds(parser, [0, 1, 2], "one run per variant and seed")
    add_device(parser)
    add_amp(parser)
    parser.add_argument("--runs-root", type=Path, default=RESULTS_DIR / "ablations",
                        help="one folder per variant and seed. Tables go beside it: to its "
                             "parent when it is named 'ablations', else into it")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for ablations.csv/.md and lr_range.csv (default: beside "
                             "the runs, see --runs-root)")
    add_mnist_root(parser)
    parser.add_argument("--skip-lr-range", action="store_true",
                        help="do not run the LR range test (it runs when lr_range.csv is missing)")
    parser.add_argument("--tables-only", action="store_true",
                        help="train nothing: rebuild ablations.csv/.md from finished runs")
    add_no_progress(parser)
    args = parser.parse_args(argv)
    try:
        args.specs = plan_ablations(args.variants, args.seeds, args.device, args.amp)
        args.out = tables_dir(args.runs_root, args.out)
        check_outputs(args.runs_root, args.out)
        if args.tables_only:
            require_runs_root(args.runs_root)
            scan = scan_ablations(args.runs_root)
            require_finished(scan)
            args.rows = collect(args.runs_root, scan)
        else:
            for spec in args.specs:
                check_finished(spec, args.runs_root)
    except ValueError as exc:  # RunFolderError, SettingsMismatch and OutputPathError too
        parser.error(str(exc))
    return args


def tables_dir(runs_root: Path, out: Path | None = None) -> Path:
    """``--out`` if given, else beside the runs: the parent of a root named ``ablations``
    (``results/ablations`` -> ``results/``), else the root itself, so that another root (say
    ``results/my_ablations``) never writes over the course's ``results/ablations.*``."""
    if out is not None:
        return out
    return runs_root.parent if runs_root.name == "ablations" else runs_root


def check_outputs(runs_root: Path, out: Path) -> None:
    """Every place the command writes to, checked before MNIST loads or anything trains."""
    check_output_dir(runs_root, "--runs-root")
    for name in ("ablations.csv", "ablations.md", "lr_range.csv"):
        check_output_file(out / name, "--out")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    splits = load_mnist_splits(args.mnist_root)
    out_dir = args.out
    if not args.tables_only:
        if not args.skip_lr_range and not (out_dir / "lr_range.csv").is_file():
            write_lr_range(TrainConfig(arch=ARCH, device=args.device, amp=args.amp),
                           splits, out_dir, not args.no_progress)
        for spec in args.specs:
            started = time.perf_counter()
            try:
                metrics = run_ablation(spec, args.runs_root, splits, not args.no_progress)
            except RunInProgress as busy:
                print(f"[ablations] skipping {spec.variant} seed {spec.seed}: {busy}", flush=True)
                continue
            print(f"[ablations] {spec.variant} seed {spec.seed}: val "
                  f"{100 * metrics['val_acc']:.2f}% in {time.perf_counter() - started:.0f}s",
                  flush=True)
    rows = args.rows if args.tables_only else collect(args.runs_root)
    if not rows:
        print(f"[ablations] no finished run under {args.runs_root} yet: no tables written.")
        return
    write_tables(rows, compare_to_control(rows, args.runs_root, splits.val_labels), out_dir)
    print(f"[ablations] {len(rows)} runs -> {out_dir / 'ablations.csv'}, ablations.md")


if __name__ == "__main__":
    main()
