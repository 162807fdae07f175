"""The student copies: every exercise has a solution and a check, and no solution survives the
copy. That a student's placeholder fails with a clear message where the solution passes is
checked by the notebooks' smoke run (``tests/test_notebooks.py::test_papermill_smoke``), which
tries every code exercise both ways in the same execution.

The notebook-level tests discover ``notebooks/0*.ipynb``, so every notebook that gains
exercises is covered without editing this file.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from utils.course.student import (
    BEGIN,
    CHECK_TAG,
    CODE_STUB,
    END,
    SOLUTION_TAG,
    TEXT_STUB,
    SolutionMarkerError,
    assigned_names,
    clear_solutions,
    solution_regions,
    student_notebook,
    write_student_copies,
)
from utils.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("0*.ipynb"))


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def solution_lines(source: str) -> list[str]:
    lines = source.splitlines()
    return [line for begin, end in solution_regions(lines) for line in lines[begin + 1 : end]]


# ---------------------------------------------------------------- the generator on small inputs
CODE = f"""x = 1
{BEGIN}
answer_rf = [3, 5]
total: int = 2
{END}
check(answer_rf)"""


def test_code_solution_becomes_named_placeholders_and_a_raise():
    cleared, changed = clear_solutions(CODE, "code")
    assert changed
    assert cleared.splitlines() == [
        "x = 1", f"answer_rf = ...  # {TEXT_STUB}", f"total = ...  # {TEXT_STUB}", CODE_STUB,
        "check(answer_rf)",
    ]
    namespace: dict = {}
    with pytest.raises(NotImplementedError, match="Your answer here"):
        exec(cleared.replace("check(answer_rf)", ""), namespace)
    assert namespace["answer_rf"] is ...  # so a check run anyway says "no answer yet"


def test_indented_solution_keeps_its_indentation_and_only_raises():
    source = f"def f():\n    {BEGIN}\n    y = 2\n    return y\n    {END}\n"
    cleared, _ = clear_solutions(source, "code")
    assert cleared == f"def f():\n    {CODE_STUB}"
    namespace: dict = {}
    exec(cleared, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"]()


def test_markdown_solution_becomes_your_answer_here():
    source = f"**Answer:**\n\n{BEGIN}\nThe field is 28 px.\n{END}\nafter"
    assert clear_solutions(source, "markdown") == (f"**Answer:**\n\n{TEXT_STUB}\nafter", True)


def test_cells_without_markers_are_unchanged():
    assert clear_solutions("x = 1\n", "code") == ("x = 1\n", False)


@pytest.mark.parametrize("source, message", [
    (f"{BEGIN}\nx = 1\n", "never closed"),
    (f"x = 1\n{END}\n", "never opened"),
    (f"{BEGIN}\n{BEGIN}\n{END}\n", "inside the one opened on line 1"),
])
def test_unbalanced_markers_fail_naming_the_line(source, message):
    with pytest.raises(SolutionMarkerError, match=message):
        solution_regions(source.splitlines(), "nb, cell 3")


def test_assigned_names_of_a_solution():
    assert assigned_names("a = 1\nb, c = 2, 3\nd += 1\ndef f(): pass\nprint(a)") == \
        ["a", "b", "c", "d", "f"]
    assert assigned_names("return x") == []  # a fragment that does not parse


def test_student_notebook_clears_outputs_and_keeps_ids_and_tags(tmp_path):
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell(CODE, metadata={"tags": [SOLUTION_TAG]})
    solution.outputs = [nbformat.v4.new_output("stream", text="hi")]
    solution.execution_count = 3
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), solution]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    (written,) = write_student_copies([path], tmp_path / "student")
    cell = read(written).cells[1]
    assert cell.outputs == [] and cell.execution_count is None
    assert cell.id == solution.id and tags(cell) == [SOLUTION_TAG]
    assert BEGIN not in cell.source and "[3, 5]" not in cell.source
    assert nb.cells[1].outputs, "the instructor notebook itself must not be modified"


# ---------------------------------------------------------------- every course notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_and_check_cells_are_paired(path):
    cells = read(path).cells
    for index, cell in enumerate(cells):
        where = f"{path.name}, cell {index} (id {cell.get('id')})"
        has_markers = bool(solution_regions(cell.source.splitlines(), where))
        assert has_markers == (SOLUTION_TAG in tags(cell)), (
            f"{where}: a cell has solution markers exactly when it is tagged {SOLUTION_TAG!r}")
        if CHECK_TAG in tags(cell):
            previous = cells[index - 1] if index else None
            assert previous is not None and previous.cell_type == "code" and \
                SOLUTION_TAG in tags(previous), f"{where}: a check must follow a code solution"
            assert cell.cell_type == "code" and BEGIN not in cell.source
        if cell.cell_type == "code" and SOLUTION_TAG in tags(cell):
            following = cells[index + 1] if index + 1 < len(cells) else None
            assert following is not None and CHECK_TAG in tags(following), (
                f"{where}: a code solution must be followed by its check cell")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_exercises(path):
    """Exercises sit in an '## Exercises' section or beside what they practise (02b, 03.7)."""
    nb = read(path)
    solutions = [c for c in nb.cells if SOLUTION_TAG in tags(c)]
    assert len(solutions) >= 4, f"{path.name}: the course asks for 4-8 exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_holds_no_solution(path):
    nb = read(path)
    student = student_notebook(nb, path.name)
    assert len(student.cells) == len(nb.cells)
    for original, cell in zip(nb.cells, student.cells, strict=True):
        assert BEGIN not in cell.source and END not in cell.source
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if SOLUTION_TAG not in tags(original):
            assert cell.source == original.source
            continue
        outside = set(original.source.splitlines()) - set(solution_lines(original.source))
        leaked = [line for line in solution_lines(original.source)
                  if line.strip() and line not in outside and line in cell.source.splitlines()]
        assert not leaked, f"{path.name}, cell {original.id}: solution lines survive: {leaked}"
        if cell.cell_type == "markdown":
            assert TEXT_STUB in cell.source
        else:
            assert CODE_STUB in cell.source


def test_student_folder_holds_glossary_readme_and_what_the_checkers_read(tmp_path):
    from utils.course.student import write_support_files

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "GLOSSARY.md").write_text("# Glossary\n")
    repo = tmp_path / "repo"
    (repo / "utils" / "checkers").mkdir(parents=True)
    (repo / "utils" / "checkers" / "core.py").write_text("x = 1\n")
    (repo / "utils" / "student.py").write_text("# the generator stays out\n")
    out = tmp_path / "student"
    out.mkdir()
    write_support_files(notebooks, out, repo)
    assert (out / "GLOSSARY.md").read_text() == "# Glossary\n"
    assert "MNIST_ROOT" in (out / "README.md").read_text()
    assert (out / "utils" / "checkers" / "core.py").is_file()
    assert not (out / "utils" / "student.py").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_cells_carry_nbgrader_metadata(path):
    """Every solution and check cell has nbgrader's fields, so a course can autograde."""
    for cell in read(path).cells:
        if SOLUTION_TAG in tags(cell) or CHECK_TAG in tags(cell):
            meta = cell.metadata.get("nbgrader")
            assert meta, f"{path.name}, cell {cell.id}: no nbgrader metadata"
            assert set(meta) >= {"grade_id", "points", "solution", "grade", "locked"}
            assert meta["solution"] == (SOLUTION_TAG in tags(cell))


