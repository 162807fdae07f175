"""Train every (model, variant, seed) run, evaluate each on the test set once, and aggregate.

A finished run (one with ``metrics.json``) is reused only if what made it (``run.json``: config,
data split, numeric path, teachers' checkpoints) matches what is asked; a finished run of other
settings is refused before anything loads, naming the differences (keep such runs apart with
another ``--runs-root``). An interrupted run resumes from its ``last.pt``, so an interrupted sweep
picks up where it stopped. Only ``seed<N>`` folders count as seeds, a table row never mixes
settings, and the tables go beside the runs they summarise (or to ``--out``). Each run is claimed
with an OS file lock while it trains (released by the kernel if its holder dies), so several
sweeps started side by side (e.g. one per GPU or CPU core) share the work instead of training
the same run twice. Every argument is checked before MNIST is loaded or anything trains::

    python -m utils.experiments.sweep --models primary19k compact8k --seeds 0 1 2 3 4
    python -m utils.experiments.sweep --models primary19k --variant noaug --seeds 0

One module past 400 lines: planning, training (locks, the notebook mode) and the tables are the
three steps of one command; what other studies share lives in ``run_store``, ``cli`` and ``tables``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from utils.atomic_files import atomic_write_json, atomic_write_text
from utils.augment import AugmentConfig
from utils.checkpoints import load_model_checkpoint
from utils.data import MNISTSplits, load_mnist_splits
from utils.evaluate import predict_logits
from utils.experiments.cli import (
    add_amp,
    add_device,
    add_mnist_root,
    add_no_progress,
    add_seeds,
    amp_flag,
    positive_int,
)
from utils.experiments.run_store import (
    CONTROL,
    KEEP_APART,
    METRICS_FILE,
    RECORD_FILE,
    RunsScan,
    SettingsMismatch,
    check_one_recipe,
    checkpoint_header,
    expected_settings,
    read_metrics,
    record_of_checkpoint,
    require_finished,
    require_runs_root,
    run_settings,
    scan_runs,
    settings_differences,
)
from utils.experiments.tables import markdown_table
from utils.models import available_models, require_known_models
from utils.paths import (
    FIGURES_DIR,
    REPO_ROOT,
    RESULTS_DIR,
    check_output_dir,
    check_output_file,
    resolve_device,
)
from utils.recipe import TrainConfig
from utils.stats import accuracy_with_ci
from utils.train import MODEL_FILE, STATE_FILE, fit

# Epoch budgets from the accuracy targets (primary <= 20, compact <= 15).
DEFAULT_EPOCHS = {"primary19k": 15, "compact8k": 15, "original19k": 20, "tiny4k": 15,
                  "micro2k": 15}
# What a sweep's metrics.json holds (evaluate_test_once); a file without one of them is refused.
SWEEP_METRICS_KEYS = ("arch", "seed", "epochs", "num_parameters", "val_acc", "test_acc",
                      "train_seconds", "device")
# A variant changes a few TrainConfig settings of the shipped recipe; its runs live in
# ``<runs_root>/<arch>-<variant>/seed<k>/`` and are tabulated apart from the control runs.
# Notebook 07's teacher: an ensemble of three shipped primary19k seeds (trained on the training
# split only, so its soft targets carry no validation or test information).
TEACHER_RUNS = tuple(f"results/runs/primary19k/seed{k}" for k in range(3))
# The same ensemble trained without label smoothing (the ls0 runs below): its soft targets keep
# the wrong classes' differences, which label smoothing flattens (notebook 07, section 4s).
LS0_TEACHER_RUNS = tuple(f"results/runs/primary19k-ls0/seed{k}" for k in range(3))
# kdt2 taught by those teachers (kdls0 below); its two screens change one setting each
KDLS0: dict[str, Any] = {"epochs": 20, "teacher": LS0_TEACHER_RUNS, "distill_weight": 0.5, "distill_temperature": 2.0}
VARIANTS: dict[str, dict[str, Any]] = {
    CONTROL: {},
    "noaug": {"augment_strength": 0.0},  # notebook 06's robustness baseline
    # notebook 07's levers for small budgets, within its 20-epoch limit
    "e20": {"epochs": 20},
    "kd": {"epochs": 20, "teacher": TEACHER_RUNS, "distill_weight": 0.5,
           "distill_temperature": 4.0},
    # The small separable models score lower on augmented training batches than on validation,
    # which looks like underfitting; the matching lever is less augmentation: e20 at half
    # strength. Measured in notebook 07 (section 4d): it did not raise validation accuracy.
    "lightaug": {"epochs": 20, "augment_strength": 0.5},
    # The longest OneCycle schedule the frontier's targets allow (30 epochs): does a small model
    # still gain from more steps at the same peak rate?
    "e30": {"epochs": 30},
    # Notebook 06 found every model fragile to stroke thickness, which the shipped augmentation
    # never varies: e20 plus each image thickened or thinned by up to half a 3x3 dilation or
    # erosion step (a whole erosion step keeps only about 13% of a median digit's ink).
    "thick": {"epochs": 20, "augment": AugmentConfig(thickness=0.5)},
    # Augmentation beyond affine: e20 plus Simard et al.'s elastic distortion (utils.augment) at
    # half their alpha of 34 px, since it comes on top of the affine warp, which they did not use.
    "elastic": {"epochs": 20, "augment": AugmentConfig(elastic_alpha=17.0)},
    # Averaging the weights of the last epochs: e20 evaluated and saved as an exponential moving
    # average of its weights and BatchNorm statistics; at 430 steps an epoch, decay 0.999 weighs
    # about the last two and a half epochs, the tail of the OneCycle schedule.
    "ema": {"epochs": 20, "ema_decay": 0.999},
    # The same underfitting, met by less regularisation rather than less augmentation: e20 with
    # a fifth of the shipped weight decay (1e-4 instead of 5e-4 on conv and linear weights).
    "lowwd": {"epochs": 20, "weight_decay": 1e-4},
    # lowwd lost at 2k on every seed, so the other direction: twice the shipped weight decay.
    # With BatchNorm after every conv, weight decay mostly sets the effective learning rate of
    # the scale-free conv weights (it shrinks them, which makes each step larger).
    "highwd": {"epochs": 20, "weight_decay": 1e-3},
    # What 4h's result points to: averaging along a rate that stays up (stochastic weight
    # averaging, Izmailov et al. 2018). The OneCycle of the first 15 epochs, then 5 epochs at a
    # constant 0.01 (about e20's rate at epoch 17), averaging the weights at the end of each.
    "swa": {"epochs": 20, "swa_epochs": 5, "swa_lr": 0.01},
    # swa's own runs showed the average gaining at 8k what its shorter cycle had cost, and e30
    # is 8k's choice: so SWA after e30's length, the frontier's 30-epoch limit. A 25-epoch
    # cycle, then 5 epochs at 0.01 averaged.
    "swa30": {"epochs": 30, "swa_epochs": 5, "swa_lr": 0.01},
    # Augmentation beyond affine, photometric: each image's brightness and contrast by its own
    # factor in 1 +- 0.2 (torchvision's definitions), on top of the shipped affine warp. At 4k on
    # sep4k_eca's 20 epochs; at 8k on e30's 30 (bc30), so that each pairs with its budget's
    # choice trained on the same machine.
    "bc": {"epochs": 20, "augment": AugmentConfig(brightness=0.2, contrast=0.2)},
    "bc30": {"epochs": 30, "augment": AugmentConfig(brightness=0.2, contrast=0.2)},
    # kd at T = 4 lowered every budget. Hinton et al. (2015) found intermediate temperatures work
    # best when the student is far too small to match all of the teacher's knowledge (a lower T
    # ignores more of the very negative logits): the same distillation at T = 2.
    "kdt2": {"epochs": 20, "teacher": TEACHER_RUNS, "distill_weight": 0.5,
             "distill_temperature": 2.0},
    # The teachers above were trained with label smoothing 0.05, which pulls every wrong class to
    # the same small share: Mueller, Kornblith & Hinton (2019) found such teachers distil worse.
    # ls0 is notebook 05's ablation of the same name, trained here with its checkpoints kept: the
    # shipped primary19k recipe without label smoothing (the new teachers). kdls0 is kdt2 taught
    # by those teachers: only the teacher changes (the student keeps label smoothing 0.05).
    "ls0": {"label_smoothing": 0.0},
    "kdls0": KDLS0,
    # The ls0 teachers' targets are still peaked at T = 2 (the true class holds 96% of the
    # mass); at T = 4 the wrong classes hold 27% of it and keep their order (notebook 07,
    # section 4s): kdls0 at the temperature kd used, again changing only that.
    "kdls0t4": {**KDLS0, "distill_temperature": 4.0},
    # Or the same targets weighed more: Hinton et al. (2015) found the best results with a
    # considerably lower weight on the label loss than on the soft targets. kdls0 with 0.9 of
    # the loss on the teachers' targets instead of 0.5, again changing only that.
    "kdls0w9": {**KDLS0, "distill_weight": 0.9},
    # At 8k, 30 epochs (e30) and the ls0 teachers (kdls0) each raised validation over e20 by the
    # same amount: the two together, kdls0 at the frontier's 30-epoch limit.
    "kdls0e30": {**KDLS0, "epochs": 30},
    # kdls0w9 won at 1k and lost at 4k. At 8k the choice trains for 30 epochs, so the weight is
    # screened against it there: kdls0e30 with 0.9 of the loss on the teachers' targets.
    "kdls0w9e30": {**KDLS0, "distill_weight": 0.9, "epochs": 30},
}


def run_name(arch: str, variant: str = CONTROL) -> str:
    return arch if variant == CONTROL else f"{arch}-{variant}"


def run_folder(runs_root: Path, arch: str, seed: int, variant: str = CONTROL) -> Path:
    return runs_root / run_name(arch, variant) / f"seed{seed}"


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep, fully decided (and validated) before anything trains."""

    arch: str
    variant: str
    seed: int
    config: TrainConfig

    def path(self, runs_root: Path) -> Path:
        return run_folder(runs_root, self.arch, self.seed, self.variant)


def require_distinct_seeds(seeds: list[int]) -> None:
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"Seeds are repeated in {seeds}: give each seed once.")


def plan_runs(models: list[str], seeds: list[int], variant: str, epochs: int | None,
              device: str, amp: str = "auto") -> list[RunSpec]:
    """Every run's config, validated: a bad name, epoch count or device fails here, at once."""
    require_known_models(models)
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}: choose from {', '.join(VARIANTS)}.")
    require_distinct_seeds(seeds)
    resolve_device(device)
    specs = []
    for arch in models:
        settings = {"arch": arch, "epochs": DEFAULT_EPOCHS.get(arch, TrainConfig.epochs), "device": device,
                    "amp": amp, **VARIANTS[variant]}
        config = TrainConfig(**{**settings, **({"epochs": epochs} if epochs else {})})
        for seed in seeds:
            spec = RunSpec(arch, variant, seed, replace(config, seed=seed))
            spec.config.validate()
            specs.append(spec)
    return specs


def evaluate_test_once(run_dir: Path, splits: MNISTSplits, variant: str = CONTROL) -> dict[str, Any]:
    """The single test-set evaluation of a finished run, written to ``metrics.json``."""
    model, info = load_model_checkpoint(run_dir / MODEL_FILE)
    meta = info["metadata"]
    norm = meta["normalization"]
    logits = predict_logits(model, splits.test_images, norm["mean"], norm["std"])
    ci = accuracy_with_ci(logits.argmax(1), splits.test_labels)
    metrics = {
        "arch": info["arch"],
        "variant": variant,
        "num_parameters": info["num_parameters"],
        "seed": meta["seed"],
        "epochs": meta["epochs"],
        "val_acc": meta["val_acc"],
        "test_acc": ci.accuracy,
        "test_ci95": [ci.low, ci.high],
        "test_errors": ci.errors,
        "train_seconds": meta["train_seconds"],
        "device": meta["device"],
        "torch_version": info["torch_version"],
    }
    atomic_write_json(metrics, run_dir / METRICS_FILE)
    return metrics


LOCKS_DIR = ".locks"  # under the runs root; git-ignored, never deleted (see run_lock)


class RunInProgress(RuntimeError):
    """Another live process is training this run (parallel sweeps share the work instead)."""


@contextmanager
def run_lock(runs_root: Path, name: str) -> Iterator[None]:
    """Hold an OS lock on run ``name`` without waiting; the kernel releases it if we die.

    The lock files are never deleted: deleting one while another process waits on it is the
    classic way two processes end up "holding" the same lock.
    """
    lock_path = runs_root / LOCKS_DIR / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunInProgress(f"{name} is being trained by another process.") from None
    try:
        yield
    finally:
        lock.release()


def _finished_metrics(path: Path) -> dict[str, Any] | None:
    """The checked ``metrics.json`` of a finished run, or ``None`` if it has not finished."""
    metrics_file = path / METRICS_FILE
    return read_metrics(metrics_file) if metrics_file.is_file() else None


def check_reusable(spec: RunSpec, path: Path, metrics: dict[str, Any]) -> None:
    """A finished run stands for ``spec`` only if what made it matches what is asked; else it
    is refused (neither reused nor trained over), naming the settings that differ."""
    finished, asked = run_settings(path, metrics), expected_settings(spec.config)
    differ = settings_differences(finished, asked, ("finished", "asked"))
    if differ:
        flags = " ".join(flags_for(finished, asked)) or "--variant, or the recipe's settings"
        raise SettingsMismatch(
            f"{path} is a finished run of other settings than asked ({'; '.join(differ)}). "
            f"It is neither reused nor trained over: {KEEP_APART} ({flags}). Nothing was "
            "trained.")


