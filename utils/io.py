"""Atomic file writes: every result, checkpoint and figure appears whole or not at all.

A write goes to a hidden temp file in the target folder, then ``os.replace`` renames it over
the target (atomic on POSIX). A process killed mid-write leaves only a ``.<name>.*.tmp``
file, which the next write of the same target removes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def temp_files_of(path: Path) -> list[Path]:
    """Temp files left by interrupted writes of ``path`` (``.<name>.<random>.tmp``)."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temp_path)``, then rename the temp file to ``path``; clean up on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in temp_files_of(path):
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp_name)
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600 files; results are meant to be shared
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_json(obj: Any, path: str | os.PathLike) -> Path:
    return atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)
