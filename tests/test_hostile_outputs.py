"""Hostile inputs to the commands that write files (utils.course.student, utils.experiments.robustness,
benchmarks.bench_speed, utils.atomic_files) and to the engine's own files: each test is a case where a
command used to write over what it did not make, or accept a file it should have refused.
Cases: tests/README.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from utils.atomic_files import atomic_write_text
from utils.course import student
from utils.experiments import robustness
from utils.recipe import TrainConfig
from utils.train import NumericPath, load_history, numeric_path_change


# ---------------------------------------------------------------- student copies
def notebook(path: Path, source: str, tags: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"),
                nbformat.v4.new_code_cell(source, metadata={"tags": tags})]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


SOLVED = "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"


def run_student(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        student.main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("out", ["{src}", "{src}/student", "{src}/../src"])
def test_student_never_writes_into_or_over_the_source_notebooks(tmp_path, capsys, out) -> None:
    source = notebook(tmp_path / "src" / "01_a.ipynb", SOLVED, ["solution"])
    before = source.read_text()
    err = run_student(["--notebooks", str(tmp_path / "src"), "--out",
                       out.format(src=tmp_path / "src")], capsys)
    assert "is the notebooks folder" in err
    assert source.read_text() == before and not (tmp_path / "src" / "student").exists()


def test_student_refuses_a_copy_that_would_land_on_a_source_through_a_link(tmp_path,
                                                                           capsys) -> None:
    source = notebook(tmp_path / "src" / "01_a.ipynb", SOLVED, ["solution"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "01_a.ipynb").symlink_to(source)
    err = run_student(["--notebooks", str(tmp_path / "src"), "--out", str(tmp_path / "out")],
                      capsys)
    assert "would overwrite an instructor notebook" in err and "answer = 42" in source.read_text()


@pytest.mark.parametrize("source", [
    "answer = 42",  # tagged, but no markers at all
    "### begin solution\nanswer = 42\n### end solution",  # markers in the wrong case
    "###BEGIN SOLUTION\nanswer = 42\n###END SOLUTION",  # no space
])
def test_student_refuses_a_solution_without_exact_markers(tmp_path, capsys, source) -> None:
    notebook(tmp_path / "src" / "01_a.ipynb", SOLVED, ["solution"])
    notebook(tmp_path / "src" / "02_b.ipynb", source, ["solution"])
    err = run_student(["--notebooks", str(tmp_path / "src"), "--out", str(tmp_path / "out")],
                      capsys)
    assert "02_b.ipynb, cell 1" in err
    assert not (tmp_path / "out").exists()  # nothing written, not even the good notebook


def test_student_out_that_is_a_file_is_refused_before_any_notebook_is_read(tmp_path,
                                                                           capsys) -> None:
    notebook(tmp_path / "src" / "01_a.ipynb", SOLVED, ["solution"])
    (tmp_path / "a_file").write_text("")
    err = run_student(["--notebooks", str(tmp_path / "src"), "--out", str(tmp_path / "a_file")],
                      capsys)
    assert "is a file, not a folder" in err


def test_an_unreadable_notebook_is_named_and_nothing_is_written(tmp_path, capsys) -> None:
    notebook(tmp_path / "src" / "01_a.ipynb", SOLVED, ["solution"])
    (tmp_path / "src" / "02_b.ipynb").write_text('{"cells": [')
    err = run_student(["--notebooks", str(tmp_path / "src"), "--out", str(tmp_path / "out")],
                      capsys)
    assert f"Cannot read notebook {tmp_path / 'src' / '02_b.ipynb'}" in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- robustness tables
def rows(model: str, total: int = 10_000) -> pd.DataFrame:
    return pd.DataFrame([{"model": model, "transform": t, "level": level, "correct": total,
                          "total": total, "accuracy": 1.0}
                         for t, level in (("rotation", 0.0), ("rotation", 10.0))],
                        columns=robustness.COLUMNS)


def test_limit_rows_are_never_merged_beside_full_size_rows(tmp_path, capsys) -> None:
    path = tmp_path / "rob.csv"
    robustness.write_results(rows("primary19k"), path)
    before = path.read_text()
    with pytest.raises(robustness.ResultsFileError, match="measured on 10,000 test images; "
                                                          "these are on 20"):
        robustness.write_results(rows("compact8k", total=20), path)
    assert path.read_text() == before
    with pytest.raises(SystemExit):  # and the command refuses it before loading anything
        robustness.parse_arguments(["--models", "primary19k", "--limit", "20", "--csv",
                                    str(path)])
    assert "these are on 20" in capsys.readouterr().err
    assert "(test split, 10,000 images)" in (tmp_path / "rob.md").read_text()
    small = tmp_path / "small.csv"
    robustness.write_results(rows("compact8k", total=20), small)
    assert "(test split, 20 images)" in small.with_suffix(".md").read_text()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda text: text.replace("1.0000\n", "nan\n", 1), r"line\(s\) 2: a missing or non-numeric"),
    (lambda text: text.replace("accuracy", "accuracy,extra").replace("\n", ",x\n")
     .replace("extra,x", "extra"), "has the columns"),
    (lambda text: "", "is not a readable CSV"),
])
def test_a_damaged_robustness_csv_is_named_not_merged(tmp_path, edit, message) -> None:
    path = tmp_path / "rob.csv"
    robustness.write_results(rows("primary19k"), path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(robustness.ResultsFileError, match=message) as error:
        robustness.merge_results(rows("compact8k"), path)
    assert str(path) in str(error.value)


def test_robustness_csv_that_is_a_folder_is_refused_before_work(tmp_path, capsys) -> None:
    (tmp_path / "rob.csv").mkdir()
    with pytest.raises(SystemExit):
        robustness.parse_arguments(["--models", "primary19k", "--csv", str(tmp_path / "rob.csv")])
    assert "is a folder, not a file" in capsys.readouterr().err


# ---------------------------------------------------------------- benchmark report
def test_bench_out_dir_that_is_a_file_is_refused_before_measuring(tmp_path, monkeypatch) -> None:
    from benchmarks import bench_speed

    monkeypatch.setattr(bench_speed, "run_benchmark",
                        lambda *a, **k: pytest.fail("measured before checking --out-dir"))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        bench_speed.main(["--quick", "--device", "cpu", "--out-dir", str(tmp_path / "a_file")])


# ---------------------------------------------------------------- output paths in general
def test_output_paths_name_what_is_in_the_way(tmp_path, monkeypatch) -> None:
    from utils.paths import OutputPathError, check_output_dir, check_output_file

    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(OutputPathError, match="--x .*a_file is a file, not a folder"):
        check_output_dir(tmp_path / "a_file", "--x")
    with pytest.raises(OutputPathError, match="cannot be created: .*a_file is a file"):
        check_output_dir(tmp_path / "a_file" / "deeper", "--x")
    with pytest.raises(OutputPathError, match="a_folder is a folder, not a file"):
        check_output_file(tmp_path / "a_folder", "--x")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # as a user without write access
    with pytest.raises(OutputPathError, match="is not writable by this user"):
        check_output_dir(tmp_path / "new", "--x")
    assert not (tmp_path / "new").exists()  # checking creates nothing


# ---------------------------------------------------------------- atomic writes
def test_a_live_writers_temp_file_is_never_deleted(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        in_progress = tmp_path / f".metrics.json.{other.pid}.abc123.tmp"
        in_progress.write_text("another process is writing this")
        atomic_write_text("{}", target)
        assert in_progress.exists() and target.read_text() == "{}"
    finally:
        other.kill()
        other.wait()


WRITER = """
import sys
from utils.atomic_files import atomic_write_text
failures = 0
for i in range(int(sys.argv[2])):
    try:
        atomic_write_text(f"{sys.argv[3]} {i}\\n" * 50, sys.argv[1])
    except OSError:
        failures += 1