def flags_for(finished: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """The sweep options that ask for a finished run's epochs and numeric path."""
    flags = []
    if "epochs" in finished and finished["epochs"] != asked.get("epochs"):
        flags.append(f"--epochs {finished['epochs']}")
    if any(key in finished and finished[key] != asked.get(key)
           for key in ("forward pass", "memory format")):
        flags.append(amp_flag(finished.get("forward pass")))
    return flags


def finished_run(spec: RunSpec, path: Path) -> dict[str, Any] | None:
    """The metrics of the finished run at ``path`` if it may stand for ``spec``; ``None`` if
    the run has not finished."""
    done = _finished_metrics(path)
    if done is not None:
        check_reusable(spec, path, done)
    return done


def write_record(path: Path) -> None:
    """``run.json``: what made the run (config, data split, numeric path, torch, teachers),
    copied from its ``model.pt`` before ``finish`` may delete the weights (ablations do)."""
    if (path / MODEL_FILE).is_file():
        atomic_write_json(record_of_checkpoint(checkpoint_header(path / MODEL_FILE)),
                          path / RECORD_FILE)


def complete_run(spec: RunSpec, runs_root: Path, train: Callable[[Path], None],
                 finish: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """The life of one run, whoever trains it: reuse it if finished with the same settings
    (refuse it if finished with others), else claim it, check again (another sweep may have
    finished it while we waited), train, record what made it (``run.json``), ``finish`` (write
    ``metrics.json``: the sweep evaluates the test set once, ablations only validation), and
    drop the optimiser state."""
    path = spec.path(runs_root)
    done = finished_run(spec, path)
    if done is not None:
        return done
    with run_lock(runs_root, f"{run_name(spec.arch, spec.variant)}-seed{spec.seed}"):
        done = finished_run(spec, path)
        if done is not None:
            return done
        train(path)
        write_record(path)
        metrics = finish(path)
        (path / STATE_FILE).unlink(missing_ok=True)  # optimiser state is not needed once done
    return metrics


def train_one(spec: RunSpec, runs_root: Path, splits: MNISTSplits,
              progress: bool) -> dict[str, Any]:
    def train(path: Path) -> None:
        fit(spec.config, splits, run_dir=path, resume=True, progress=progress)

    return complete_run(spec, runs_root, train,
                        lambda path: evaluate_test_once(path, splits, spec.variant))


NOTEBOOK_03 = REPO_ROOT / "notebooks" / "03_training.ipynb"
EXECUTED_NOTEBOOK = "03_training.ipynb"


NOTEBOOK_PARAMETERS = {"arch", "epochs", "batch_size", "lr", "seed", "device", "train_subset",
                       "augment_strength", "amp"}  # the TrainConfig settings notebook 03 accepts


def train_one_via_notebook(spec: RunSpec, runs_root: Path, splits: MNISTSplits,
                           mnist_root: str | None = None) -> dict[str, Any]:
    """The same run, driven through notebook 03 with papermill (``retrain=True``).

    The executed notebook is kept next to the run's weights, so every number in the table can
    be traced to a notebook a person can open. An interrupted run resumes (the notebook calls
    ``fit(..., resume=True)`` on the same folder).
    """
    def train(path: Path) -> None:
        import papermill  # only this mode needs it

        config = spec.config.to_dict()
        parameters = {k: config[k] for k in NOTEBOOK_PARAMETERS}
        parameters.update({
            "retrain": True,
            # relative to the kernel's folder: no machine-specific paths in the record
            "output_dir": os.path.relpath(path.resolve(), NOTEBOOK_03.parent),
            "figures_dir": os.path.relpath((path / "figures").resolve(), NOTEBOOK_03.parent),
        })
        if mnist_root is not None:
            parameters["mnist_root"] = str(Path(mnist_root).resolve())
        path.mkdir(parents=True, exist_ok=True)
        papermill.execute_notebook(str(NOTEBOOK_03), str(path / EXECUTED_NOTEBOOK),
                                   parameters=parameters, kernel_name="python3",
                                   cwd=str(NOTEBOOK_03.parent), progress_bar=False)

    return complete_run(spec, runs_root, train,
                        lambda path: evaluate_test_once(path, splits, spec.variant))


def check_notebook_mode(specs: list[RunSpec]) -> None:
    """Notebook 03 takes only some settings as parameters: refuse a variant it cannot run."""
    default = TrainConfig().to_dict()
    for spec in specs:
        changed = {k for k, v in spec.config.to_dict().items() if v != default[k]}
        extra = sorted(changed - NOTEBOOK_PARAMETERS)
        if extra:
            raise ValueError(
                f"--via-notebook cannot run {run_name(spec.arch, spec.variant)}: notebook 03 has "
                f"no parameter for {extra}. Run it without --via-notebook."
            )


def devices_of(runs: list[dict[str, Any]]) -> str:
    """``cpu``, or ``cuda (NVIDIA H200) x3, cpu x2`` when the seeds ran on different devices."""
    counts = Counter(run["device"] for run in runs)  # in order of first appearance
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{device} x{n}" for device, n in counts.items())


def scan_sweep(runs_root: Path) -> RunsScan:
    """The finished runs under ``runs_root``, each ``metrics.json`` checked."""
    return scan_runs(runs_root, SWEEP_METRICS_KEYS)


def aggregate(runs_root: Path, variant: str = CONTROL,
              scan: RunsScan | None = None) -> list[dict[str, Any]]:
    """One row per architecture of ``variant``: mean/std/min/max of test accuracy over seeds.

    Only ``seed<N>`` folders count, and a row never mixes settings: runs of one architecture
    made differently (another epoch count, numeric path, teacher...) are refused, named."""
    scan = scan_sweep(runs_root) if scan is None else scan
    rows = []
    by_arch: dict[str, list[Any]] = {}
    for run in scan.finished:
        if run.metrics.get("variant", CONTROL) == variant:
            by_arch.setdefault(run.metrics["arch"], []).append(run)
    for arch, finished in by_arch.items():
        check_one_recipe(finished, [run_settings(run.folder, run.metrics) for run in finished],
                         f"the {run_name(arch, variant)} row")
        runs = [run.metrics for run in finished]
        accs = [100 * r["test_acc"] for r in runs]
        rows.append({
            "arch": run_name(arch, variant),
            "params": runs[0]["num_parameters"],
            "epochs": runs[0]["epochs"],
            "seeds": len(runs),
            "test_mean": statistics.fmean(accs),
            "test_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "test_min": min(accs),
            "test_max": max(accs),
            "val_mean": statistics.fmean(100 * r["val_acc"] for r in runs),
            "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in runs),
            "device": devices_of(runs),
        })
    return sorted(rows, key=lambda r: -r["params"])


TABLE_COLUMNS = ["arch", "params", "epochs", "seeds", "test_mean", "test_std", "test_min",
                 "test_max", "val_mean", "train_seconds_mean", "device"]


def write_tables(rows: list[dict[str, Any]], out_dir: Path, stem: str = "sweep") -> None:
    """``<stem>.csv`` (read back by utils.experiments.frontier with the csv module) and ``<stem>.md``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]
                         for k in TABLE_COLUMNS})
    md = markdown_table(
        ["model", "params", "epochs", "seeds", "test acc mean ± std (%)", "min", "max",
         "val acc mean (%)", "train time / run", "device"],
        [[r["arch"], f"{r['params']:,}", r["epochs"], r["seeds"],
          f"{r['test_mean']:.2f} ± {r['test_std']:.2f}", f"{r['test_min']:.2f}",
          f"{r['test_max']:.2f}", f"{r['val_mean']:.2f}",
          f"{r['train_seconds_mean'] / 60:.1f} min", r["device"]] for r in rows])
    atomic_write_text(buffer.getvalue(), out_dir / f"{stem}.csv")
    atomic_write_text("\n".join(md) + "\n", out_dir / f"{stem}.md")


def tables_dir(runs_root: Path, out: Path | None = None) -> Path:
    """Where a sweep's tables go: ``--out`` if given, else beside the runs they summarise: the
    parent of a root named ``runs`` (``results/runs`` -> ``results/``, ``results/bf16/runs`` ->
    ``results/bf16/``), else the root itself, so a root such as ``results/my_runs`` never
    writes over the course's ``results/sweep.*``."""
    if out is not None:
        return out
    return runs_root.parent if runs_root.name == "runs" else runs_root


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["primary19k", "compact8k", "original19k"],
                        metavar="NAME", help=f"architectures to train ({', '.join(available_models())})")
    add_seeds(parser, [0, 1, 2, 3, 4], "one run per seed (weight init, batch order, augmentation)")
    parser.add_argument("--variant", default=CONTROL, choices=sorted(VARIANTS),
                        help="settings changed from the shipped recipe (default: none)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="override the per-model epoch budget "
                             f"(default: {DEFAULT_EPOCHS})")
    add_device(parser)
    add_amp(parser, why="'off' keeps a GPU run in float32 like the CPU runs")
    parser.add_argument("--runs-root", type=Path, default=RESULTS_DIR / "runs",
                        help="one folder per run below it; runs of other settings need their "
                             "own root. Tables go beside it: to its parent when it is named "
                             "'runs', else into it")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for sweep.* and sweep_variants.* (default: beside the runs, "
                             "see --runs-root)")
    add_mnist_root(parser)
    add_no_progress(parser)
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="where the frontier figure goes (default: the repo's figures/; "
                             "with another --runs-root, no figure unless this is given)")
    parser.add_argument("--tables-only", action="store_true",
                        help="train nothing: rebuild sweep.* / sweep_variants.* (and the "
                             "frontier figure) from the finished runs")
    parser.add_argument("--via-notebook", action="store_true",
                        help="drive each run through notebooks/03_training.ipynb with papermill "
                             "and keep the executed notebook in the run folder")
    args = parser.parse_args(argv)
    try:
        args.specs = plan_runs(args.models, args.seeds, args.variant, args.epochs, args.device,
                               args.amp)
        if args.via_notebook:
            check_notebook_mode(args.specs)
        check_outputs(args.runs_root, tables_dir(args.runs_root, args.out),
                      frontier_dir(args.runs_root, args.figures_dir))
        if args.tables_only:
            require_runs_root(args.runs_root)
            args.scan = scan_sweep(args.runs_root)
            require_finished(args.scan)
            check_tables(args.scan)
        else:
            for spec in args.specs:  # a finished run of other settings is refused before work
                finished_run(spec, spec.path(args.runs_root))
    except ValueError as exc:  # RunFolderError, SettingsMismatch and OutputPathError too
        parser.error(str(exc))
    return args


