"""The checkers' shared core: one registry, one entry point, and the generic comparisons.

Every exercise is checked the same way, ``check("03.2", answer)``: the checker registered under
that id computes its own reference (from ``utils``, the MNIST splits, the committed checkpoints
and results, loaded once and cached in :mod:`utils.course.checkers.reference`), so a notebook, the
student copy and a test can never hand it a wrong reference. A wrong answer raises
``AnswerError`` with a message that says what is wrong, never what the answer is; a right
one prints one line. Constant keys (multiple choice, fixed numbers) are stored as salted
SHA-256 digests, so the files a student receives hold no key in plain text.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

UNANSWERED = (None, ...)
EXERCISE_ID = re.compile(r"^(?P<notebook>\d\d[a-z]?)\.(?P<number>\d+)$")

Checker = Callable[..., Any]
_REGISTRY: dict[str, Checker] = {}


class AnswerError(AssertionError):
    """A student's answer is wrong or missing; the message says what to look at."""


class UnknownExerciseError(KeyError):
    """``check`` was given an id no checker is registered under."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


# ---------------------------------------------------------------- registry
def register(exercise_id: str) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of ``exercise_id`` ("NN.k")."""
    if not EXERCISE_ID.match(exercise_id):
        raise ValueError(f"Exercise id {exercise_id!r} is not of the form 'NN.k' (e.g. '03.2').")

    def decorator(checker: Checker) -> Checker:
        if exercise_id in _REGISTRY and _REGISTRY[exercise_id] is not checker:
            raise ValueError(f"Exercise {exercise_id} already has a checker "
                             f"({_REGISTRY[exercise_id].__module__}."
                             f"{_REGISTRY[exercise_id].__name__}).")
        _REGISTRY[exercise_id] = checker
        return checker

    return decorator


def known_ids(notebook: str | None = None) -> list[str]:
    """Registered ids, sorted by notebook then number; only one notebook's if given."""
    ids = [i for i in _REGISTRY if notebook is None or i.split(".")[0] == notebook]
    return sorted(ids, key=lambda i: (i.split(".")[0], int(i.split(".")[1])))


def check(exercise_id: str, answer: Any, **context: Any) -> Any:
    """Check ``answer`` to exercise ``exercise_id``; ``context`` only overrides where the
    reference data live (e.g. ``runs_root=...`` when a notebook reads other runs)."""
    checker = _REGISTRY.get(exercise_id)
    if checker is None:
        notebook = exercise_id.split(".")[0] if isinstance(exercise_id, str) else "?"
        same = known_ids(notebook)
        hint = (f"the exercises of notebook {notebook} are {same}" if same
                else f"no notebook {notebook!r} has exercises; known ids: {known_ids()}")
        raise UnknownExerciseError(f"No exercise {exercise_id!r}: {hint}.")
    return checker(answer, **context)


# ---------------------------------------------------------------- answers and messages
def require_answer(given: Any, exercise_id: str) -> None:
    """Fail with a clear message while the exercise still holds its placeholder."""
    if any(given is marker for marker in UNANSWERED):
        raise AnswerError(
            f"Exercise {exercise_id}: no answer yet. Replace the placeholder (None or ...) with "
            "your answer and run the cell again."
        )


def passed(exercise_id: str, detail: str = "") -> None:
    """The one line a right answer prints."""
    print(f"Exercise {exercise_id}: correct{' - ' + detail if detail else ''}.")


def wrong(exercise_id: str, why: str) -> AnswerError:
    """The error for a wrong answer (raised by the caller, so tracebacks point at the check)."""
    return AnswerError(f"Exercise {exercise_id}: {why}")


