"""Student copies of the notebooks: solutions out, placeholders in, outputs cleared.

The instructor notebooks mark each exercise with nbgrader's syntax: the solution lines sit
between a line ``### BEGIN SOLUTION`` and a line ``### END SOLUTION`` (in code cells and in
markdown cells alike), the cell is tagged ``solution`` and the code cell after it, tagged
``check``, calls ``check("NN.k", answer)`` from ``utils.course.checkers``. ``python -m utils.course.student`` (``make
student``) writes ``student/0N_*.ipynb`` where each code solution becomes::

    answer_x = ...  # YOUR ANSWER HERE (one line per name the solution assigned)
    raise NotImplementedError("Your answer here: ...")

so running the cell says what to do, and running the check anyway says "no answer yet"
instead of a NameError. A markdown solution becomes ``YOUR ANSWER HERE``.

Why not nbgrader itself: it would add SQLAlchemy, alembic, Mako, RapidFuzz and the classic
notebook server to the environment for one preprocessor (its ``ClearSolutions``), and that
preprocessor also wants nbgrader's own cell metadata. Keeping its marker syntax means a
course can switch to nbgrader (e.g. for autograding) without touching the notebooks.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path

import nbformat

from utils.paths import REPO_ROOT, check_output_dir, is_within

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
SOLUTION_TAG = "solution"
CHECK_TAG = "check"
TEXT_STUB = "YOUR ANSWER HERE"
CODE_MESSAGE = "Your answer here: replace this line with your solution, then run the check below."
CODE_STUB = f"raise NotImplementedError({CODE_MESSAGE!r})"


class SolutionMarkerError(ValueError):
    """A cell's solution markers are unbalanced or nested; the message names the cell."""


# A line meant as a marker but not spelled exactly (case, spaces, hashes): its solution would
# be kept whole in the student copy, so it is refused instead of ignored.
NEAR_MARKER = re.compile(r"#+\s*(BEGIN|END)\s*SOLUTION\b", re.IGNORECASE)


def solution_regions(lines: Sequence[str], where: str = "cell") -> list[tuple[int, int]]:
    """``(begin, end)`` line indices of each marker pair (markers included), in order."""
    regions: list[tuple[int, int]] = []
    begin: int | None = None
    for index, line in enumerate(lines):
        marker = line.strip()
        if marker not in (BEGIN, END) and NEAR_MARKER.fullmatch(marker):
            raise SolutionMarkerError(f"{where}: line {index + 1} reads {marker!r}; a solution "
                                      f"marker must be exactly {BEGIN!r} or {END!r}.")
        if marker == BEGIN:
            if begin is not None:
                raise SolutionMarkerError(f"{where}: line {index + 1} opens a solution inside "
                                          f"the one opened on line {begin + 1}.")
            begin = index
        elif marker == END:
            if begin is None:
                raise SolutionMarkerError(f"{where}: line {index + 1} closes a solution that "
                                          "was never opened.")
            regions.append((begin, index))
            begin = None
    if begin is not None:
        raise SolutionMarkerError(f"{where}: the solution opened on line {begin + 1} is never "
                                  f"closed with {END!r}.")
    return regions


def assigned_names(code: str) -> list[str]:
    """Top-level names a solution assigns, in order (``answer_x = ...``, ``for``, ``def``...).

    Code that does not parse on its own (e.g. a fragment) assigns nothing we can name."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id not in names:
                    names.append(sub.id)
    return names


def code_placeholder(solution: str, indent: str = "") -> list[str]:
    """Stub lines for one code solution: its top-level names set to ... (Ellipsis: None can be a valid answer), then a raise."""
    lines = []
    if not indent:  # names inside a function body are local: nothing to pre-assign
        lines = [f"{name} = ...  # {TEXT_STUB}" for name in assigned_names(solution)]
    return [indent + line for line in [*lines, CODE_STUB]]


def clear_solutions(source: str, cell_type: str, where: str = "cell") -> tuple[str, bool]:
    """``source`` with every marked solution replaced by its placeholder; and whether any was."""
    lines = source.splitlines()
    regions = solution_regions(lines, where)
    if not regions:
        return source, False
    kept: list[str] = []
    cursor = 0
    for begin, end in regions:
        kept.extend(lines[cursor:begin])
        if cell_type == "code":
            indent = re.match(r"\s*", lines[begin]).group(0)
            kept.extend(code_placeholder("\n".join(lines[begin + 1 : end]), indent))
        else:
            kept.append(TEXT_STUB)
        cursor = end + 1
    kept.extend(lines[cursor:])
    return "\n".join(kept), True


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``nb`` with solutions replaced, outputs and execution counts cleared."""
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        if cell.cell_type in ("code", "markdown"):
            cell.source, cleared = clear_solutions(cell.source, cell.cell_type, where)
            if not cleared and SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
                raise SolutionMarkerError(
                    f"{where} is tagged {SOLUTION_TAG!r} but has no {BEGIN!r} ... {END!r} "
                    "lines, so its student copy would keep the whole solution. Mark the "
                    "solution, or remove the tag.")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    student.metadata.pop("papermill", None)
    return student


