"""The generated sections of the README and docs/ must be exactly the tables the code wrote."""

import json

import pytest

from utils.experiments.report import (
    SECTIONS,
    EmptyReportError,
    demote_headings,
    main,
    marked_section,
    replace_marked_section,
    stale_sections,
    table_row_counts,
    update_document,
)
from utils.paths import REPO_ROOT, RESULTS_DIR

SPEED_DOC = REPO_ROOT / "docs" / "speed.md"


def squash(text: str) -> str:
    return " ".join(text.split())


def test_replace_then_read_back_round_trips():
    text = "intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n"
    new = replace_marked_section(text, "t", "| a |\n| 1 |")
    assert marked_section(new, "t") == "| a |\n| 1 |"
    assert new.startswith("intro\n") and new.endswith("outro\n")


def test_missing_markers_give_a_clear_error():
    with pytest.raises(ValueError, match="no '<!-- t:start -->'"):
        marked_section("no markers here", "t")


def test_update_document_copies_result_files(tmp_path):
    (tmp_path / "sweep.md").write_text("| m | 99.6 |\n")
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- sweep-table:start -->\n<!-- sweep-table:end -->\n"
                   "<!-- bench:start -->\nkeep\n<!-- bench:end -->\n")
    update_document(doc, tmp_path, {"sweep-table": ["sweep.md"], "bench": ["bench_cpu.md"]})
    text = doc.read_text()
    assert marked_section(text, "sweep-table") == "| m | 99.6 |"
    assert marked_section(text, "bench") == "keep"  # no bench file: section left alone


def test_each_generated_section_has_its_place():
    """The sweep table stays in the README; the measurement record lives in docs/."""
    assert SECTIONS["README.md"] == {"sweep-table": ["sweep.md"]}
    assert SECTIONS["docs/speed.md"]["bench"] == ["bench_cuda.md", "bench_cpu.md"]
    for relative, sections in SECTIONS.items():
        text = (REPO_ROOT / relative).read_text()
        for name in sections:
            marked_section(text, name)  # raises if the markers are missing


def test_committed_documents_match_committed_results():
    stale = stale_sections()
    assert not stale, f"out of date: {stale}; run `python -m utils.experiments.report`."