def test_points_per_notebook_match_the_instructors_guide():
    """docs/instructors.md's points table is the sum of the cells' nbgrader points."""
    import re

    text = (REPO_ROOT / "docs" / "instructors.md").read_text()
    for path in NOTEBOOKS:
        points = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in read(path).cells)
        number = path.name.split("_")[0]  # "02b" for 02b_first_principles
        row = re.search(rf"^\| {number} \|.*\| (\d+) \|$", text, re.MULTILINE)
        assert row and int(row.group(1)) == points, f"{path.name}: {points} points in the cells"


def test_time_table_of_the_instructors_guide_is_computed_from_the_notebooks():
    """docs/instructors.md's words, reading, exercise and estimate columns are what
    ``python -m utils.course.time_estimate`` computes (its headless-run column is a recorded
    duration, which changes with every execution, so it is not compared)."""
    import re

    from utils.course.time_estimate import estimate

    text = (REPO_ROOT / "docs" / "instructors.md").read_text()
    for path in NOTEBOOKS:
        e = estimate(path)
        row = re.search(rf"^\| {e.notebook} \| ([\d,]+) \| (\d+) \| (\d+) \| \d+ \| about (\d+) min",
                        text, re.MULTILINE)
        assert row, f"{path.name}: no row in the time table"
        assert row.groups() == (f"{e.words:,}", str(e.reading_minutes), str(e.exercise_minutes),
                                str(e.total_minutes)), \
            f"{path.name}: run `python -m utils.course.time_estimate` and copy its row"


def test_student_folder_may_not_lie_inside_what_it_copies(tmp_path, capsys):
    from utils.course.student import check_support_target, main

    (tmp_path / "results").mkdir()
    with pytest.raises(ValueError, match="inside .*results"):
        check_support_target(tmp_path / "results" / "student", tmp_path)
    check_support_target(tmp_path / "student", tmp_path)
    with pytest.raises(SystemExit):
        main(["--out", str(REPO_ROOT / "results" / "student")])
    assert "which the student folder copies" in capsys.readouterr().err
    assert not (REPO_ROOT / "results" / "student").exists()
