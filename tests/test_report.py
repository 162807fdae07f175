"""The README's result sections must be exactly the tables the code wrote."""

import json

import pytest

from utils.paths import REPO_ROOT, RESULTS_DIR
from utils.report import marked_section, replace_marked_section, section_sources, update_readme


def test_replace_then_read_back_round_trips():
    text = "intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n"
    new = replace_marked_section(text, "t", "| a |\n| 1 |")
    assert marked_section(new, "t") == "| a |\n| 1 |"
    assert new.startswith("intro\n") and new.endswith("outro\n")


def test_missing_markers_give_a_clear_error():
    with pytest.raises(ValueError, match="no '<!-- t:start -->'"):
        marked_section("no markers here", "t")


def test_update_readme_copies_result_files(tmp_path):
    (tmp_path / "sweep.md").write_text("| m | 99.6 |\n")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- sweep-table:start -->\n<!-- sweep-table:end -->\n"
                      "<!-- bench:start -->\nkeep\n<!-- bench:end -->\n")
    update_readme(readme, tmp_path)
    text = readme.read_text()
    assert marked_section(text, "sweep-table") == "| m | 99.6 |"
    assert marked_section(text, "bench") == "keep"  # no bench file: section left alone


def test_committed_readme_matches_committed_results():
    readme = (REPO_ROOT / "README.md").read_text()
    for name, content in section_sources(RESULTS_DIR).items():
        assert marked_section(readme, name) == content, (
            f"README section '{name}' is out of date: run `python -m utils.report`."
        )


def test_demote_headings_nests_a_report_under_a_section():
    from utils.report import demote_headings

    assert demote_headings("# A\ntext #1\n## B", levels=2) == "### A\ntext #1\n#### B"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--results-dir", "no/such/folder"], "no such folder"),
        (["--readme", "no/such/README.md"], "no such file"),
    ],
)
def test_bad_paths_fail_instead_of_claiming_an_update(argv, message, tmp_path, capsys):
    from utils.report import main

    with pytest.raises(SystemExit) as exited:
        main([a if not a.startswith("no/") else str(tmp_path / a) for a in argv])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Updated" not in captured.out


def test_an_empty_results_folder_is_refused(tmp_path, capsys):
    from utils.report import main

    readme = tmp_path / "README.md"
    readme.write_text("<!-- bench:start -->\nkeep\n<!-- bench:end -->\n")
    with pytest.raises(SystemExit):
        main(["--readme", str(readme), "--results-dir", str(tmp_path)])
    assert "none of the report files" in capsys.readouterr().err


def test_readme_quotes_the_bf16_cpu_benchmark_as_measured():
    """The bf16-CPU figures are prose, not a copied section, so check them against the reports."""
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
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    missing = [figure for figure in expected if figure not in readme]
    assert not missing, f"README's bf16 CPU figures differ from results/bench_cpu_bf16: {missing}"
