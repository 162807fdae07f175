"""Atomic file writes: every result, checkpoint and figure appears whole or not at all.

A write goes to a hidden temp file in the target folder, ``.<name>.<pid>.<random>.tmp``, then
``os.replace`` renames it over the target (atomic on POSIX). Each writer has its own temp file,
so two processes may write the same target at once: the last rename wins, and neither fails.
A process killed mid-write leaves its temp file behind; the next write of the same target
removes it only once the process that made it is gone (never a live writer's file).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def temp_files_of(path: Path) -> list[Path]:
    """Temp files of writes of ``path`` (``.<name>.<pid>.<random>.tmp``), finished or not."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def writer_pid(temp: Path, target: Path) -> int | None:
    """The process id in a temp file's name, or ``None`` for a name without one."""
    middle = temp.name.removeprefix(f".{target.name}.").removesuffix(".tmp")
    pid, _, _ = middle.partition(".")
    return int(pid) if pid.isdigit() else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


UNNAMED_STALE_SECONDS = 3600  # no write takes an hour: an older temp file without a pid is left


def stale_temp_files(path: Path) -> list[Path]:
    """Temp files of ``path`` left by writers that have died. A live writer's file, ours or
    another's, is never stale; a name without a process id (an earlier version's) is stale
    only once it is an hour old."""
    stale = []
    for temp in temp_files_of(path):
        pid = writer_pid(temp, path)
        if pid is None:
            try:
                old = time.time() - temp.stat().st_mtime > UNNAMED_STALE_SECONDS
            except FileNotFoundError:  # its writer renamed it meanwhile
                continue
            if old:
                stale.append(temp)
        elif pid != os.getpid() and not process_alive(pid):
            stale.append(temp)
    return stale


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temp_path)``, then rename the temp file to ``path``; clean up on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temp_files(path):
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                    suffix=".tmp")
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