def check_outputs(runs_root: Path, tables: Path, figures: Path | None) -> None:
    """Every folder the sweep will write to, checked before MNIST loads or anything trains."""
    check_output_dir(runs_root, "--runs-root")
    for name in ("sweep.csv", "sweep.md", "sweep_variants.csv", "sweep_variants.md"):
        check_output_file(tables / name, "--out")
    if figures is not None:
        check_output_dir(figures, "--figures-dir")


def check_tables(scan: RunsScan) -> None:
    """Aggregate every variant once (refusing mixed settings) without writing anything."""
    for variant in VARIANTS:
        aggregate(scan.root, variant, scan)


def not_counted_note(scan: RunsScan) -> str | None:
    """The entries under a runs root that look like runs but are not counted, and why
    (unfinished runs of a sweep in progress are expected and left out of the note)."""
    odd = [entry for entry in scan.not_counted if not entry.endswith(f"(no {METRICS_FILE})")]
    return ("[sweep] not counted: " + "; ".join(odd)) if odd else None


def write_all_tables(runs_root: Path, out: Path | None = None) -> None:
    """``sweep.*`` (the shipped recipe per model) and ``sweep_variants.*`` (every other variant)
    beside ``runs_root`` (or in ``out``), from whatever runs have finished."""
    scan = scan_sweep(runs_root)
    note = not_counted_note(scan)
    if note:
        print(note, flush=True)
    folder = tables_dir(runs_root, out)
    write_tables(aggregate(runs_root, CONTROL, scan), folder)
    rows = [row for v in VARIANTS if v != CONTROL for row in aggregate(runs_root, v, scan)]
    if rows:
        write_tables(rows, folder, "sweep_variants")


