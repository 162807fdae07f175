"""save_figure: stable names, the chosen folder, and no half-written files."""

import matplotlib

matplotlib.use("Agg")
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

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
