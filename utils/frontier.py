"""Build the accuracy-vs-parameters frontier figure from ``results/sweep.csv``::

    python -m utils.frontier [--csv results/sweep.csv] [--figures-dir figures]

The CSV is written by ``python -m utils.sweep`` (one row per model, test accuracy over its
seeds); the figure is saved as ``figures/07_frontier.png``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from .paths import RESULTS_DIR

FIGURE_NAME = "07_frontier"
DEFAULT_CSV = RESULTS_DIR / "sweep.csv"
INT_COLUMNS = ("params", "seeds")
FLOAT_COLUMNS = ("test_mean", "test_std", "test_min", "test_max")
REQUIRED_COLUMNS = ("arch", *INT_COLUMNS, *FLOAT_COLUMNS)


class SweepTableError(ValueError):
    """``sweep.csv`` exists but cannot be plotted (missing columns, bad numbers, no rows)."""


def read_sweep_csv(path: str | Path = DEFAULT_CSV) -> list[dict[str, Any]]:
    """Rows of ``sweep.csv`` with numeric columns converted; fails clearly on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No sweep table at {path}. Run `python -m utils.sweep` first (it writes "
            "results/sweep.csv), or pass --csv PATH."
        )
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SweepTableError(
                f"{path} lacks the column(s) {', '.join(missing)} (has: "
                f"{', '.join(reader.fieldnames or []) or 'nothing'}). It should be the "
                "sweep.csv written by `python -m utils.sweep`."
            )
        rows = []
        for line_no, raw in enumerate(reader, start=2):
            row: dict[str, Any] = dict(raw)
            try:
                for column in INT_COLUMNS:
                    row[column] = int(raw[column])
                for column in FLOAT_COLUMNS:
                    row[column] = float(raw[column])
            except (TypeError, ValueError) as exc:
                raise SweepTableError(
                    f"{path}, line {line_no}: non-numeric value ({exc}). Re-run "
                    "`python -m utils.sweep` to rewrite the table."
                ) from exc
            rows.append(row)
    if not rows:
        raise SweepTableError(
            f"{path} has no rows: no run has finished yet. Run `python -m utils.sweep`."
        )
    return rows


def write_frontier(csv_path: str | Path = DEFAULT_CSV,
                   figures_dir: str | Path | None = None) -> Path:
    """Read the sweep table, draw the frontier, save it as ``07_frontier.png``; return its path."""
    rows = read_sweep_csv(csv_path)
    from .plots import plt, save_figure  # matplotlib picks a headless backend without a display
    from .plots.results import plot_frontier

    fig = plot_frontier(rows)
    try:
        return save_figure(fig, FIGURE_NAME, figures_dir)
    finally:
        plt.close(fig)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the sweep table")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="where to save 07_frontier.png (default: the repo's figures/)")
    args = parser.parse_args(argv)
    try:
        path = write_frontier(args.csv, args.figures_dir)
    except (FileNotFoundError, SweepTableError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"Saved {path}")
    return path


if __name__ == "__main__":
    main()
