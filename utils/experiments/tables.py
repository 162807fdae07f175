"""The one writer of the experiments' markdown tables, so every results table has one shape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """The lines of a markdown table: a header, its separator, one line per row."""
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(cell) for cell in cells) + " |"

    return [line(header), "|" + " --- |" * len(header), *(line(row) for row in rows)]
