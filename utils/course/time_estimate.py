"""Student time per notebook, estimated from the notebooks themselves (docs/instructors.md)::

    python -m utils.course.time_estimate          # prints the table's rows

Not measured with students: reading at ``WORDS_PER_MINUTE``, a fixed time per exercise by its
points, and the headless run papermill recorded in the notebook's metadata. Computing the rows
from the notebooks keeps the guide's table true whenever a notebook's text or exercises change
(``tests/test_student.py`` compares them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.paths import REPO_ROOT

WORDS_PER_MINUTE = 150  # slower than prose reading, to leave time for the figures and tables
MINUTES_BY_POINTS = {1: 5, 2: 10, 3: 20}  # by hand or predict-then-run; code or written; design


@dataclass(frozen=True)
class TimeEstimate:
    notebook: str  # "05", "02b"
    words: int
    reading_minutes: int
    exercise_minutes: int
    run_seconds: int

    @property
    def total_minutes(self) -> int:
        """Rounded to 5 minutes: the parts are estimates, not measurements."""
        minutes = self.reading_minutes + self.exercise_minutes + self.run_seconds / 60
        return 5 * round(minutes / 5)


def markdown_words(cells: list[dict[str, Any]]) -> int:
    return sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")


def exercise_points(cells: list[dict[str, Any]]) -> list[int]:
    """The points of each graded exercise (its check cell's nbgrader metadata)."""
    return [c["metadata"]["nbgrader"]["points"] for c in cells
            if c["metadata"].get("nbgrader", {}).get("points", 0) > 0]


def estimate(path: Path) -> TimeEstimate:
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    points = exercise_points(cells)
    unknown = sorted(set(points) - set(MINUTES_BY_POINTS))
    if unknown:
        raise ValueError(f"{path.name}: an exercise worth {unknown[0]} points has no time in "
                         f"MINUTES_BY_POINTS ({MINUTES_BY_POINTS}); add one.")
    duration = notebook["metadata"].get("papermill", {}).get("duration")
    if duration is None:
        raise ValueError(f"{path.name} has no papermill duration in its metadata: execute it "
                         "with papermill first (make notebooks).")
    words = markdown_words(cells)
    return TimeEstimate(notebook=path.name.split("_")[0], words=words,
                        reading_minutes=round(words / WORDS_PER_MINUTE),
                        exercise_minutes=sum(MINUTES_BY_POINTS[p] for p in points),
                        run_seconds=round(duration))


def table_rows(notebooks_dir: Path = REPO_ROOT / "notebooks") -> list[str]:
    """``| 05 | 4,784 | 32 | 70 | 13 | about 100 min`` per notebook: the guide's columns."""
    return [f"| {e.notebook} | {e.words:,} | {e.reading_minutes} | {e.exercise_minutes} | "
            f"{e.run_seconds} | about {e.total_minutes} min"
            for e in map(estimate, sorted(notebooks_dir.glob("[0-9]*.ipynb")))]


if __name__ == "__main__":
    print("\n".join(table_rows()))
