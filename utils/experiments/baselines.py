"""The two baselines without convolutions, trained by the course's engine and sweep.

Logistic regression (``logreg8k``) and a one-hidden-layer MLP (``mlp19k``) go through the very
recipe of the CNNs (``utils.experiments.sweep``: same optimiser, schedule, augmentation, epochs, one test
evaluation at the end of each run), so that notebook 02b can put them on the accuracy/parameter
frontier beside the CNNs' rows of ``results/sweep.csv`` as a fair comparison. Their runs are
kept apart from the course's, under ``results/baselines/runs/``, and their table is
``results/baselines/sweep.csv``. The augmentation of that recipe was tuned for CNNs, so each
baseline is also trained without it (the sweep's ``noaug`` variant, rows in
``sweep_variants.csv``); validation, not test, says which of the two serves it better::

    OMP_NUM_THREADS=1 python -m utils.experiments.baselines            # seeds 0 1 2, about 5 CPU-minutes
    python -m utils.experiments.baselines --tables-only                # rebuild the tables from the runs
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from utils.experiments.cli import add_mnist_root, add_seeds
from utils.experiments.frontier import read_sweep_csv, split_run_name
from utils.experiments.run_store import checkpoint_header
from utils.experiments.sweep import CONTROL, run_folder
from utils.experiments.sweep import main as sweep_main
from utils.models import BASELINE_MODELS
from utils.paths import RESULTS_DIR
from utils.train import MODEL_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BASELINES_DIR = RESULTS_DIR / "baselines"
BASELINE_RUNS = BASELINES_DIR / "runs"
BASELINE_CSV = BASELINES_DIR / "sweep.csv"
BASELINE_VARIANTS_CSV = BASELINES_DIR / "sweep_variants.csv"
DEFAULT_SEEDS = (0, 1, 2)
VARIANTS = (CONTROL, "noaug")  # the CNNs' recipe as it is, and without augmentation


def sweep_arguments(seeds: Sequence[int], runs_root: Path, mnist_root: str | None,
                    tables_only: bool, variant: str = CONTROL) -> list[str]:
    """The ``utils.experiments.sweep`` command line that trains (or tabulates) the baselines: the CNNs'
    recipe (or one of its variants), only the models and the runs root differ."""
    argv = ["--models", *BASELINE_MODELS, "--seeds", *map(str, seeds), "--variant", variant,
            "--runs-root", str(runs_root), "--no-progress"]
    if mnist_root is not None:
        argv += ["--mnist-root", mnist_root]
    if tables_only:
        argv.append("--tables-only")
    return argv


def read_baselines(path: str | Path = BASELINE_CSV) -> list[dict[str, Any]]:
    """The baselines' rows of one table (one per model and variant: mean, std, min, max of
    test accuracy over seeds, mean validation accuracy), checked like the CNNs' ``sweep.csv``;
    each row gains ``model`` and ``variant``."""
    rows = [{**row, "model": split_run_name(row["arch"])[0],
             "variant": split_run_name(row["arch"])[1]} for row in read_sweep_csv(path)]
    unknown = [row["arch"] for row in rows if row["model"] not in BASELINE_MODELS]
    if unknown:
        raise ValueError(f"{path} holds rows {unknown} that are not baselines "
                         f"({', '.join(BASELINE_MODELS)}): is it the CNNs' sweep.csv?")
    return rows


def chosen_by_validation(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per baseline, the row (recipe) with the higher mean validation accuracy: the choice is
    made on validation, so its test accuracy stays an unbiased estimate."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        best = chosen.get(row["model"])
        if best is None or row["val_mean"] > best["val_mean"]:
            chosen[row["model"]] = row
    return chosen


def hardware(runs_root: Path, arch: str, variant: str = CONTROL, seed: int = 0) -> str:
    """Where one run trained, from its checkpoint: device, CPU model and numeric path."""
    meta = checkpoint_header(run_folder(runs_root, arch, seed, variant) / MODEL_FILE)["metadata"]
    precision = meta.get("precision", {})
    layout = "channels_last" if precision.get("channels_last") else "NCHW"
    return (f"{meta.get('device', '?')} ({meta.get('cpu', 'CPU not recorded')}), "
            f"{precision.get('forward', 'float32')} forward pass, {layout}")


def plot_baseline_frontier(cnn_rows: Sequence[dict[str, Any]],
                           baseline_rows: Sequence[dict[str, Any]],
                           chosen: dict[str, dict[str, Any]]) -> Figure:
    """Test error (log y) against parameters (log x): the CNNs of the sweep and the baselines
    (filled: the recipe validation chose; hollow: the other), mean and +-1 std over seeds. An
    error axis spreads 0.4% and 11% apart, where an accuracy axis would squash the CNNs."""
    # here, not at the top: training and tables need no matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    groups = [(cnn_rows, "tab:blue", "o", "CNNs (results/sweep.csv)")]
    groups.append(([r for r in baseline_rows if chosen[r["model"]] is r], "tab:orange", "s",
                   "baselines, recipe chosen on validation"))
    for rows, color, marker, label in groups:
        for index, row in enumerate(rows):
            error = 100 - row["test_mean"]
            ax.errorbar(row["params"], error, yerr=row["test_std"], fmt=marker, color=color,
                        capsize=3, markersize=7, label=label if index == 0 else None)
            ax.annotate(f"{row['arch']} {row['test_mean']:.2f}%", (row["params"], error),
                        textcoords="offset points", xytext=(8, -3), fontsize=8, color=color)
    others = [r for r in baseline_rows if chosen[r["model"]] is not r]
    for index, row in enumerate(others):
        ax.errorbar(row["params"], 100 - row["test_mean"], yerr=row["test_std"], fmt="s",
                    mfc="none", color="tab:orange", capsize=3, markersize=7, alpha=0.7,
                    label="baselines, the other recipe" if index == 0 else None)
        ax.annotate(f"{row['arch']} {row['test_mean']:.2f}%",
                    (row["params"], 100 - row["test_mean"]), textcoords="offset points",
                    xytext=(8, 4), fontsize=7, color="tab:orange", alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1_200, 60_000)
    ax.set_xticks([2_000, 4_000, 8_000, 20_000, 40_000])
    ax.set_yticks([0.5, 1, 2, 5, 10])
    for axis, text in ((ax.xaxis, "{:,.0f}"), (ax.yaxis, "{:g}%")):
        axis.set_major_formatter(FuncFormatter(lambda value, _, text=text: text.format(value)))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel("MNIST test error (%, log scale; lower is better)")
    ax.set_title("The same budget with and without convolutions (mean ± std over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_seeds(parser, list(DEFAULT_SEEDS), "one run per model and seed")
    parser.add_argument("--runs-root", type=Path, default=BASELINE_RUNS,
                        help="one folder per run below it; the table goes to its parent")
    add_mnist_root(parser)
    parser.add_argument("--tables-only", action="store_true",
                        help="train nothing: rebuild the table from the finished runs")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="the recipe as it is (control) and/or without augmentation")
    args = parser.parse_args(argv)
    for variant in args.variants:
        sweep_main(sweep_arguments(args.seeds, args.runs_root, args.mnist_root,
                                   args.tables_only, variant))


if __name__ == "__main__":
    main()
