"""Shared fixtures, and the nbval tweak that stops comparing stderr.

stderr carries warnings and tqdm progress bars whose text changes with library versions and
terminal widths; everything a notebook *reports* goes to stdout or a display output, which nbval
still compares in full (see tests/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from utils.data import MNISTNotFoundError, MNISTSplits, load_mnist_splits
from utils.paths import REPO_ROOT, resolve_mnist_root

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def pytest_collectstart(collector: pytest.Collector) -> None:
    """For nbval's notebook collectors only: do not compare stderr streams."""
    skip = getattr(collector, "skip_compare", None)
    if skip is not None and "stderr" not in skip:
        collector.skip_compare = (*skip, "stderr")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def notebook_paths() -> list[Path]:
    """The course notebooks in order (``notebooks/0*.ipynb``)."""
    return sorted(NOTEBOOKS_DIR.glob("0*.ipynb"))


@pytest.fixture(scope="session")
def splits() -> MNISTSplits:
    """The real MNIST splits (55k/5k/10k) from ``$MNIST_ROOT`` or ``<repo>/data``.

    Tests never download: without the files they are skipped, with a reason saying how to
    provide them. Corrupt files are *not* skipped: they fail loudly.
    """
    try:
        return load_mnist_splits(download=False)
    except MNISTNotFoundError as exc:
        pytest.skip(
            f"MNIST is not available under {resolve_mnist_root()} (set MNIST_ROOT to a folder "
            f"holding MNIST/raw/, or run a notebook once with internet access). Details: {exc}"
        )