def draws_frontier(runs_root: Path, figures_dir: Path | None) -> bool:
    """The course's frontier figure is drawn from the course's runs, or wherever
    ``--figures-dir`` says: a sweep kept apart (another ``--runs-root``, e.g. the bf16
    comparison's) must not overwrite the committed ``figures/07_frontier.png``."""
    return figures_dir is not None or runs_root.resolve() == (RESULTS_DIR / "runs").resolve()


def frontier_dir(runs_root: Path, figures_dir: Path | None) -> Path | None:
    """The folder the frontier figure goes to, or ``None`` when none is drawn."""
    if not draws_frontier(runs_root, figures_dir):
        return None
    return FIGURES_DIR if figures_dir is None else figures_dir


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    splits = None if args.tables_only else load_mnist_splits(args.mnist_root)
    for spec in [] if args.tables_only else args.specs:
        started = time.perf_counter()
        try:
            if args.via_notebook:
                metrics = train_one_via_notebook(spec, args.runs_root, splits, args.mnist_root)
            else:
                metrics = train_one(spec, args.runs_root, splits, not args.no_progress)
        except RunInProgress as busy:
            print(f"[sweep] skipping {spec.arch} seed {spec.seed}: {busy}", flush=True)
            continue
        print(f"[sweep] {run_name(spec.arch, spec.variant)} seed {spec.seed}: test "
              f"{100 * metrics['test_acc']:.2f}% (val {100 * metrics['val_acc']:.2f}%) in "
              f"{time.perf_counter() - started:.0f}s", flush=True)
        write_all_tables(args.runs_root, args.out)
    if args.tables_only:
        write_all_tables(args.runs_root, args.out)
    figures = frontier_dir(args.runs_root, args.figures_dir)
    if figures is not None and aggregate(args.runs_root):
        # here, not at the top: the frontier's figure needs matplotlib, training does not
        from utils.experiments.frontier import write_frontier

        figure = write_frontier(tables_dir(args.runs_root, args.out) / "sweep.csv", figures)
        print(f"[sweep] frontier figure: {figure}")


if __name__ == "__main__":
    main()