def check_out_dir(out_dir: Path, notebooks_dir: Path, notebooks: Sequence[Path]) -> None:
    """The student copies must never land on the instructor notebooks: ``out_dir`` may not be
    the notebooks folder or lie inside it, and no copy may resolve to a source notebook (a
    link). Also a folder that can be written, checked before any notebook is read."""
    if is_within(out_dir, notebooks_dir):
        raise ValueError(f"--out {out_dir} is the notebooks folder {notebooks_dir} or inside it: "
                         "the student copies would replace or sit among the instructor "
                         "notebooks. Pick a folder outside it (default: student/).")
    sources = {path.resolve() for path in notebooks}
    clashes = [str(out_dir / p.name) for p in notebooks if (out_dir / p.name).resolve() in sources]
    if clashes:
        raise ValueError(f"--out {out_dir}: {', '.join(clashes)} would overwrite an instructor "
                         "notebook. Pick another folder.")
    check_output_dir(out_dir, "--out")


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A notebook, or an error naming the file (not JSON, not a notebook)."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several kinds (JSON, validation, reader)
        raise ValueError(f"Cannot read notebook {path}: {exc}. Restore it (e.g. from git).") from None


def write_student_copies(notebooks: Sequence[Path], out_dir: Path) -> list[Path]:
    """Write the student copy of each notebook into ``out_dir`` (same file names). Every copy
    is made first, so a bad notebook stops the command before any file is written."""
    copies = [(out_dir / path.name, student_notebook(read_notebook(path), path.name))
              for path in notebooks]
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, student in copies:
        nbformat.write(student, target)
    return [target for target, _ in copies]


DATA_README = """# Notebooks of the course: student copy

Run the notebooks in order (01 to 07) from this folder, e.g. `jupyter lab`. Each exercise has an
answer cell (it raises "Your answer here" until you replace it) and a check cell after it:
`check("NN.k", answer)` says what is wrong without giving the answer away.

## Data

The notebooks need MNIST: the four files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
`t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` in `<root>/MNIST/raw/`. Point the
environment variable `MNIST_ROOT` at `<root>` (`export MNIST_ROOT=/path/to/data`); without it
the notebooks look in `data/` inside this folder and download the files there if they can.

`utils/` holds the code the notebooks and the checkers import, and `results/` the committed runs,
checkpoints and tables they read; `GLOSSARY.md` explains the terms the notebooks link to.
"""
# What the notebooks and checkers read besides themselves: copied so the folder runs as is.
SUPPORT = ("utils", "results")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "student.py")


def check_support_target(out_dir: Path, repo_root: Path) -> None:
    """The folder may not lie inside a folder it copies (it would copy itself into itself)."""
    for name in SUPPORT:
        if is_within(out_dir, repo_root / name):
            raise ValueError(f"--out {out_dir} is inside {repo_root / name}, which the student "
                             "folder copies. Pick a folder outside it (default: student/).")


def write_support_files(notebooks_dir: Path, out_dir: Path, repo_root: Path) -> list[Path]:
    """The glossary, a data README, and the code and results the checkers need."""
    written = []
    glossary = notebooks_dir / "GLOSSARY.md"
    if glossary.is_file():
        written.append(Path(shutil.copy2(glossary, out_dir / glossary.name)))
    readme = out_dir / "README.md"
    readme.write_text(DATA_README)
    written.append(readme)
    for name in SUPPORT:
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(source, out_dir / name, ignore=IGNORED, dirs_exist_ok=True)
            written.append(out_dir / name)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=REPO_ROOT / "notebooks",
                        help="folder holding the instructor notebooks 0*.ipynb")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student",
                        help="folder for the student copies (git-ignored)")
    args = parser.parse_args(argv)
    notebooks = sorted(args.notebooks.glob("0*.ipynb"))
    if not notebooks:
        parser.error(f"No notebooks 0*.ipynb under {args.notebooks}.")
    try:
        check_out_dir(args.out, args.notebooks, notebooks)
        check_support_target(args.out, REPO_ROOT)
        written = write_student_copies(notebooks, args.out)
        written += write_support_files(args.notebooks, args.out, REPO_ROOT)
    except ValueError as exc:  # SolutionMarkerError and OutputPathError too
        parser.error(str(exc))
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
