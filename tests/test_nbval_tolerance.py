"""Kernel-dependent cells: compared within their stated tolerance, and nothing more is let through."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.nbval_tolerance import (
    KERNEL_TAG,
    TOLERANCE_KEY,
    Tolerance,
    split_numbers,
    tolerance_of,
    tolerant_differences,
)
from utils.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("0*.ipynb"))
TESTS_README = REPO_ROOT / "tests" / "README.md"
TWO_PERCENT = Tolerance(abs=0.0, rel=0.02, why="test")


def test_numbers_are_split_from_the_text() -> None:
    text, numbers = split_numbers("step  9/16  lr 6.29e-02  loss 2.129 on 2,048 primary19k images")
    assert text == "step #/# lr # loss # on # primary19k images"
    assert numbers == [9, 16, 0.0629, 2.129, 2048]


def test_numbers_within_the_tolerance_pass() -> None:
    assert tolerant_differences("loss 2.139, acc 91.12%", "loss 2.129, acc 91.78%",
                                TWO_PERCENT) == []


def test_a_number_beyond_the_tolerance_fails_and_is_named() -> None:
    problems = tolerant_differences("loss 2.139, acc 81.12%", "loss 2.129, acc 91.78%", TWO_PERCENT)
    assert len(problems) == 1 and "81.12 vs committed 91.78" in problems[0]


def test_changed_words_fail_whatever_the_numbers() -> None:
    assert tolerant_differences("Exercise 03.5: wrong - 91.12%", "Exercise 03.5: correct - 91.12%",
                                TWO_PERCENT)


def test_a_table_whose_columns_widen_still_compares() -> None:
    assert tolerant_differences("a   9.99\nbb  1.00", "a  10.01\nbb  1.00", TWO_PERCENT) == []


def test_an_extra_number_fails() -> None:
    assert tolerant_differences("loss 2.129 2.1", "loss 2.129", TWO_PERCENT)


@pytest.mark.parametrize("metadata", [{}, {TOLERANCE_KEY: {"abs": 0.1}},
                                      {TOLERANCE_KEY: "2%"}])
def test_a_tagged_cell_without_a_full_tolerance_is_an_error(metadata: dict) -> None:
    with pytest.raises(ValueError, match=TOLERANCE_KEY):
        tolerance_of(metadata)


def kernel_dependent_cells() -> list[tuple[str, str, Tolerance]]:
    found = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if KERNEL_TAG in cell.metadata.get("tags", []):
                found.append((path.name, cell.get("id", "?"), tolerance_of(cell.metadata)))
    return found


def test_every_kernel_dependent_cell_states_its_tolerance_and_is_listed() -> None:
    """A new mask is a decision: it must be written down in tests/README.md with its reason."""
    cells = kernel_dependent_cells()
    assert cells, "no kernel-dependent cell found: the list in tests/README.md is stale"
    listed = TESTS_README.read_text()
    for notebook, cell_id, tolerance in cells:
        assert cell_id != "?", f"{notebook}: a kernel-dependent cell needs a cell id"
        assert f"`{notebook}` / `{cell_id}`" in listed, (
            f"{notebook} cell {cell_id} is kernel-dependent but not listed in tests/README.md")
        assert tolerance.abs >= 0 and tolerance.rel >= 0 and (tolerance.abs or tolerance.rel)


def run_nbval(notebook: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO_ROOT / "pytest.ini"),
         "--rootdir", str(notebook.parent), "-p", "no:cacheprovider", "-p", "tests.conftest",
         "-o", "addopts=", "-q", "-rf", "--nbval", "--nbval-current-env", str(notebook)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )


def one_cell_notebook(path: Path, committed: str, tagged: bool) -> Path:
    cell = nbformat.v4.new_code_cell('print("loss 2.139")', id="probe", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=committed)]
    if tagged:
        cell.metadata = {"tags": [KERNEL_TAG], TOLERANCE_KEY: {"abs": 0, "rel": 0.02, "why": "t"}}
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.notebooks
@pytest.mark.parametrize(("committed", "tagged", "passes"), [
    ("loss 2.129\n", True, True),  # within 2%: another CPU's kernels
    ("loss 2.500\n", True, False),  # beyond it: a real change
    ("loss 2.129\n", False, False),  # an untagged cell stays exact
])
def test_nbval_applies_the_tolerance_only_where_stated(tmp_path: Path, committed: str,
                                                       tagged: bool, passes: bool) -> None:
    result = run_nbval(one_cell_notebook(tmp_path / "probe.ipynb", committed, tagged))
    report = result.stdout + result.stderr
    assert result.returncode == (0 if passes else 1), report
    if not passes:
        assert re.search(r"\b1 failed\b", report) and "Cell outputs differ" in report, report
