"""Notebook checks that complement nbval (which `make test` runs on notebooks/):

* structure of every committed notebook (title cell, plain-valued `parameters` cell, outputs);
* a papermill smoke run of every notebook with small parameters into a temporary folder,
  checking it runs without errors and writes exactly the figures committed for it; the same run
  tries every code exercise with the student's placeholder (it must fail clearly) and with its
  solution (its check must pass), so each notebook executes once here, not twice;
* a self-check that the nbval set-up really compares numbers: a copy of notebook 01, cut after
  the first cell with a compared number, with that number changed, must fail on that cell.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

from utils.course.checkers import AnswerError
from utils.course.student import CODE_MESSAGE, SOLUTION_TAG, student_notebook
from utils.data import MNISTSplits
from utils.paths import FIGURES_DIR, REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("0*.ipynb"))
SANITIZE_CFG = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
IGNORE_MARKER = "# NBVAL_IGNORE_OUTPUT"
TMP = "{tmp}"  # replaced by the test's temporary folder

# Small, fast parameters per notebook (keyed by its prefix, "03" or "02b"); `figures_dir` is
# always added.
SMOKE_PARAMETERS: dict[str, dict[str, Any]] = {
    "01": {"samples_per_class": 3, "ink_sample": 2000},
    "02": {},
    "02b": {},  # reads the baselines' committed results: already fast
    "03": {"retrain": True, "epochs": 1, "train_subset": 2000, "output_dir": TMP + "/model"},
    "04": {},
    "05": {"live_variant": "ls0", "live_epochs": 1, "live_train_subset": 512,
           "live_runs_root": TMP + "/runs"},
    "06": {"stats_images": 500, "erf_images": 16, "n_examples": 3},
    "07": {"curves_model": "sep4k", "curves_seed": 1},  # reads committed runs: already fast
}


def notebook_id(path: Path) -> str:
    return path.stem


def prefix(path: Path) -> str:
    """A notebook's number, the part of its name before the first "_": "03", or "02b" for a
    notebook placed between 02 and 03. Its figures are named ``<prefix>_*.png``."""
    return path.name.split("_", 1)[0]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def smoke_parameters(path: Path, tmp_path: Path) -> dict[str, Any]:
    params = SMOKE_PARAMETERS.get(prefix(path), {})
    resolved = {k: v.replace(TMP, str(tmp_path)) if isinstance(v, str) else v
                for k, v in params.items()}
    return {"figures_dir": str(tmp_path / "figures"), **resolved}


def test_notebooks_exist() -> None:
    assert NOTEBOOKS, "no notebooks/0*.ipynb found"
    prefixes = [prefix(p) for p in NOTEBOOKS]
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
    tagged = [c for c in nb.cells if "parameters" in tags(c)]
    assert len(tagged) == 1, "exactly one cell must be tagged `parameters` (papermill)"
    assert nb.cells.index(tagged[0]) == 1, "the parameters cell must be the second cell"
    assert not [c for c in nb.cells if "injected-parameters" in tags(c)], (
        "committed notebooks must be executed with default parameters (no injected cell)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_parameters_cell_holds_plain_values(path: Path) -> None:
    """Derived values inside the parameters cell would not follow papermill overrides."""
    cell = next(c for c in read(path).cells if "parameters" in tags(c))
    names = []
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.unparse(node)
        assert isinstance(node.targets[0], ast.Name), ast.unparse(node)
        ast.literal_eval(node.value)  # raises on anything but a plain literal
        names.append(node.targets[0].id)
    assert "figures_dir" in names
    # papermill reads the cell with its own parser: a line it cannot parse (an "=" in the
    # comment can do that) is missing from `papermill --help-notebook`, and each `-p name ...`
    # warns "Passed unknown parameter".
    assert sorted(papermill.inspect_notebook(str(path))) == sorted(names)


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
TRIAL = "exercise_trial"  # cell metadata: which step of an exercise's trial a cell is
EXPECTED_ERROR = "raises-exception"  # nbclient's tag: the cell may raise, execution goes on


def with_exercise_trials(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with every code exercise tried twice, in one kernel: before each solution
    cell, the student copy's placeholder and a copy of the check (both must raise, so they are
    tagged ``raises-exception``); then the solution and its own check, which must pass. One
    execution is then both the headless smoke run and the exercise test."""
    student = student_notebook(nb)
    run = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(run.cells):
        if cell.cell_type == "code" and SOLUTION_TAG in tags(cell):
            check = run.cells[index + 1]
            for step, source in (("placeholder", student.cells[index]), ("unanswered", check)):
                trial = nbformat.v4.new_code_cell(
                    source.source, metadata={"tags": [EXPECTED_ERROR],
                                             TRIAL: {"step": step, "exercise": cell.id}})
                trial.id = f"{cell.id}-{step}"[:64]
                cells.append(trial)
            cell.metadata[TRIAL] = {"step": "solution", "exercise": cell.id}
            check.metadata[TRIAL] = {"step": "answered", "exercise": cell.id}
        cells.append(cell)
    run.cells = cells
    return run