def test_a_changed_digit_in_a_document_is_caught(tmp_path):
    """The check above can fail: one digit changed in a copied table is reported."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "sweep.md").write_text("| primary19k | 99.61 |\n")
    (tmp_path / "README.md").write_text(
        "<!-- sweep-table:start -->\n| primary19k | 99.61 |\n<!-- sweep-table:end -->\n")
    documents = {"README.md": {"sweep-table": ["sweep.md"]}}
    assert stale_sections(tmp_path, tmp_path / "results", documents) == []
    (tmp_path / "README.md").write_text(
        "<!-- sweep-table:start -->\n| primary19k | 99.62 |\n<!-- sweep-table:end -->\n")
    assert stale_sections(tmp_path, tmp_path / "results", documents) == ["README.md: sweep-table"]


def test_demote_headings_nests_a_report_under_a_section():
    assert demote_headings("# A\ntext #1\n## B", levels=2) == "### A\ntext #1\n#### B"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--results-dir", "no/such/folder"], "no such folder"),
        (["--repo-root", "no/such/repo"], "no such file"),
    ],
)
def test_bad_paths_fail_instead_of_claiming_an_update(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main([a if not a.startswith("no/") else str(tmp_path / a) for a in argv])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Updated" not in captured.out


def test_an_empty_results_folder_is_refused(tmp_path, capsys):
    for relative, sections in SECTIONS.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("".join(f"<!-- {n}:start -->\nkeep\n<!-- {n}:end -->\n"
                                                 for n in sections))
    (tmp_path / "results").mkdir()
    with pytest.raises(SystemExit):
        main(["--repo-root", str(tmp_path), "--results-dir", str(tmp_path / "results")])
    assert "none of the report files" in capsys.readouterr().err


def _documents(repo_root, content="old"):
    """Every document with its marked sections holding ``content``."""
    for relative, sections in SECTIONS.items():
        (repo_root / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo_root / relative).write_text("".join(
            f"<!-- {n}:start -->\n{content}\n<!-- {n}:end -->\n" for n in sections))


HEADER = "| model | params |\n| --- | --- |\n"


def test_table_row_counts_counts_rows_below_each_header():
    assert table_row_counts(HEADER) == [0]
    assert table_row_counts(f"# t\n{HEADER}| a | 1 |\n\ntext\n{HEADER}| b | 2 |\n| c | 3 |") == [1, 2]
    assert table_row_counts("prose only, | a pipe |") == []


@pytest.mark.parametrize(("files", "named", "command"), [
    ({"sweep.md": HEADER}, "sweep.md", "python -m utils.experiments.sweep --tables-only"),
    ({"sweep.md": HEADER + "| m | 1 |\n", "bench_cpu.md": f"# Bench\n{HEADER}| m | 1 |\n\n{HEADER}"},
     "bench_cpu.md", "python -m benchmarks.bench_speed --device cpu"),
    ({"sweep.md": "\n"}, "sweep.md", "python -m utils.experiments.sweep --tables-only"),
])
def test_a_header_only_report_is_never_copied(tmp_path, capsys, files, named, command):
    """A sweep that found no run wrote a header-only sweep.md; copying it emptied the README."""
    _documents(tmp_path, "| m | 99.61 |")
    (tmp_path / "results").mkdir()
    for name, text in files.items():
        (tmp_path / "results" / name).write_text(text)
    with pytest.raises(SystemExit) as exited:
        main(["--repo-root", str(tmp_path), "--results-dir", str(tmp_path / "results")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "results" / named) in err and f"`{command}`" in err
    for relative in SECTIONS:  # nothing was written, not even the documents before it
        assert "| m | 99.61 |" in (tmp_path / relative).read_text()
    with pytest.raises(EmptyReportError, match=named):
        update_document(tmp_path / "README.md", tmp_path / "results",
                        {"sweep-table": ["sweep.md"], "bench": ["bench_cpu.md"]})


def test_main_updates_every_document(tmp_path, capsys):
    for relative, sections in SECTIONS.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("".join(f"<!-- {n}:start -->\nold\n<!-- {n}:end -->\n"
                                                 for n in sections))
    main(["--repo-root", str(tmp_path), "--results-dir", str(RESULTS_DIR)])
    assert stale_sections(tmp_path, RESULTS_DIR) == []
    assert "Updated README.md, docs/speed.md" in capsys.readouterr().out


def bf16_cpu_benchmark_figures() -> list[str]:
    """The bf16-CPU figures as the prose writes them, from the JSON reports."""
    folder = RESULTS_DIR / "bench_cpu_bf16"
    engine = {row["batch_size"]: row for row in
              json.loads((folder / "tables" / "bench_cpu.json").read_text())["engine"]}
    expected = [f"{engine[128]['fp32_ips']:,.0f} images/s in fp32",
                f"{engine[128]['bf16 channels_last_ips']:,.0f} with bf16",
                f"{engine[128]['bf16 channels_last_ips'] / engine[128]['fp32_ips']:.2f}x fp32",
                f"{engine[512]['bf16 channels_last_ips'] / engine[512]['fp32_ips']:.2f}x",
                f"{engine[128]['batch_step_ips']:,.0f} images/s"]
    for seed in (0, 2):
        race = json.loads((folder / f"race_seed{seed}" / "bench_cpu.json").read_text())
        expected += [f"{side['train_seconds_to_target']:.1f} s"
                     for side in race["time_to_accuracy"][1:]]
    return expected


def test_speed_doc_quotes_the_bf16_cpu_benchmark_as_measured():
    """The bf16-CPU figures are prose, not a copied section, so check them against the reports."""
    doc = squash(SPEED_DOC.read_text())
    missing = [figure for figure in bf16_cpu_benchmark_figures() if figure not in doc]
    assert not missing, f"docs/speed.md's bf16 CPU figures differ from results/bench_cpu_bf16: {missing}"


def test_readme_quotes_the_fast_path_ratio_as_measured():
    """The README's one speed figure is the engine ratio at batch 128, as measured."""
    ratio = bf16_cpu_benchmark_figures()[2]  # "2.47x fp32"
    assert ratio in squash((REPO_ROOT / "README.md").read_text()), (
        f"README should quote the measured fast-path ratio '{ratio}' (results/bench_cpu_bf16)")
