"""Answer checkers for the notebooks' exercises.

A check says precisely what is wrong (which entry, what was given, and for one wrong entry of
a table what was expected) but never prints the whole answer, so a student can fix one thing
at a time. Every checker raises ``AnswerError`` on a wrong answer and prints one line on a
right one; an unanswered exercise (``None`` or ``...``) gets its own message.

Notebook-specific checkers live below the shared core, one section per notebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

UNANSWERED = (None, ...)


class AnswerError(AssertionError):
    """A student's answer is wrong or missing; the message says what to look at."""


def require_answer(given: Any, exercise: str) -> None:
    """Fail with a clear message while the exercise still holds its placeholder."""
    if any(given is marker for marker in UNANSWERED):
        raise AnswerError(
            f"{exercise}: no answer yet. Replace the placeholder (None or ...) with your answer "
            "and run the cell again."
        )


def passed(exercise: str, detail: str = "") -> None:
    print(f"{exercise}: correct{' - ' + detail if detail else ''}.")


def _close(given: float, expected: float, rel_tol: float, abs_tol: float) -> bool:
    return math.isclose(float(given), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)


def check_number(given: Any, expected: float, exercise: str, what: str,
                 rel_tol: float = 0.0, abs_tol: float = 0.0) -> None:
    """One number: says whether the answer is too large or too small, not what it should be."""
    require_answer(given, exercise)
    if isinstance(given, bool) or not isinstance(given, int | float):
        raise AnswerError(f"{exercise}: {what} should be a number, got {type(given).__name__}.")
    if not _close(given, expected, rel_tol, abs_tol):
        direction = "too large" if given > expected else "too small"
        raise AnswerError(f"{exercise}: {what} = {given!r} is {direction}.")
    passed(exercise)


def check_choice(given: Any, expected: Any, exercise: str, options: Sequence[Any]) -> None:
    """A multiple-choice answer: names the valid options, never the right one."""
    require_answer(given, exercise)
    if given not in options:
        raise AnswerError(f"{exercise}: {given!r} is not one of the options {list(options)}.")
    if given != expected:
        raise AnswerError(f"{exercise}: {given!r} is not right; reread the question and retry.")
    passed(exercise)


def check_table(given: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]],
                exercise: str, key: str, columns: Sequence[str],
                rel_tol: float = 0.0, abs_tol: float = 0.0) -> None:
    """Rows of numbers (e.g. a receptive-field table), compared row by row, column by column.

    Reports the first wrong cell only (row name, column, given vs expected) and how many
    cells are wrong in all: enough to find the slip, not enough to copy the table.
    """
    require_answer(given, exercise)
    if len(given) != len(expected):
        raise AnswerError(f"{exercise}: {len(given)} rows given, the table has {len(expected)}.")
    wrong: list[str] = []
    for index, (row, want) in enumerate(zip(given, expected, strict=True)):
        name = want.get(key, index)
        for column in columns:
            if column not in row:
                raise AnswerError(f"{exercise}: row {index} ({name}) has no {column!r} entry.")
            value = row[column]
            if any(value is marker for marker in UNANSWERED):
                raise AnswerError(f"{exercise}: row {index} ({name}), {column!r} is not filled in.")
            if not _close(value, want[column], rel_tol, abs_tol):
                wrong.append(f"row {index} ({name}), {column!r}: you gave {value!r}, "
                             f"expected {want[column]!r}")
    if wrong:
        more = f" ({len(wrong) - 1} more wrong entries after it)" if len(wrong) > 1 else ""
        raise AnswerError(f"{exercise}: first wrong entry is {wrong[0]}{more}.")
    passed(exercise, f"all {len(expected)} rows")


# ---- notebook 06: look inside the trained model
def check_cam_cell_field(given: Any, arch: str = "primary19k") -> None:
    """06.1: the receptive field (pixels) of one cell of the map a CAM is made of."""
    from .inspect import gap_input_geometry
    from .models import build_model

    expected = gap_input_geometry(build_model(arch)).rf
    check_number(given, expected, "Exercise 06.1", f"the receptive field of one {arch} CAM cell")


def check_most_robust(given: Any, curves: Any, transform: str, level: float) -> None:
    """06.2: which model is most accurate at one level of a transform (from the curves)."""
    rows = curves[(curves["transform"] == transform) & (curves["level"] == level)]
    if rows.empty:
        raise ValueError(f"The curves have no {transform} level {level}.")
    expected = rows.sort_values(["accuracy", "model"], ascending=[False, True]).iloc[0]["model"]
    check_choice(given, expected, "Exercise 06.2", options=sorted(rows["model"]))


def check_breaking_point(given: Any, curves: Any, model: str, transform: str,
                         threshold: float) -> None:
    """06.3: where a model first falls below an accuracy threshold (``None`` is a valid
    answer there, so the placeholder is ``...`` only)."""
    from .robustness import breaking_point

    if given is ...:
        require_answer(given, "Exercise 06.3")
    expected = breaking_point(curves, model, transform, threshold)
    if expected is None or given is None:
        if given is not expected:
            raise AnswerError(f"Exercise 06.3: {given!r} is not right; check every level.")
        passed("Exercise 06.3")
        return
    check_number(given, expected, "Exercise 06.3", f"the {transform} level", abs_tol=1e-9)


def check_topk_overlap(given: Any, map_a: Any, map_b: Any, k: int) -> None:
    """06.4: the top-k overlap of two attribution maps, computed with utils.inspect."""
    from .inspect import topk_overlap

    check_number(given, topk_overlap(map_a, map_b, k), "Exercise 06.4",
                 f"the top-{k} overlap", abs_tol=1e-9)


def check_thickness_repair(given: Any, model: Any, images: Any, labels: Any, damage: int,
                           candidates: Sequence[int]) -> dict[int, float]:
    """06.5 (design, on validation only): after thickening the strokes by ``damage`` steps,
    which repair (erosion < 0, dilation > 0, in ``candidates``) should run before the model?
    Passes within 0.2 points of the best candidate's validation accuracy; returns them all."""
    from .robustness import pipeline_accuracy

    require_answer(given, "Exercise 06.5")
    if isinstance(given, bool) or not isinstance(given, int) or given not in candidates:
        raise AnswerError(f"Exercise 06.5: choose a whole number of steps from "
                          f"{list(candidates)}, got {given!r}.")
    accuracies = {k: pipeline_accuracy(model, images, labels, [("thickness", damage),
                                                                ("thickness", k)])
                  for k in candidates}
    gap = 100 * (max(accuracies.values()) - accuracies[given])
    if gap > 0.2:
        raise AnswerError(f"Exercise 06.5: {given} steps reach {100 * accuracies[given]:.2f}% on "
                          f"validation; another choice does {gap:.2f} points better.")
    passed("Exercise 06.5", f"{100 * accuracies[given]:.2f}% on validation")
    return accuracies
