"""Train every (model, seed) pair, evaluate each on the test set once, and aggregate.

Finished runs (those with ``metrics.json``) are skipped, and an interrupted run resumes
from its ``last.pt``, so an interrupted sweep picks up where it stopped. Each run folder is
claimed with a lock file while it trains, so several sweeps started side by side (e.g. one per
GPU or CPU core) share the work instead of training the same run twice::

    python -m utils.sweep --models primary19k compact8k --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .checkpoints import load_model_checkpoint
from .data import MNISTSplits, load_mnist_splits
from .evaluate import predict_logits
from .io import atomic_write_json, atomic_write_text
from .paths import REPO_ROOT, RESULTS_DIR
from .stats import accuracy_with_ci
from .train import MODEL_FILE, STATE_FILE, TrainConfig, fit

# Epoch budgets from the accuracy targets (issue: primary <= 20, compact <= 15).
DEFAULT_EPOCHS = {"primary19k": 15, "compact8k": 15, "original19k": 20, "tiny4k": 15,
                  "micro2k": 15}
METRICS_FILE = "metrics.json"


def run_dir(runs_root: Path, arch: str, seed: int) -> Path:
    return runs_root / arch / f"seed{seed}"


def evaluate_test_once(run_path: Path, splits: MNISTSplits) -> dict[str, Any]:
    """The single test-set evaluation of a finished run, written to ``metrics.json``."""
    model, info = load_model_checkpoint(run_path / MODEL_FILE)
    meta = info["metadata"]
    norm = meta["normalization"]
    logits = predict_logits(model, splits.test_images, norm["mean"], norm["std"])
    ci = accuracy_with_ci(logits.argmax(1), splits.test_labels)
    metrics = {
        "arch": info["arch"],
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
    atomic_write_json(metrics, run_path / METRICS_FILE)
    return metrics


LOCK_FILE = "RUNNING.lock"


class RunInProgress(RuntimeError):
    """Another live process is training this run (parallel sweeps share the work instead)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Claim a run folder so that two sweeps started side by side never train the same run.

    A lock left by a process that died (killed sweep) is taken over; its ``last.pt`` resumes.
    """
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _pid_alive(owner):
                raise RunInProgress(f"{path} is being trained by process {owner}.") from None
            lock.unlink(missing_ok=True)  # stale: its owner is gone
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        break
    else:
        raise RunInProgress(f"Could not claim {path}: another process keeps taking it.")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _complete_run(path: Path, splits: MNISTSplits, train: Callable[[], None]) -> dict[str, Any]:
    """The life of one run, whoever trains it: skip if finished, else claim the folder,
    train, evaluate the test set once, and drop the optimiser state."""
    if (path / METRICS_FILE).is_file():
        return json.loads((path / METRICS_FILE).read_text())
    with run_lock(path):
        train()
        metrics = evaluate_test_once(path, splits)
        (path / STATE_FILE).unlink(missing_ok=True)  # optimiser state is not needed once done
    return metrics


def train_one(arch: str, seed: int, epochs: int, runs_root: Path, splits: MNISTSplits,
              device: str, progress: bool) -> dict[str, Any]:
    path = run_dir(runs_root, arch, seed)

    def train() -> None:
        config = TrainConfig(arch=arch, epochs=epochs, seed=seed, device=device)
        fit(config, splits, out_dir=path, resume=True, progress=progress)

    return _complete_run(path, splits, train)


NOTEBOOK_03 = REPO_ROOT / "notebooks" / "03_training.ipynb"
EXECUTED_NOTEBOOK = "03_training.ipynb"


def train_one_via_notebook(arch: str, seed: int, epochs: int, runs_root: Path,
                           splits: MNISTSplits, device: str,
                           train_subset: int | None = None) -> dict[str, Any]:
    """The same run, driven through notebook 03 with papermill (``retrain=True``).

    The executed notebook is kept next to the run's weights, so every number in the table can
    be traced to a notebook a person can open. An interrupted run resumes (the notebook calls
    ``fit(..., resume=True)`` on the same folder).
    """
    path = run_dir(runs_root, arch, seed)

    def train() -> None:
        import papermill  # only this mode needs it

        parameters = {"retrain": True, "arch": arch, "seed": seed, "epochs": epochs,
                      "device": device, "train_subset": train_subset,
                      # relative to the kernel's folder: no machine-specific paths in the record
                      "output_dir": os.path.relpath(path.resolve(), NOTEBOOK_03.parent),
                      "figures_dir": os.path.relpath((path / "figures").resolve(),
                                                     NOTEBOOK_03.parent)}
        papermill.execute_notebook(str(NOTEBOOK_03), str(path / EXECUTED_NOTEBOOK),
                                   parameters=parameters, kernel_name="python3",
                                   cwd=str(NOTEBOOK_03.parent), progress_bar=False)

    return _complete_run(path, splits, train)


def aggregate(runs_root: Path) -> list[dict[str, Any]]:
    """One row per architecture: mean/std/min/max of test accuracy over its finished seeds."""
    rows = []
    by_arch: dict[str, list[dict[str, Any]]] = {}
    for metrics_path in sorted(runs_root.glob(f"*/seed*/{METRICS_FILE}")):
        metrics = json.loads(metrics_path.read_text())
        by_arch.setdefault(metrics["arch"], []).append(metrics)
    for arch, runs in by_arch.items():
        accs = [100 * r["test_acc"] for r in runs]
        rows.append({
            "arch": arch,
            "params": runs[0]["num_parameters"],
            "epochs": runs[0]["epochs"],
            "seeds": len(runs),
            "test_mean": statistics.fmean(accs),
            "test_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "test_min": min(accs),
            "test_max": max(accs),
            "val_mean": statistics.fmean(100 * r["val_acc"] for r in runs),
            "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in runs),
            "device": runs[0]["device"],
        })
    return sorted(rows, key=lambda r: -r["params"])


def write_tables(rows: list[dict[str, Any]], out_dir: Path) -> None:
    header = ["arch", "params", "epochs", "seeds", "test_mean", "test_std", "test_min",
              "test_max", "val_mean", "train_seconds_mean", "device"]
    csv_lines = [",".join(header)]
    md = [("| model | params | epochs | seeds | test acc mean ± std (%) | min | max | "
          "val acc mean (%) | train time / run | device |"), "|" + " --- |" * 10]
    for r in rows:
        csv_lines.append(",".join(
            f"{r[h]:.4f}" if isinstance(r[h], float) else str(r[h]) for h in header))
        md.append(
            f"| {r['arch']} | {r['params']:,} | {r['epochs']} | {r['seeds']} | "
            f"{r['test_mean']:.2f} ± {r['test_std']:.2f} | {r['test_min']:.2f} | "
            f"{r['test_max']:.2f} | {r['val_mean']:.2f} | {r['train_seconds_mean'] / 60:.1f} min "
            f"| {r['device']} |"
        )
    atomic_write_text("\n".join(csv_lines) + "\n", out_dir / "sweep.csv")
    atomic_write_text("\n".join(md) + "\n", out_dir / "sweep.md")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["primary19k", "compact8k", "original19k"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the per-model epoch budget")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs-root", type=Path, default=RESULTS_DIR / "runs")
    parser.add_argument("--mnist-root", default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="where the frontier figure goes (default: the repo's figures/)")
    parser.add_argument("--via-notebook", action="store_true",
                        help="drive each run through notebooks/03_training.ipynb with papermill "
                             "and keep the executed notebook in the run folder")
    args = parser.parse_args(argv)
    splits = load_mnist_splits(args.mnist_root)
    for arch in args.models:
        for seed in args.seeds:
            started = time.perf_counter()
            epochs = args.epochs or DEFAULT_EPOCHS.get(arch, 15)
            try:
                if args.via_notebook:
                    metrics = train_one_via_notebook(arch, seed, epochs, args.runs_root, splits,
                                                     args.device)
                else:
                    metrics = train_one(arch, seed, epochs, args.runs_root, splits, args.device,
                                        not args.no_progress)
            except RunInProgress as busy:
                print(f"[sweep] skipping {arch} seed {seed}: {busy}", flush=True)
                continue
            print(f"[sweep] {arch} seed {seed}: test {100 * metrics['test_acc']:.2f}% "
                  f"(val {100 * metrics['val_acc']:.2f}%) in {time.perf_counter() - started:.0f}s",
                  flush=True)
            write_tables(aggregate(args.runs_root), args.runs_root.parent)
    if aggregate(args.runs_root):
        from .frontier import write_frontier  # matplotlib only once there is something to plot

        figure = write_frontier(args.runs_root.parent / "sweep.csv", args.figures_dir)
        print(f"[sweep] frontier figure: {figure}")


if __name__ == "__main__":
    main()
