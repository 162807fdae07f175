"""Notebook checks that complement nbval (which `make test` runs on notebooks/):

* structure of every committed notebook (title cell, plain-valued `parameters` cell, outputs);
* a papermill smoke run of every notebook with small parameters into a temporary folder,
  checking it runs without errors and writes exactly the figures committed for it;
* a self-check that the nbval set-up really compares numbers: a copy of notebook 01 with one
  committed digit changed must fail.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from utils.data import MNISTSplits
from utils.paths import FIGURES_DIR, REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("0*.ipynb"))
SANITIZE_CFG = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
IGNORE_MARKER = "# NBVAL_IGNORE_OUTPUT"
TMP = "{tmp}"  # replaced by the test's temporary folder

# Small, fast parameters per notebook (keyed by the "0N" prefix); `figures_dir` is always added.
SMOKE_PARAMETERS: dict[str, dict[str, Any]] = {
    "01": {"samples_per_class": 3, "ink_sample": 2000},
    "02": {},
    "03": {"retrain": True, "epochs": 1, "train_subset": 2000, "output_dir": TMP + "/model"},
    "04": {},
    "05": {"live_variant": "ls0", "live_epochs": 1, "live_train_subset": 512,
           "live_runs_root": TMP + "/runs"},
    "06": {"stats_images": 500, "erf_images": 16, "n_examples": 3},
    "07": {"curves_model": "sep4k", "curves_seed": 1},  # reads committed runs: already fast
}


def notebook_id(path: Path) -> str:
    return path.stem


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def smoke_parameters(path: Path, tmp_path: Path) -> dict[str, Any]:
    params = SMOKE_PARAMETERS.get(path.name[:2], {})
    resolved = {k: v.replace(TMP, str(tmp_path)) if isinstance(v, str) else v
                for k, v in params.items()}
    return {"figures_dir": str(tmp_path / "figures"), **resolved}


def test_notebooks_exist() -> None:
    assert NOTEBOOKS, "no notebooks/0*.ipynb found"
    prefixes = [p.name[:2] for p in NOTEBOOKS]
    assert prefixes == sorted(set(prefixes)), f"duplicate or unordered numbers: {prefixes}"


# ---------------------------------------------------------------- structure (fast)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_structure(path: Path) -> None:
    nb = read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), (
        "the first cell must be a markdown title"
    )
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged `parameters` (papermill)"
    assert nb.cells.index(tagged[0]) == 1, "the parameters cell must be the second cell"
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])], (
        "committed notebooks must be executed with default parameters (no injected cell)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_parameters_cell_holds_plain_values(path: Path) -> None:
    """Derived values inside the parameters cell would not follow papermill overrides."""
    cell = next(c for c in read(path).cells if "parameters" in c.metadata.get("tags", []))
    names = []
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.unparse(node)
        assert isinstance(node.targets[0], ast.Name), ast.unparse(node)
        ast.literal_eval(node.value)  # raises on anything but a plain literal
        names.append(node.targets[0].id)
    assert "figures_dir" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_committed_outputs(path: Path) -> None:
    cells = code_cells(read(path))
    unexecuted = [i for i, c in enumerate(cells) if c.execution_count is None and c.source.strip()]
    assert not unexecuted, f"code cells {unexecuted} were never executed: commit outputs"
    assert any(c.outputs for c in cells), "the notebook carries no outputs"
    errors = [i for i, c in enumerate(cells) for o in c.outputs if o.output_type == "error"]
    assert not errors, f"code cells {errors} have error outputs"
    text = nbformat.writes(read(path))
    assert str(REPO_ROOT) not in text, "outputs contain an absolute path of this machine"


# ---------------------------------------------------------------- papermill smoke runs (slow)
@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_papermill_smoke(path: Path, tmp_path: Path, splits: MNISTSplits) -> None:
    import papermill

    params = smoke_parameters(path, tmp_path)
    output = tmp_path / path.name
    try:
        papermill.execute_notebook(
            str(path), str(output), parameters=params, kernel_name="python3",
            cwd=str(NOTEBOOKS_DIR), progress_bar=False, log_output=False,
        )
    except papermill.PapermillExecutionError as exc:
        pytest.fail(f"{path.name} failed with {params}: {exc.ename}: {exc.evalue}")
    executed = read(output)
    errors = [o for c in code_cells(executed) for o in c.outputs if o.output_type == "error"]
    assert not errors
    written = {p.name for p in (tmp_path / "figures").glob("*.png")}
    committed = {p.name for p in FIGURES_DIR.glob(f"{path.name[:2]}_*.png")}
    assert written == committed, (
        f"figures written by {path.name}: {sorted(written)}; committed: {sorted(committed)}. "
        "Re-run `make notebooks` (or delete stale figures) so they match."
    )


# ---------------------------------------------------------------- nbval self-check (slow)
def mutate_one_number(nb: nbformat.NotebookNode) -> int:
    """Change one digit in the first compared stdout output; return that code cell's index."""
    for index, cell in enumerate(code_cells(nb)):
        if cell.source.lstrip().startswith(IGNORE_MARKER):
            continue
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stdout":
                match = re.search(r"\d", output.text)
                if match:
                    digit = str((int(match.group()) + 1) % 10)
                    output.text = output.text[: match.start()] + digit + output.text[match.end():]
                    return index
    raise AssertionError("no compared stdout output with a number found")


@pytest.mark.notebooks
def test_nbval_detects_a_changed_number(tmp_path: Path, splits: MNISTSplits) -> None:
    source = NOTEBOOKS_DIR / "01_data_exploration.ipynb"
    nb = read(source)
    changed_cell = mutate_one_number(nb)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = re.sub(r"(?m)^figures_dir = None",
                           f"figures_dir = {str(tmp_path / 'figures')!r}", params.source)
    copy = tmp_path / source.name
    nbformat.write(nb, copy)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO_ROOT / "pytest.ini"),
         "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-p", "tests.conftest",
         "-o", "addopts=", "-q", "-rf", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(SANITIZE_CFG), str(copy)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 1, report  # 1 = tests failed (not a usage or internal error)
    assert re.search(r"\b1 failed\b", report), report
    assert f"::Cell {changed_cell} " in report and "Cell outputs differ" in report, report
