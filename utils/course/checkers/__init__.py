"""Answer checkers of the notebooks' exercises: ``check("03.2", answer)``.

One module per notebook (``nb01`` ... ``nb07``, and any other ``nb*`` module placed here)
registers its checkers with :func:`register`; importing this package imports every such
module, so a new notebook's checkers need no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil

from utils.course.checkers.core import AnswerError, UnknownExerciseError, check, known_ids, register


def _import_notebook_modules() -> list[str]:
    """Import every ``nb*`` module of this package (their decorators fill the registry)."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("nb"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


NOTEBOOK_MODULES = _import_notebook_modules()

__all__ = ["AnswerError", "UnknownExerciseError", "check", "known_ids", "register"]
