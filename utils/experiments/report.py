"""Keep the generated sections of the README and docs/ identical to the reports the code wrote.

``python -m utils.experiments.report`` copies each report in ``results/`` between the
``<!-- name:start -->`` / ``<!-- name:end -->`` markers of the document ``SECTIONS`` assigns it
to: the sweep table (``results/sweep.md``) into ``README.md``, the speed benchmarks
(``results/bench_cuda.md``, ``results/bench_cpu.md``) into ``docs/speed.md``.
``tests/test_report.py`` fails when a document drifts from those files. A report whose table
has only a header (a sweep or benchmark that found nothing) is refused, naming the file and the
command that regenerates it, so an empty table never replaces a document's numbers.
"""

from __future__ import annotations

import argparse
import re
from itertools import takewhile
from pathlib import Path

from utils.atomic_files import atomic_write_text
from utils.paths import REPO_ROOT, RESULTS_DIR

# document (relative to the repository root) -> section name -> report files in results/, in order
SECTIONS: dict[str, dict[str, list[str]]] = {
    "README.md": {"sweep-table": ["sweep.md"]},
    "docs/speed.md": {"bench": ["bench_cuda.md", "bench_cpu.md"]},
}
# report file -> the command that writes it (named when the report cannot be copied)
REGENERATE: dict[str, str] = {
    "sweep.md": "python -m utils.experiments.sweep --tables-only",
    "bench_cuda.md": "python -m benchmarks.bench_speed --device cuda",
    "bench_cpu.md": "python -m benchmarks.bench_speed --device cpu",
}
TABLE_SEPARATOR = re.compile(r"\|(\s*:?-+:?\s*\|)+")


class EmptyReportError(ValueError):
    """A report holds no table, or a table with only its header: nothing to copy."""


def table_row_counts(markdown: str) -> list[int]:
    """The number of rows below each markdown table's header (one count per table)."""
    lines = [line.strip() for line in markdown.splitlines()]
    return [len(list(takewhile(lambda line: line.startswith("|"), lines[i + 1:])))
            for i, line in enumerate(lines)
            if i > 0 and lines[i - 1].startswith("|") and TABLE_SEPARATOR.fullmatch(line)]


def require_rows(path: Path) -> None:
    """Refuse a report with no table or a header-only table, naming it and its command."""
    text = path.read_text()
    has_table = any(line.lstrip().startswith("|") for line in text.splitlines())
    if has_table and all(table_row_counts(text)):
        return
    what = "a table with only a header (no rows)" if has_table else "no table"
    command = REGENERATE.get(path.name, "the command that wrote it")
    raise EmptyReportError(f"{path} holds {what}: copying it would replace the document's "
                           f"numbers with nothing. Regenerate it with `{command}` first.")


def marked_section(text: str, name: str) -> str:
    """The text between a section's markers (stripped); a clear error if they are missing."""
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->\n(.*?)<!-- {re.escape(name)}:end -->",
                         re.S)
    match = pattern.search(text)
    if match is None:
        raise ValueError(
            f"the document has no '<!-- {name}:start -->' ... '<!-- {name}:end -->' markers: add "
            "them where the section should go."
        )
    return match.group(1).strip()


def replace_marked_section(text: str, name: str, content: str) -> str:
    marked_section(text, name)  # raises if the markers are missing
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}{content.strip()}\n{end}{tail}"


def section_sources(results_dir: Path, sections: dict[str, list[str]]) -> dict[str, str]:
    """Section name -> the content it should hold (sections whose files are absent are skipped)."""
    sources = {}
    for name, candidates in sections.items():
        present = [results_dir / c for c in candidates if (results_dir / c).is_file()]
        for path in present:
            require_rows(path)
        parts = [path.read_text().strip() for path in present]
        if parts:
            sources[name] = demote_headings("\n\n".join(parts), levels=2)
    return sources


def demote_headings(markdown: str, levels: int) -> str:
    """A report's ``# Title`` becomes ``### Title`` so it nests under a document's section."""
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", markdown,
                  flags=re.M)


def update_document(document: Path, results_dir: Path, sections: dict[str, list[str]]) -> None:
    """Rewrite ``document``'s marked sections from the reports in ``results_dir``."""
    text = document.read_text()
    for name, content in section_sources(results_dir, sections).items():
        text = replace_marked_section(text, name, content)
    atomic_write_text(text, document)


def stale_sections(repo_root: Path = REPO_ROOT, results_dir: Path = RESULTS_DIR,
                   documents: dict[str, dict[str, list[str]]] = SECTIONS) -> list[str]:
    """``document: section`` for every marked section that differs from its report."""
    stale = []
    for relative, sections in documents.items():
        text = (repo_root / relative).read_text()
        for name, content in section_sources(results_dir, sections).items():
            if marked_section(text, name) != content:
                stale.append(f"{relative}: {name}")
    return stale


def report_files(documents: dict[str, dict[str, list[str]]] = SECTIONS) -> list[str]:
    return sorted({f for sections in documents.values() for fs in sections.values() for f in fs})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo-root", type=Path, default=REPO_ROOT,
                        help="the folder holding the documents: "
                             f"{', '.join(SECTIONS)} (default: this repository)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where the reports are read from (default: results/)")
    args = parser.parse_args(argv)
    missing = [d for d in SECTIONS if not (args.repo_root / d).is_file()]
    if missing:
        parser.error(f"--repo-root {args.repo_root}: no such file {', '.join(missing)}.")
    if not args.results_dir.is_dir():
        parser.error(f"--results-dir {args.results_dir}: no such folder (it should hold "
                     f"{', '.join(report_files())}).")
    try:  # every report is checked before any document is written
        sources = [section_sources(args.results_dir, s) for s in SECTIONS.values()]
    except EmptyReportError as exc:
        parser.error(str(exc))
    if not any(sources):
        parser.error(f"--results-dir {args.results_dir} holds none of the report files; "
                     "run `make sweep` / `make bench` first.")
    for relative, sections in SECTIONS.items():
        update_document(args.repo_root / relative, args.results_dir, sections)
    print(f"Updated {', '.join(SECTIONS)} from {args.results_dir.name}/")


if __name__ == "__main__":
    main()
