"""Keep the README's result sections identical to the tables the code produced.

``python -m utils.report`` copies ``results/sweep.md`` and ``results/bench_cpu.md`` (or
``bench_cuda.md``) between the ``<!-- name:start -->`` / ``<!-- name:end -->`` markers in
``README.md``; ``tests/test_report.py`` fails when the README drifts from those files.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .io import atomic_write_text
from .paths import REPO_ROOT, RESULTS_DIR

README_SECTIONS = {"sweep-table": ["sweep.md"], "bench": ["bench_cuda.md", "bench_cpu.md"]}


def marked_section(text: str, name: str) -> str:
    """The text between a section's markers (stripped); a clear error if they are missing."""
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->\n(.*?)<!-- {re.escape(name)}:end -->",
                         re.S)
    match = pattern.search(text)
    if match is None:
        raise ValueError(
            f"README has no '<!-- {name}:start -->' ... '<!-- {name}:end -->' markers: add them "
            "where the section should go."
        )
    return match.group(1).strip()


def replace_marked_section(text: str, name: str, content: str) -> str:
    marked_section(text, name)  # raises if the markers are missing
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}{content.strip()}\n{end}{tail}"


def section_sources(results_dir: Path) -> dict[str, str]:
    """Section name -> the content it should hold (sections whose files are absent are skipped)."""
    sources = {}
    for name, candidates in README_SECTIONS.items():
        parts = [(results_dir / c).read_text().strip() for c in candidates
                 if (results_dir / c).is_file()]
        if parts:
            sources[name] = demote_headings("\n\n".join(parts), levels=2)
    return sources


def demote_headings(markdown: str, levels: int) -> str:
    """A report's ``# Title`` becomes ``### Title`` so it nests under a README section."""
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", markdown,
                  flags=re.M)


def update_readme(readme: Path = REPO_ROOT / "README.md", results_dir: Path = RESULTS_DIR) -> None:
    text = readme.read_text()
    for name, content in section_sources(results_dir).items():
        text = replace_marked_section(text, name, content)
    atomic_write_text(text, readme)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md",
                        help="the file whose marked sections are replaced (default: README.md)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where sweep.md and bench_*.md are read from (default: results/)")
    args = parser.parse_args(argv)
    if not args.readme.is_file():
        parser.error(f"--readme {args.readme}: no such file.")
    if not args.results_dir.is_dir():
        parser.error(f"--results-dir {args.results_dir}: no such folder (it should hold "
                     f"{', '.join(sorted({f for fs in README_SECTIONS.values() for f in fs}))}).")
    if not section_sources(args.results_dir):
        parser.error(f"--results-dir {args.results_dir} holds none of the report files; "
                     "run `make sweep` / `make bench` first.")
    update_readme(args.readme, args.results_dir)
    print(f"Updated {args.readme.name} from {args.results_dir.name}/")


if __name__ == "__main__":
    main()