sys.exit(1 if failures else 0)
"""


def test_two_processes_writing_one_file_never_fail(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(target), "400", name], env=env)
               for name in ("a", "b")]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    assert target.read_text().splitlines()[0].split()[0] in {"a", "b"}
    assert not list(tmp_path.glob("*.tmp"))


# ---------------------------------------------------------------- the engine's files
def test_the_resume_refusal_quotes_the_switches_asked_for_now() -> None:
    saved = {"epoch": 3, "config": {"amp": "auto", "channels_last": "auto"}}
    message = numeric_path_change(saved, NumericPath(True, True), NumericPath(False, False),
                                  TrainConfig(amp="off", channels_last="off"))
    assert "amp='off', channels_last='off' asked for now give fp32, NCHW" in message
    assert "amp='auto'" not in message
    assert "resume with amp='on', channels_last='on'" in message


@pytest.mark.parametrize(("content", "message"), [
    ("[{", "is not valid JSON"),
    (json.dumps([{"epoch": e, "train_loss": float("nan"), "train_acc": 0.5, "val_loss": 1.0,
                  "val_acc": 0.5, "lr": 0.1, "seconds": 1.0} for e in (1, 2)]),
     "train_loss that is not a finite"),
])
def test_a_damaged_history_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "history.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        load_history(path)
    assert str(path) in str(error.value)
