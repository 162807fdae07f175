"""Notebook 05's and 07's figures: each draws what it is given, and refuses empty input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from utils.experiments.ablations import Comparison  # noqa: E402
from utils.plots.ablations import plot_effects, plot_lr_range, plot_setting_curve  # noqa: E402
from utils.plots.results import plot_paired_differences, plot_run_curves  # noqa: E402


def _comparison(variant: str, val_mean: float, diffs: list[float],
                not_learned_seeds: tuple[int, ...] = ()) -> Comparison:
    """A variant over seeds 0-2, with what plot_effects does not read filled in."""
    return Comparison(variant, [0, 1, 2], val_mean, 0.05, dict(enumerate(diffs)), [],
                      {"cpu": 30.0}, list(not_learned_seeds))


def _close(fig):
    plt.close(fig)


def test_effects_draws_one_row_per_variant_without_the_control():
    comparisons = [_comparison("control", 99.57, [0, 0, 0]),
                   _comparison("ls0", 99.57, [0.12, -0.04, -0.06]),
                   _comparison("aug2", 99.38, [-0.16, -0.24, -0.16])]
    fig = plot_effects(comparisons)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 2 and any("label smoothing" in t for t in labels)
    assert not any("nothing" in t for t in labels)  # the control is the zero line, not a row
    _close(fig)


def test_effects_counts_runs_that_did_not_learn_at_the_edge_not_on_the_scale():
    """A run that stayed at chance (-88 points) would squash every other row against zero."""
    comparisons = [_comparison("control", 99.57, [0, 0, 0]),
                   _comparison("aug2", 99.38, [-0.16, -0.24, -0.16]),
                   _comparison("nobn-lr0.3", 11.24, [-88.3, -88.4, -88.3], (0, 1, 2)),
                   _comparison("nobn-lr0.1", 69.9, [-0.2, -88.4, -0.5], (1,))]
    fig = plot_effects(comparisons)
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert -1 < low < -0.5 and 0 < high < 1  # the scale of the runs that learned
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 3  # still one row each
    assert "[3 of 3 at -88: did not learn]" in labels[0]  # rows in ABLATIONS order
    assert "[1 of 3 at -88: did not learn]" in labels[1] and "did not learn" not in labels[2]
    bars = [line for line in ax.lines if line.get_marker() in ("o", "D")]
    diamond = next(line for line in bars if line.get_marker() == "D")
    assert list(diamond.get_xdata()) == pytest.approx([-0.35])  # the mean of the two that learned
    _close(fig)


def test_effects_marks_the_runs_the_tables_count_as_not_learned_not_the_far_ones():
    """One rule for "did not learn" (final accuracy below ablations.LEARNED): a run that learned
    to 91% is far below the control, yet it is not called a failure; it is drawn at the edge
    with its value, and still counts in its row's bar."""
    comparisons = [_comparison("control", 99.57, [0, 0, 0]),
                   _comparison("nobn-lr0.1", 96.4, [-0.2, -8.6, -0.5])]
    fig = plot_effects(comparisons)
    ax = fig.axes[0]
    label = ax.get_yticklabels()[0].get_text()
    assert "did not learn" not in label and "[-8.6: off the scale]" in label
    assert ax.get_xlim()[0] > -1  # the scale of the other seeds, not -8.6
    bar = next(line for line in ax.lines if line.get_marker() == "o")
    assert list(bar.get_xdata()) == pytest.approx([-3.1])  # the mean over all three
    _close(fig)


def test_setting_curve_plots_means_in_setting_order_and_times_on_a_twin_axis():
    rows = [{"variant": v, "val_acc": a} for v, a in
            [("ep5", 0.9940), ("ep5", 0.9946), ("control", 0.9957), ("control", 0.9955)]]
    fig = plot_setting_curve(rows, {"control": 15, "ep5": 5}, "epochs", "t",
                             seconds={"ep5": 12.0, "control": 34.0})
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [5, 15]
    assert list(line.get_ydata()) == pytest.approx([99.43, 99.56])
    assert len(fig.axes) == 2  # the training-time axis
    _close(fig)


def test_lr_range_marks_both_rates():
    points = [{"lr": 10 ** (k / 10 - 4), "loss": 2.3 - k / 50, "smoothed": 2.3 - k / 50}
              for k in range(50)]
    fig = plot_lr_range(points, steepest=0.04, chosen=0.1)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("0.04" in t for t in texts) and any("0.1" in t for t in texts)
    _close(fig)


def test_run_curves_and_paired_differences_refuse_empty_input():
    with pytest.raises(ValueError, match="at least one run"):
        plot_run_curves({})
    with pytest.raises(ValueError, match="at least one comparison"):
        plot_paired_differences({"a": []})
    history = [{"epoch": e, "val_loss": 0.1 / e, "train_acc": 0.9, "val_acc": 0.98} for e in (1, 2, 3)]
    fig = plot_run_curves({"a": history, "b": history})
    assert len(fig.axes[0].lines) == 2
    _close(fig)
    fig = plot_paired_differences({"x": [0.1, 0.2], "y": [-0.1]}, groups={"x": "g1", "y": "g2"})
    assert len(fig.axes[0].collections) >= 2
    _close(fig)


def test_paired_differences_draw_pairs_across_machines_hollow():
    fig = plot_paired_differences({"x": [0.1, 0.2], "y": [-0.1, -0.2]},
                                  same_machine={"x": [False, True], "y": [True, None]})
    ax = fig.axes[0]
    dots = [c for c in ax.collections if len(c.get_offsets()) == 1]
    hollow = {tuple(c.get_offsets()[0]) for c in dots if len(c.get_facecolor()) == 0}
    assert hollow == {(0.1, 1.0), (-0.2, 0.0)}  # x is the top row
    circle, square = (dots[0].get_paths()[0].vertices, dots[3].get_paths()[0].vertices)
    assert len(circle) != len(square)  # the unrecorded pair has its own marker
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "hollow circle: the two runs trained on different machines" in legend
    assert "hollow square: a CPU run did not record its CPU model" in legend
    _close(fig)
    fig = plot_paired_differences({"x": [0.1, 0.2]})
    assert fig.axes[0].get_legend() is None  # no groups, every pair on one machine: nothing to explain
    _close(fig)
    with pytest.raises(ValueError, match="one flag per difference"):
        plot_paired_differences({"x": [0.1, 0.2]}, same_machine={"x": [True]})
