"""The frontier figure: built from a sweep table, with clear errors for a missing or bad one."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from utils import frontier
from utils.plots.results import ORIGINAL_REFERENCE_POINTS, REFERENCE_X_OFFSET, plot_frontier
from utils.sweep import write_tables

ROWS = [
    {"arch": "primary19k", "params": 19_546, "epochs": 15, "seeds": 5, "test_mean": 99.52,
     "test_std": 0.04, "test_min": 99.47, "test_max": 99.58, "val_mean": 99.6,
     "train_seconds_mean": 600.0, "device": "cpu"},
    {"arch": "compact8k", "params": 7_442, "epochs": 15, "seeds": 1, "test_mean": 99.31,
     "test_std": 0.0, "test_min": 99.31, "test_max": 99.31, "val_mean": 99.4,
     "train_seconds_mean": 300.0, "device": "cpu"},
]


@pytest.fixture
def sweep_csv(tmp_path: Path) -> Path:
    write_tables(ROWS, tmp_path)  # the real producer of sweep.csv
    return tmp_path / "sweep.csv"


def test_read_sweep_csv_round_trip(sweep_csv: Path) -> None:
    rows = frontier.read_sweep_csv(sweep_csv)
    assert [r["arch"] for r in rows] == ["primary19k", "compact8k"]
    for got, want in zip(rows, ROWS, strict=True):
        assert isinstance(got["params"], int) and got["params"] == want["params"]
        for key in frontier.FLOAT_COLUMNS:
            assert got[key] == pytest.approx(want[key])


def test_write_frontier_creates_png(sweep_csv: Path, tmp_path: Path) -> None:
    path = frontier.write_frontier(sweep_csv, tmp_path / "figs")
    assert path == tmp_path / "figs" / f"{frontier.FIGURE_NAME}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert frontier.FIGURE_NAME == "07_frontier"


def test_cli_writes_figure(sweep_csv: Path, tmp_path: Path) -> None:
    path = frontier.main(["--csv", str(sweep_csv), "--figures-dir", str(tmp_path / "out")])
    assert path.is_file() and path.parent == tmp_path / "out"


def test_plot_shows_models_and_reference_points() -> None:
    fig = plot_frontier(ROWS)
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log"
        texts = " ".join(t.get_text() for t in ax.texts)
        assert "primary19k" in texts and "compact8k" in texts
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        for point in ORIGINAL_REFERENCE_POINTS:
            assert point.label in legend
        # every reference accuracy is drawn (just right of) the original's parameter count
        offsets = [tuple(c.get_offsets()[0]) for c in ax.collections
                   if len(c.get_offsets()) == 1]
        for point in ORIGINAL_REFERENCE_POINTS:
            x = point.params * REFERENCE_X_OFFSET
            assert any(ox == pytest.approx(x) and oy == pytest.approx(point.accuracy)
                       for ox, oy in offsets), point.label
    finally:
        plt.close(fig)


def test_missing_csv_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="python -m utils.sweep"):
        frontier.write_frontier(tmp_path / "absent.csv", tmp_path)
    assert not (tmp_path / f"{frontier.FIGURE_NAME}.png").exists()


def test_cli_missing_csv_exits_with_message(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        frontier.main(["--csv", str(tmp_path / "absent.csv"), "--figures-dir", str(tmp_path)])
    assert exited.value.code == 2
    assert "No sweep table" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("arch,params,seeds,test_mean\nx,1,1,99.0\n", "test_std"),  # missing columns named
        ("", "lacks the column"),  # empty file
        ("arch,params,seeds,test_mean,test_std,test_min,test_max\n", "no rows"),
        ("arch,params,seeds,test_mean,test_std,test_min,test_max\nx,12k,1,99,0,99,99\n",
         "line 2"),
    ],
)
def test_bad_csv_is_rejected_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "sweep.csv"
    path.write_text(content)
    with pytest.raises(frontier.SweepTableError, match=message):
        frontier.read_sweep_csv(path)


def test_the_frontier_draws_the_course_target_of_99_5_percent() -> None:
    """The course's goal is 'over 99.5%': the dotted target line must say so (it once said 99.4)."""
    fig = plot_frontier(ROWS)
    try:
        lines = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == ":"]
        assert [tuple(line.get_ydata()) for line in lines] == [(99.5, 99.5)]
        assert any("99.5% target" in text.get_text() for text in fig.axes[0].get_legend().get_texts())
    finally:
        plt.close(fig)
