"""Checks for a notebook's papermill parameters, run in the cell right after them.

A wrong value (``seed = None``, ``split = "tset"``) fails at once with a message naming the
parameter and what it accepts, instead of deep inside a later cell, after figures were written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def require_int(name: str, value: Any, minimum: int | None = None,
                maximum: int | None = None) -> int:
    """An integer (not a bool), optionally in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value!r}.")
    return value


def require_optional_int(name: str, value: Any, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        return require_int(name, value, minimum)
    except ValueError as exc:
        raise ValueError(f"{exc} (None is also accepted)") from None


def require_number(name: str, value: Any, minimum: float | None = None,
                   maximum: float | None = None, strict_minimum: bool = False) -> float:
    """A real number in ``[minimum, maximum]`` (``(minimum, ...`` with ``strict_minimum``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
        bound = "greater than" if strict_minimum else "at least"
        raise ValueError(f"{name} must be {bound} {minimum}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value!r}.")
    return float(value)


def require_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


def require_choice(name: str, value: Any, options: Sequence[Any]) -> Any:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}.")
    return value


def require_optional_str(name: str, value: Any) -> str | None:
    """A path or name given as text, or None for the default."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{name} must be a non-empty string or None, got {value!r}.")
    return value


def require_str(name: str, value: Any) -> str:
    """A path or name given as text, with no default."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}.")
    return value


def require_names(name: str, value: Any, options: Sequence[str] | None = None) -> list[str]:
    """A non-empty list of names, each one of ``options`` when they are given."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a non-empty list of names, e.g. ['primary19k'], "
                         f"got {value!r}.")
    unknown = [v for v in value if options is not None and v not in options]
    if unknown:
        raise ValueError(f"{name} has unknown names {unknown}: choose from {list(options)}.")
    return value
