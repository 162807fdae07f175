"""save_figure: stable names, the chosen folder, and no half-written files."""

import matplotlib

matplotlib.use("Agg")
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from utils.plots import save_figure  # noqa: E402


def test_save_figure_writes_png_under_stable_name(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, "99_example", tmp_path)
    plt.close(fig)
    assert path == tmp_path / "99_example.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["99_example.png"]


def test_failed_save_keeps_the_old_figure_and_leaves_no_partial_file(tmp_path, monkeypatch):
    fig, _ = plt.subplots()
    path = save_figure(fig, "99_example", tmp_path)
    before = path.read_bytes()

    def broken_savefig(target, *args, **kwargs):
        Path(target).write_bytes(b"half")  # a half-written temp file, then the failure
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, "99_example", tmp_path)
    plt.close(fig)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["99_example.png"]


def test_architecture_figures_label_layers_unambiguously_and_show_coverage():
    from utils.models import build_model
    from utils.plots.architecture import plot_rf_growth, plot_rf_on_digit, plot_unit_coverage
    from utils.receptive_field import receptive_field_table, unit_coverage

    rows = receptive_field_table(build_model("primary19k"), 28)
    fig = plot_rf_on_digit(torch.zeros(28, 28), rows)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "features.7 (1x1 conv): 6 px" in labels and not any("conv1" in t for t in labels)
    tables = {"a": rows, "b": receptive_field_table(build_model("tiny4k"), 28)}
    fig = plot_rf_growth(tables, digit_heights=torch.tensor([18, 20]),
                         digit_widths=torch.tensor([8, 20]))
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]  # one panel per model
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(text.startswith("digit width: 5-95%") for text in legend)
    fig = plot_unit_coverage({"pool2": unit_coverage(
        receptive_field_table(build_model("original19k"), 28), "pool2", 28)}, 28, (4, 23))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["22/28 px", "26/28 px", "26/28 px", "22/28 px"]
    plt.close("all")