def error_of(cell: nbformat.NotebookNode) -> tuple[str, str] | None:
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    return (errors[0].ename, errors[0].evalue) if errors else None


def check_exercise_trials(executed: nbformat.NotebookNode) -> None:
    """Only the placeholders and unanswered checks raised, each with the student's message;
    every solution ran and its check said "correct"."""
    unexpected = [(c.get("id"), error_of(c)) for c in executed.cells
                  if error_of(c) and TRIAL not in c.metadata]
    assert not unexpected, f"cells raised: {unexpected}"
    for cell in executed.cells:
        if TRIAL not in cell.metadata:
            continue
        step, exercise = cell.metadata[TRIAL]["step"], cell.metadata[TRIAL]["exercise"]
        error = error_of(cell)
        if step == "placeholder":
            assert error == ("NotImplementedError", CODE_MESSAGE), (exercise, error)
        elif step == "unanswered":
            name, message = error or ("", "")
            assert name == AnswerError.__name__ and "no answer yet" in message, (exercise, error)
        else:
            assert error is None, (exercise, step, error)
        if step == "answered":
            printed = "".join(o.text for o in cell.outputs if o.output_type == "stream")
            assert "correct" in printed, (exercise, printed)


def test_exercise_trials_put_placeholder_and_check_before_each_solution() -> None:
    solution = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nanswer_rf = 5\n### END SOLUTION",
                                         metadata={"tags": [SOLUTION_TAG]})
    check = nbformat.v4.new_code_cell("check_rf(answer_rf)", metadata={"tags": ["check"]})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), solution, check])
    run = with_exercise_trials(nb)
    steps = [c.metadata.get(TRIAL, {}).get("step") for c in run.cells]
    assert steps == [None, "placeholder", "unanswered", "solution", "answered"]
    placeholder, unanswered = run.cells[1:3]
    assert "answer_rf = ..." in placeholder.source and "BEGIN SOLUTION" not in placeholder.source
    assert unanswered.source == check.source
    assert all(tags(c) == [EXPECTED_ERROR] for c in (placeholder, unanswered))
    assert len({c.id for c in run.cells}) == len(run.cells)
    nbformat.validate(run)
    assert TRIAL not in nb.cells[1].metadata, "the notebook itself must not be modified"


def executed_trials(placeholder_error: tuple[str, str] | None) -> nbformat.NotebookNode:
    """A hand-made 'executed' trial notebook whose placeholder raised ``placeholder_error``."""
    def outputs(error: tuple[str, str] | None, text: str = "") -> list:
        if error:
            return [nbformat.v4.new_output("error", ename=error[0], evalue=error[1], traceback=[])]
        return [nbformat.v4.new_output("stream", text=text)] if text else []

    cells = []
    for step, error, text in (
            ("placeholder", placeholder_error, ""),
            ("unanswered", ("AnswerError", "Exercise 1: no answer yet. Replace ..."), ""),
            ("solution", None, ""), ("answered", None, "Exercise 1: correct.\n")):
        cell = nbformat.v4.new_code_cell("...", metadata={TRIAL: {"step": step, "exercise": "e1"}})
        cell.outputs = outputs(error, text)
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells)


def test_exercise_trial_check_passes_and_fails() -> None:
    check_exercise_trials(executed_trials(("NotImplementedError", CODE_MESSAGE)))
    with pytest.raises(AssertionError, match="e1"):
        check_exercise_trials(executed_trials(None))  # the placeholder did not raise
    broken = executed_trials(("NotImplementedError", CODE_MESSAGE))
    broken.cells.append(nbformat.v4.new_code_cell("1 / 0"))
    broken.cells[-1].outputs = [nbformat.v4.new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        check_exercise_trials(broken)


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_papermill_smoke(path: Path, tmp_path: Path, splits: MNISTSplits) -> None:
    """Top to bottom through papermill with small parameters, every exercise tried with the
    student's placeholder and with its solution, writing exactly the committed figures."""
    import papermill

    params = smoke_parameters(path, tmp_path)
    trials = tmp_path / f"trials_{path.name}"
    nbformat.write(with_exercise_trials(read(path)), trials)
    output = tmp_path / path.name
    try:
        papermill.execute_notebook(
            str(trials), str(output), parameters=params, kernel_name="python3",
            cwd=str(NOTEBOOKS_DIR), progress_bar=False, log_output=False,
        )
    except papermill.PapermillExecutionError:
        pass  # papermill reports any error output, expected ones too: judged cell by cell below
    executed = read(output)
    assert any("injected-parameters" in tags(c) for c in executed.cells)
    check_exercise_trials(executed)
    written = {p.name for p in (tmp_path / "figures").glob("*.png")}
    committed = {p.name for p in FIGURES_DIR.glob(f"{prefix(path)}_*.png")}
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
    # Only the cells up to the changed one matter, and nbval numbers cells as it meets them.
    last = code_cells(nb)[changed_cell]
    nb.cells = nb.cells[: nb.cells.index(last) + 1]
    params = next(c for c in nb.cells if "parameters" in tags(c))
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
