"""The files of one run folder, as the training engine writes them, and their checked reads.

The engine (``utils.train``) writes ``last.pt`` while it trains, then ``model.pt`` and
``history.json``; a finished run adds ``metrics.json`` and ``run.json``. Every reader (the run
store, a distillation teacher's check, the checkers) reads them here, so all refuse the same
things: a file that is missing, empty, not JSON, incomplete or holding NaN, named with its fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STATE_FILE = "last.pt"  # resumable training state, removed once the run is finished
MODEL_FILE = "model.pt"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
RECORD_FILE = "run.json"
METRICS_KEYS = ("arch", "seed", "val_acc")  # what every finished run's metrics.json holds
FRACTIONS = ("val_acc", "test_acc")  # accuracies are stored as fractions in [0, 1]
# The forward pass of a run's numeric path (utils.numeric_path), as run records name it
FLOAT32, BF16_AUTOCAST = "float32", "bfloat16 autocast"


class RunFolderError(ValueError):
    """A runs root or a file in a run folder is missing, unreadable or wrong; the message
    names the path and what to do."""



def read_json(path: Path, what: str) -> Any:
    """``path`` parsed, or an error naming the file and why (missing, empty, not JSON)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise RunFolderError(f"Cannot read {what} {path}: {exc.strerror or exc}.") from None
    if not text.strip():
        raise RunFolderError(f"{what.capitalize()} {path} is empty: the write was interrupted "
                             "or the copy failed. Restore it (e.g. from git) or re-run the run.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{what.capitalize()} {path} is not valid JSON ({exc.msg}, line "
                             f"{exc.lineno}). Restore it (e.g. from git) or re-run the run.") from None


def non_finite(value: Any, name: str = "") -> list[str]:
    """Names of the NaN or infinite numbers in ``value`` (nested lists and dicts included)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{name} = {value}"]
    if isinstance(value, dict):
        return [bad for k, v in value.items() for bad in non_finite(v, f"{name}.{k}".strip("."))]
    if isinstance(value, list):
        return [bad for i, v in enumerate(value) for bad in non_finite(v, f"{name}[{i}]")]
    return []


def read_metrics(path: Path, required: Sequence[str] = METRICS_KEYS) -> dict[str, Any]:
    """A run's ``metrics.json``, checked: a JSON object with the ``required`` keys, finite
    numbers, accuracies in [0, 1]. Anything else is refused, naming the file."""
    metrics = read_json(path, "metrics file")
    fix = "Restore the file (e.g. from git) or move the seed folder away and re-run it."
    if not isinstance(metrics, dict):
        raise RunFolderError(f"{path} should hold a JSON object of metrics, not "
                             f"{type(metrics).__name__}. {fix}")
    missing = [key for key in required if key not in metrics]
    if missing:
        raise RunFolderError(f"{path} lacks {', '.join(missing)}. {fix}")
    bad = non_finite(metrics)
    if bad:
        raise RunFolderError(f"{path} holds {', '.join(bad)}: a finished run's numbers are "
                             f"finite. {fix}")
    for key in FRACTIONS:
        value = metrics.get(key)
        if key in metrics and (isinstance(value, bool) or not isinstance(value, int | float)
                               or not 0 <= value <= 1):
            raise RunFolderError(f"{path}: {key} = {value!r} is not an accuracy in [0, 1]. {fix}")
    if "seed" in metrics and (isinstance(metrics["seed"], bool)
                              or not isinstance(metrics["seed"], int)):
        raise RunFolderError(f"{path}: seed = {metrics['seed']!r} is not a whole number. {fix}")
    return metrics
