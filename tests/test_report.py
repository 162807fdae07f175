"""The README's result sections must be exactly the tables the code wrote."""

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
