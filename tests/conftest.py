"""Shared fixtures, and two nbval tweaks: stderr is not compared, and cells tagged
``kernel-dependent`` are compared within the tolerance they state.

stderr carries warnings and tqdm progress bars whose text changes with library versions and
terminal widths; everything a notebook *reports* goes to stdout or a display output, which nbval
still compares in full (see tests/README.md). A few outputs come out of float32 training or
attribution and move in their last digits with the CPU's kernels: tests/nbval_tolerance.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.nbval_tolerance import KERNEL_TAG, Tolerance, tolerance_of, tolerant_differences
from utils.data import MNISTNotFoundError, MNISTSplits, load_mnist_splits
from utils.paths import REPO_ROOT, resolve_mnist_root

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per pytest-xdist worker and per kernel or command it starts, unless
    OMP_NUM_THREADS says otherwise: two workers of two threads each on two cores ran the
    training tests seven times slower than two of one thread (see tests/README.md)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


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


def _output_texts(item: pytest.Item, outputs: list, skip: tuple[str, ...]) -> dict[str, str]:
    """Each compared output kind (stdout, text/plain, text/html, ...) as one sanitised string,
    flattened the way nbval flattens them."""
    from nbval.plugin import transform_streams_for_comparison  # nbval is imported by then

    texts: dict[str, list[str]] = {}
    for output in transform_streams_for_comparison(outputs):
        flat = {**{k: v for k, v in output.items() if k != "data"}, **output.get("data", {})}
        for key, value in flat.items():
            if key not in skip and isinstance(value, str) and key != "output_type":
                texts.setdefault(key, []).append(item.sanitize(value))
    return {key: "\n".join(parts) for key, parts in texts.items()}


def _compare_within_tolerance(item: pytest.Item, tolerance: Tolerance):
    """nbval's exact comparison, then, only where it fails, the stated tolerance."""
    exact = item.compare_outputs

    def compare(test: list, ref: list, skip_compare: tuple[str, ...] | None = None) -> bool:
        if exact(test, ref, skip_compare):
            return True
        skip = skip_compare or item.parent.skip_compare
        got, committed = _output_texts(item, test, skip), _output_texts(item, ref, skip)
        if got.keys() != committed.keys():
            return False
        problems = [f"{key}: {problem}" for key in committed
                    for problem in tolerant_differences(got[key], committed[key], tolerance)]
        if problems:
            item.comparison_traceback.append(
                f"{KERNEL_TAG} cell, beyond its stated tolerance ({tolerance.why}):\n  "
                + "\n  ".join(problems))
            return False
        item.comparison_traceback = []
        return True

    return compare


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Cells tagged ``kernel-dependent`` are compared with the tolerance they state
    (tests/nbval_tolerance.py); every other cell stays compared exactly."""
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None or KERNEL_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        item.compare_outputs = _compare_within_tolerance(item, tolerance_of(cell["metadata"]))
