"""The accuracy-vs-parameters frontier (notebook 07): the figure, the best honest model per
parameter budget, and per-seed comparisons of the committed runs::

    python -m utils.experiments.frontier [--csv results/sweep.csv] [--variants-csv results/sweep_variants.csv]
                             [--figures-dir figures]

``sweep.csv`` (the shipped recipe per model) and ``sweep_variants.csv`` (the ``FRONTIER_VARIANTS``
runs of notebook 07; its ``noaug`` row is notebook 06's robustness baseline and is left out) are
written by ``python -m utils.experiments.sweep``; the figure is saved as ``figures/07_frontier.png``.

Selection rule: a budget's best model is the one with the highest mean *validation* accuracy
among the runs under it; its test accuracy is only reported, never compared.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.experiments.run_store import CONTROL, RunFolderError, run_record, same_machine, scan_runs
from utils.paths import FIGURES_DIR, RESULTS_DIR, OutputPathError, check_output_dir

FIGURE_NAME = "07_frontier"
DEFAULT_CSV = RESULTS_DIR / "sweep.csv"
VARIANTS_CSV_NAME = "sweep_variants.csv"  # beside sweep.csv, as utils.experiments.sweep writes it
DEFAULT_RUNS_ROOT = RESULTS_DIR / "runs"
INT_COLUMNS = ("params", "seeds")
FLOAT_COLUMNS = ("test_mean", "test_std", "test_min", "test_max")
OPTIONAL_INT_COLUMNS = ("epochs",)
OPTIONAL_FLOAT_COLUMNS = ("val_mean", "train_seconds_mean")
REQUIRED_COLUMNS = ("arch", *INT_COLUMNS, *FLOAT_COLUMNS)
# Variants of utils.experiments.sweep.VARIANTS drawn on the frontier and eligible per budget. "noaug" is not:
# it is notebook 06's robustness baseline (one seed of primary19k without augmentation).
FRONTIER_VARIANTS = ("e20", "kd", "lightaug", "e30", "thick", "ema", "elastic", "lowwd", "highwd", "swa",
                     "swa30", "bc", "bc30", "kdt2", "ls0", "kdls0", "kdls0t4", "kdls0w9",
                     "kdls0e30", "kdls0w9e30")
REFERENCE_VARIANT = "e20"  # what notebook 07 pairs every lever with, seed by seed
BUDGETS = (20_000, 8_000, 4_000, 2_000, 1_000)  # "under N parameters": the budgets of the targets table


@dataclass(frozen=True)
class PublicAnchor:
    """A published tiny-model result: a cited fact, not one of our runs. Each of these was
    picked on the test set (best epoch or best configuration), so it is an upper bound."""

    repo: str
    url: str
    params: int
    accuracy: float  # percent, on the 10,000 MNIST test images, as its repository reports it
    epochs: str
    selection: str  # how that one number was chosen: what makes it optimistic

    @property
    def label(self) -> str:
        return (f"published single run: {self.repo} ({self.params:,} params, "
                f"{self.accuracy:.2f}% test, {self.epochs} epochs; {self.selection})")


# Test accuracy as each repository reports it (its model.txt or README; woolly-of-cv's README
# calls the 10,000 test images its validation set): one run each, where ours are means over 5
# seeds. ruslangrimov's checkpoint file names carry a validation accuracy (99.13 and 99.25); the
# test figures printed at the end of its model.txt are the ones here.
PUBLIC_ANCHORS: tuple[PublicAnchor, ...] = (
    PublicAnchor("ruslangrimov/mnist-minimal-model",
                 "https://github.com/ruslangrimov/mnist-minimal-model", 1_936, 99.10, "75",
                 "one run"),
    PublicAnchor("ruslangrimov/mnist-minimal-model",
                 "https://github.com/ruslangrimov/mnist-minimal-model", 3_197, 99.09, "75",
                 "one run"),
    PublicAnchor("adilsammar/woolly-of-cv", "https://github.com/adilsammar/woolly-of-cv", 3_762,
                 99.52, "15", "one run, the test set its per-epoch validation during design"),
    PublicAnchor("JoshWarn/Parameter-Efficient-MNIST",
                 "https://github.com/JoshWarn/Parameter-Efficient-MNIST", 697, 99.03, "200",
                 "best of about 700 runs, test set used for validation"),
)

# The course's targets per budget (percent): the final epoch's test accuracy, mean over at least
# TARGET_SEEDS seeds, every choice made on validation, at most MAX_EPOCHS epochs; under 20k also
# every seed's minimum. Set above the best public small models' single, mostly test-picked runs.
TARGETS: dict[int, dict[str, float | None]] = {
    20_000: {"mean": 99.68, "every_seed": 99.60},
    8_000: {"mean": 99.55, "every_seed": None},
    4_000: {"mean": 99.50, "every_seed": None},
    2_000: {"mean": 99.20, "every_seed": None},
    1_000: {"mean": 99.00, "every_seed": None},
}
TARGET_SEEDS = 5
MAX_EPOCHS = 30


class SweepTableError(ValueError):
    """``sweep.csv`` exists but cannot be plotted (missing columns, bad numbers, no rows)."""


def read_sweep_csv(path: str | Path = DEFAULT_CSV) -> list[dict[str, Any]]:
    """Rows of ``sweep.csv`` with numeric columns converted; fails clearly on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No sweep table at {path}. Run `python -m utils.experiments.sweep` first (it writes "
            "results/sweep.csv), or pass --csv PATH."
        )
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SweepTableError(
                f"{path} lacks the column(s) {', '.join(missing)} (has: "
                f"{', '.join(reader.fieldnames or []) or 'nothing'}). It should be the "
                "sweep.csv written by `python -m utils.experiments.sweep`."
            )
        rows = []
        for line_no, raw in enumerate(reader, start=2):
            row: dict[str, Any] = dict(raw)
            try:
                for column in INT_COLUMNS:
                    row[column] = int(raw[column])
                for column in FLOAT_COLUMNS:
                    row[column] = float(raw[column])
                for column in OPTIONAL_INT_COLUMNS:
                    if raw.get(column) not in (None, ""):
                        row[column] = int(raw[column])
                for column in OPTIONAL_FLOAT_COLUMNS:
                    if raw.get(column) not in (None, ""):
                        row[column] = float(raw[column])
            except (TypeError, ValueError) as exc:
                raise SweepTableError(
                    f"{path}, line {line_no}: non-numeric value ({exc}). Re-run "
                    "`python -m utils.experiments.sweep` to rewrite the table."
                ) from exc
            not_finite = [c for c, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
            if not_finite:
                raise SweepTableError(
                    f"{path}, line {line_no}: {', '.join(not_finite)} is not a finite number. "
                    "Re-run `python -m utils.experiments.sweep --tables-only` to rewrite the table.")
            rows.append(row)
    if not rows:
        raise SweepTableError(
            f"{path} has no rows: no run has finished yet. Run `python -m utils.experiments.sweep`."
        )
    return rows


def split_run_name(name: str) -> tuple[str, str]:
    """``"sep4k-kd"`` -> ``("sep4k", "kd")``; a control row's name is the bare architecture
    (registry names use underscores, never hyphens)."""
    arch, sep, variant = name.rpartition("-")
    return (arch, variant) if sep else (name, CONTROL)


def frontier_rows(csv_path: str | Path = DEFAULT_CSV,
                  variants_csv: str | Path | None = None) -> list[dict[str, Any]]:
    """The control rows of ``sweep.csv`` and the ``FRONTIER_VARIANTS`` rows of ``sweep_variants.csv`` (by
    default the one beside ``csv_path``; skipped when absent), each with ``model`` (the
    architecture) and ``variant`` added."""
    rows = [{**row, "model": row["arch"], "variant": CONTROL} for row in read_sweep_csv(csv_path)]
    variants_path = (Path(csv_path).with_name(VARIANTS_CSV_NAME) if variants_csv is None
                     else Path(variants_csv))
    if variants_path.is_file():
        for row in read_sweep_csv(variants_path):
            model, variant = split_run_name(row["arch"])
            if variant in FRONTIER_VARIANTS:
                rows.append({**row, "model": model, "variant": variant})
    elif variants_csv is not None:
        raise FileNotFoundError(f"No variants table at {variants_path}. Run "
                                "`python -m utils.experiments.sweep --tables-only` to write it.")
    return rows


def best_by_budget(rows: Sequence[dict[str, Any]],
                   budgets: Sequence[int] = BUDGETS) -> list[dict[str, Any]]:
    """Per budget, the row with the best mean **validation** accuracy among those with fewer
    parameters than the budget (ties: fewer parameters, then name). Test accuracy plays no part
    in the choice; it is reported with the chosen row. A budget with no candidate gets
    ``arch=None``.

    Only rows with ``TARGET_SEEDS`` seeds are candidates (or, where no row under the budget has
    that many, as many as the best-replicated one): a 3-seed screen that leads on validation is a
    lead to confirm with more seeds, not a choice, since its mean is the luckier the more screens
    there are. Such leads are named in ``awaiting_seeds``."""
    lacking = [r.get("arch") for r in rows if r.get("val_mean") is None]
    if lacking:
        raise ValueError(f"Rows {lacking} have no val_mean: the choice is made on validation, "
                         "so every candidate needs its validation accuracy.")
    not_a_number = [r.get("arch") for r in rows if not math.isfinite(r["val_mean"])]
    if not_a_number:  # NaN compares False both ways, so min() would keep whichever came first
        raise ValueError(f"Rows {not_a_number} have a val_mean that is not a finite number: "
                         "rewrite the table with `python -m utils.experiments.sweep --tables-only`.")
    chosen = []
    for budget in budgets:
        under = [r for r in rows if r["params"] < budget]
        if not under:
            chosen.append({"budget": budget, "arch": None})
            continue
        needed = min(TARGET_SEEDS, max(r["seeds"] for r in under))
        candidates = [r for r in under if r["seeds"] >= needed]
        best = min(candidates, key=lambda r: (-r["val_mean"], r["params"], r["arch"]))
        chosen.append({"budget": budget, **{k: best.get(k) for k in (
            "arch", "params", "epochs", "seeds", "val_mean", "test_mean", "test_std",
            "test_min", "test_max", "device")}, "candidates": len(candidates),
            "awaiting_seeds": sorted(r["arch"] for r in under
                                     if r["seeds"] < needed and r["val_mean"] > best["val_mean"])})
    return chosen


def frontier_points(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the frontier figure draws: the shipped recipe's rows and each budget's choice on
    validation (``best_by_budget``), each once. The other candidates are the levers that lost;
    ``lever_differences`` puts them side by side, paired by seed, where they can be told apart."""
    chosen = {best["arch"] for best in best_by_budget(rows) if best["arch"] is not None}
    return [row for row in rows if row["variant"] == CONTROL or row["arch"] in chosen]


def target_reached(row: dict[str, Any], budget: int) -> bool | None:
    """Whether a chosen row meets the course's target for ``budget`` (``None``: no target)."""
    target = TARGETS.get(budget, {})
    if row.get("arch") is None or target.get("mean") is None:
        return None
    every = target.get("every_seed")
    return row["test_mean"] >= target["mean"] and (every is None or row["test_min"] >= every)


def short_by(row: dict[str, Any], target: dict[str, float | None]) -> str:
    """How far a chosen row is below its target, in points: the mean, and under 20k also the
    worst seed where that falls short."""
    gaps = []
    if target.get("mean") is not None and row["test_mean"] < target["mean"]:
        gaps.append(f"mean {target['mean'] - row['test_mean']:.2f} pp")
    every = target.get("every_seed")
    if every is not None and row["test_min"] < every:
        gaps.append(f"worst seed {every - row['test_min']:.2f} pp")
    return ", ".join(gaps)


def targets_table(control_rows: Sequence[dict[str, Any]],
                  candidate_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets table: per budget, the old number (best control row by validation), the
    target, the best honest number (best of every candidate by validation) and whether the
    target is reached; the number of seeds and the device of the chosen runs come with it."""
    old = {r["budget"]: r for r in best_by_budget(control_rows)}
    table = []
    for best in best_by_budget(candidate_rows):
        budget, target = best["budget"], TARGETS.get(best["budget"], {})
        was = old.get(budget, {"arch": None})
        goal = "report the best" if target.get("mean") is None else f">= {target['mean']:.2f}%"
        if target.get("every_seed") is not None:
            goal += f", every seed >= {target['every_seed']:.2f}%"
        reached = target_reached(best, budget)
        table.append({
            "budget": f"< {budget:,}",
            "old": ("—" if was["arch"] is None else
                    f"{was['test_mean']:.2f} ± {was['test_std']:.2f}% ({was['arch']}, "
                    f"{was['seeds']} seeds)"),
            "target": goal,
            "best (chosen on val)": best["arch"] or "—",
            "params": best.get("params"),
            "val mean": None if best["arch"] is None else round(best["val_mean"], 2),
            "test mean ± std": ("—" if best["arch"] is None else
                                f"{best['test_mean']:.2f} ± {best['test_std']:.2f}%"),
            "test min": None if best["arch"] is None else round(best["test_min"], 2),
            "seeds": best.get("seeds"),
            "device": best.get("device"),
            "reached": {None: "no target", True: "yes", False: "no"}[reached],
            "short by": short_by(best, target) if reached is False else "",
        })
    return table


def run_metrics(name: str, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> dict[int, dict[str, Any]]:
    """Every finished seed of run ``name`` (e.g. ``"sep4k-kd"``): seed -> its metrics.json."""
    folder = Path(runs_root) / name
    found = {run.seed: run.metrics for run in scan_runs(Path(runs_root), ("seed",), [name]).finished}
    if not found:
        raise FileNotFoundError(f"No finished run of {name!r} under {folder} (no "
                                "seed<N>/metrics.json). Check the name against results/runs/.")
    return found


def per_seed_differences(a: str, b: str, runs_root: str | Path = DEFAULT_RUNS_ROOT,
                         baseline_root: str | Path | None = None) -> list[dict[str, Any]]:
    """``a`` minus ``b`` in validation accuracy, seed by seed (percentage points), on the
    seeds both have finished.

    Without saved per-image predictions this is the only pairing available: same seed, same
    validation images, accuracies compared. For two runs of one architecture (kd vs e20) the
    seed fixes the initial weights and the batch order, so the pairing removes that noise; for
    two architectures the seed shares only the batch order. Two CPU models round differently
    and training amplifies it, so the seed's outcome is shared only on one machine:
    ``same_machine`` says whether the two runs did (``run_store.same_machine``: None when a CPU
    run did not record its model). ``baseline_root`` reads ``b`` from another run root: a
    baseline trained again on ``a``'s machine, kept apart from the committed runs (notebook 07,
    section 4aa).
    """
    root = Path(runs_root)
    root_b = root if baseline_root is None else Path(baseline_root)
    runs_a, runs_b = run_metrics(a, root), run_metrics(b, root_b)
    seeds = sorted(set(runs_a) & set(runs_b))
    if not seeds:
        raise ValueError(f"{a!r} and {b!r} share no seed: nothing to pair.")

    def one_machine(seed: int) -> bool | None:
        return same_machine(run_record(root / a / f"seed{seed}", runs_a[seed]),
                            run_record(root_b / b / f"seed{seed}", runs_b[seed]))

    return [{"seed": s, a: 100 * runs_a[s]["val_acc"], b: 100 * runs_b[s]["val_acc"],
             "difference": 100 * (runs_a[s]["val_acc"] - runs_b[s]["val_acc"]),
             "same_machine": one_machine(s)} for s in seeds]


def lever_differences(bases: Sequence[str], runs_root: str | Path = DEFAULT_RUNS_ROOT
                      ) -> dict[str, list[dict[str, Any]]]:
    """Every screen of notebook 07 at once: ``"<base>: <lever>"`` -> ``per_seed_differences``
    of that lever's run minus ``<base>-e20``, on the seeds both finished.
    A lever is a frontier variant of the base (``sep8k-e30``: "e30") or another architecture
    under its budget trained as e20 (``sep8k_eca-e20``: "eca"); bases without an e20 run and
    runs with no finished seed are left out."""
    root = Path(runs_root)
    finished = sorted({run.name for run in scan_runs(root, ("seed",)).finished})
    differences: dict[str, list[dict[str, Any]]] = {}
    for base in bases:
        reference = f"{base}-{REFERENCE_VARIANT}"
        if reference not in finished:
            continue
        for name in finished:
            if not name.startswith((f"{base}-", f"{base}_")) or name == reference:
                continue
            arch, variant = split_run_name(name)
            change = arch[len(base) + 1:]
            if variant in FRONTIER_VARIANTS and (not change or variant == REFERENCE_VARIANT):
                differences[f"{base}: {change or variant}"] = per_seed_differences(
                    name, reference, root)
    return differences


def write_frontier(csv_path: str | Path = DEFAULT_CSV,
                   figures_dir: str | Path | None = None,
                   variants_csv: str | Path | None = None) -> Path:
    """Read the tables, draw the frontier (``frontier_points``), save it as ``07_frontier.png``;
    return its path.
    The figure goes to ``figures_dir``; by default to the course's ``figures/`` when drawn from
    the course's table, else beside the table it was drawn from."""
    figures_dir = check_output_dir(figure_folder(csv_path, figures_dir), "--figures-dir")
    rows = frontier_rows(csv_path, variants_csv)
    # here, not at the top: reading and checking the tables needs no matplotlib
    from utils.plots import plt, save_figure
    from utils.plots.results import plot_frontier

    fig = plot_frontier(frontier_points(rows), PUBLIC_ANCHORS)
    try:
        return save_figure(fig, FIGURE_NAME, figures_dir)
    finally:
        plt.close(fig)


def figure_folder(csv_path: str | Path, figures_dir: str | Path | None) -> Path:
    """``figures_dir`` if given; else ``figures/`` for the course's table, and the folder of
    any other table, so a figure of other runs never replaces the course's."""
    if figures_dir is not None:
        return Path(figures_dir)
    if Path(csv_path).resolve() == DEFAULT_CSV.resolve():
        return FIGURES_DIR
    return Path(csv_path).parent


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the sweep table")
    parser.add_argument("--variants-csv", type=Path, default=None,
                        help=f"the variants table (default: {VARIANTS_CSV_NAME} beside --csv, "
                             "if there is one)")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="where to save 07_frontier.png (default: the repo's figures/ for "
                             "the course's table, else the folder of --csv)")
    args = parser.parse_args(argv)
    try:
        path = write_frontier(args.csv, args.figures_dir, args.variants_csv)
    except (FileNotFoundError, SweepTableError, RunFolderError, OutputPathError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"Saved {path}")
    return path


if __name__ == "__main__":
    main()