def is_number(value: Any) -> bool:
    """A real number, and not a bool (``True`` is an int in Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def require_number(given: Any, exercise_id: str, what: str) -> float:
    require_answer(given, exercise_id)
    if not is_number(given):
        raise wrong(exercise_id, f"{what} should be a finite number, got {given!r}.")
    return float(given)


def require_int(given: Any, exercise_id: str, what: str) -> int:
    require_answer(given, exercise_id)
    if isinstance(given, bool) or not isinstance(given, int):
        raise wrong(exercise_id, f"{what} should be a whole number (an int), got {given!r}.")
    return given


def close(given: float, expected: float, rel_tol: float = 0.0, abs_tol: float = 0.0) -> bool:
    return math.isclose(float(given), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)


# ---------------------------------------------------------------- numbers
def reject_slips(given: float, exercise_id: str, slips: Sequence[tuple[float, str]],
                 expected: float, rel_tol: float = 0.0, abs_tol: float = 0.0) -> None:
    """Name a known slip the answer matches (a wrong convention, a copied number), unless the
    slip happens to give the right value too."""
    for value, why in slips:
        if close(given, value, rel_tol, abs_tol) and not close(value, expected, rel_tol, abs_tol):
            raise wrong(exercise_id, why)


def check_number_quietly(given: Any, expected: float, exercise_id: str, what: str,
                         rel_tol: float = 0.0, abs_tol: float = 0.0,
                         slips: Sequence[tuple[float, str]] = (),
                         slip_abs_tol: float | None = None) -> None:
    """:func:`check_number` without the "correct" line, for checkers of several numbers.
    ``slip_abs_tol`` (default ``abs_tol``) can be tighter, so a rounded right answer is not
    mistaken for a slip that lies close to it."""
    value = require_number(given, exercise_id, what)
    slip_tol = abs_tol if slip_abs_tol is None else slip_abs_tol
    reject_slips(value, exercise_id, slips, expected, rel_tol, slip_tol)
    if not close(value, expected, rel_tol, abs_tol):
        direction = "too large" if value > expected else "too small"
        raise wrong(exercise_id, f"{what} = {given!r} is {direction}.")


def check_number(given: Any, expected: float, exercise_id: str, what: str,
                 rel_tol: float = 0.0, abs_tol: float = 0.0,
                 slips: Sequence[tuple[float, str]] = (),
                 slip_abs_tol: float | None = None) -> None:
    """One number: names a known slip, else says too large or too small, never the value."""
    check_number_quietly(given, expected, exercise_id, what, rel_tol, abs_tol, slips,
                         slip_abs_tol)
    passed(exercise_id)


# ---------------------------------------------------------------- hashed keys
def answer_digest(exercise_id: str, value: Any) -> str:
    """Salted SHA-256 of an answer: the salt is the exercise id, so equal answers of two
    exercises have different digests and a digest cannot be looked up across exercises."""
    return hashlib.sha256(f"mnist-course/{exercise_id}/{value!r}".encode()).hexdigest()


def matches_digest(exercise_id: str, value: Any, digest: str) -> bool:
    return answer_digest(exercise_id, value) == digest


def check_choice(given: Any, exercise_id: str, options: Sequence[Any], digest: str) -> None:
    """A multiple-choice answer against a salted digest of its key: names the valid options,
    never the right one."""
    require_answer(given, exercise_id)
    if given not in options:
        raise wrong(exercise_id, f"{given!r} is not one of the options {list(options)}.")
    if not matches_digest(exercise_id, given, digest):
        raise wrong(exercise_id, f"{given!r} is not right; reread the question and retry.")
    passed(exercise_id)


def check_computed_choice(given: Any, expected: Any, exercise_id: str,
                          options: Sequence[Any]) -> None:
    """A choice whose key is computed from data (so nothing is stored to hide)."""
    require_answer(given, exercise_id)
    if given not in options:
        raise wrong(exercise_id, f"{given!r} is not one of the options {list(options)}.")
    if given != expected:
        raise wrong(exercise_id, f"{given!r} is not right; reread the question and retry.")
    passed(exercise_id)


# ---------------------------------------------------------------- tables
def check_table(given: Any, expected: Sequence[Mapping[str, Any]], exercise_id: str, key: str,
                columns: Sequence[str], rel_tol: float = 0.0, abs_tol: float = 0.0) -> None:
    """Rows of numbers (e.g. a receptive-field table), compared cell by cell.

    Reports the first wrong cell (its row and column, and whether the value is too large or
    too small) and how many cells are wrong in all: enough to find the slip, never the value.
    """
    require_answer(given, exercise_id)
    if not isinstance(given, Sequence) or isinstance(given, str):
        raise wrong(exercise_id, f"give a list of rows (dicts), got {type(given).__name__}.")
    if len(given) != len(expected):
        raise wrong(exercise_id, f"{len(given)} rows given, the table has {len(expected)}.")
    wrong_cells: list[str] = []
    for index, (row, want) in enumerate(zip(given, expected, strict=True)):
        name = want.get(key, index)
        if not isinstance(row, Mapping):
            raise wrong(exercise_id, f"row {index} ({name}) is not a dict.")
        for column in columns:
            if column not in row:
                raise wrong(exercise_id, f"row {index} ({name}) has no {column!r} entry.")
            value = row[column]
            if any(value is marker for marker in UNANSWERED):
                raise wrong(exercise_id, f"row {index} ({name}), {column!r} is not filled in.")
            if not is_number(value):
                raise wrong(exercise_id, f"row {index} ({name}), {column!r} should be a number, "
                                         f"got {value!r}.")
            if not close(value, want[column], rel_tol, abs_tol):
                direction = "too large" if value > want[column] else "too small"
                wrong_cells.append(f"row {index} ({name}), {column!r} = {value!r} is {direction}")
    if wrong_cells:
        more = (f" ({len(wrong_cells) - 1} more wrong entries after it)"
                if len(wrong_cells) > 1 else "")
        raise wrong(exercise_id, f"the first wrong entry: {wrong_cells[0]}{more}.")
    passed(exercise_id, f"all {len(expected)} rows")
