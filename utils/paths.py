"""Where things live: repository folders, the MNIST root, and the compute device."""

from __future__ import annotations

import os
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
FIGURES_DIR = REPO_ROOT / "figures"
RESULTS_DIR = REPO_ROOT / "results"
SHIPPED_SEED = 0  # the shipped model of each architecture is seed 0 of its sweep
DEFAULT_DATA_DIR = REPO_ROOT / "data"
MNIST_ROOT_ENV = "MNIST_ROOT"
# Where notebooks save figures when no figures_dir is given: `make test` points it at a temporary
# folder, so that re-executing the committed notebooks leaves the tracked figures/ untouched.
FIGURES_DIR_ENV = "FIGURES_DIR"


def shipped_run_dir(arch: str) -> Path:
    """The run folder of the shipped model of ``arch`` (weights, history, metrics): seed 0 of
    the committed sweep, kept once, under ``results/runs/``."""
    return RESULTS_DIR / "runs" / arch / f"seed{SHIPPED_SEED}"


def resolve_repo_path(path: str | os.PathLike, missing_base: Path = REPO_ROOT) -> Path:
    """An absolute path as is; a relative one against the current folder, then the repo root.

    So ``"results/runs/primary19k/seed0/model.pt"`` works from the repo root and from ``notebooks/``,
    and ``"../results/..."`` works from ``notebooks/``. A path found in neither place is
    resolved against ``missing_base`` (so the caller's error message names a sensible place).
    """
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    for base in (Path.cwd(), REPO_ROOT):
        if (base / candidate).exists():
            return (base / candidate).resolve()
    return (missing_base / candidate).resolve()


def resolve_figures_dir(figures_dir: str | os.PathLike | None = None) -> Path:
    """Pick the figures folder: explicit argument > ``$FIGURES_DIR`` > ``<repo>/figures``."""
    chosen = figures_dir if figures_dir is not None else os.environ.get(FIGURES_DIR_ENV) or None
    return FIGURES_DIR if chosen is None else Path(chosen).expanduser()


def resolve_mnist_root(root: str | os.PathLike | None = None) -> Path:
    """Pick the MNIST root: explicit argument > ``$MNIST_ROOT`` > ``<repo>/data``.

    A relative path is tried against the current directory first and then against the
    repository root, so ``MNIST_ROOT=../shared/data`` works both from the repo root and
    from a notebook kernel whose working directory is ``notebooks/``.
    """
    chosen = root if root is not None else os.environ.get(MNIST_ROOT_ENV) or None
    if chosen is None:
        return DEFAULT_DATA_DIR
    return resolve_repo_path(chosen, missing_base=Path.cwd())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``/``"cpu"``/``"cuda[:N]"`` into a device, failing early and clearly."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"Unknown device {device!r}: use 'auto', 'cpu' or 'cuda' (optionally 'cuda:N')."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but no CUDA GPU is available here: "
            "use device='auto' or device='cpu'."
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but this machine has no Apple GPU "
                         "(MPS): use device='auto' or device='cpu'.")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unsupported device {device!r}: use 'auto', 'cpu' or 'cuda'.")
    return resolved


class OutputPathError(ValueError):
    """An output path that cannot be written (a file where a folder is needed, a folder where
    a file is needed, no write permission): found before any work starts, not after it."""


def nearest_existing(path: Path) -> Path:
    """``path`` itself, or its nearest ancestor that exists (what a ``mkdir -p`` would meet)."""
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` if a command can create it (or write into it); else an error naming ``what``
    (the option, e.g. ``--figures-dir``) and the obstacle. Creates nothing."""
    path = Path(path)
    existing = nearest_existing(path)
    if not existing.is_dir():
        where = "is" if existing == path.absolute() else f"cannot be created: {existing} is"
        raise OutputPathError(f"{what} {path} {where} a file, not a folder: pass a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path}: {existing} is not writable by this user: pass a "
                              "folder you can write to.")
    return path


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if a command can (over)write it as a file; else an error naming ``what``."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a folder, not a file: name a file in it.")
    check_output_dir(path.parent, f"the folder of {what}")
    return path


def is_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (after resolving links and ``..``)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents
