"""Checkpoints that are written atomically and loaded safely (``weights_only=True``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from utils.atomic_files import atomic_torch_save
from utils.models import ORIGINAL_NORMALIZATION, build_model, count_parameters
from utils.paths import resolve_repo_path, shipped_run_dir


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or does not match the model it is loaded into."""


def save_model_checkpoint(
    path: str | os.PathLike, model: nn.Module, arch: str, metadata: dict[str, Any]
) -> None:
    """Weights plus the metadata that says what they are and how they were made."""
    payload = {
        "arch": arch,
        "num_parameters": count_parameters(model),
        "torch_version": str(torch.__version__),
        "metadata": metadata,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_torch_save(payload, path)


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE_PROTOCOL_2 = b"\x80"  # older torch.save files are plain pickles


def _unreadable_reason(path: Path, exc: Exception) -> str:
    """Plain words for why ``torch.load`` failed; never torch's advice to load unsafely."""
    size = path.stat().st_size
    head = path.open("rb").read(4)
    if size == 0:
        return "it is empty (0 bytes): the save was interrupted or the copy failed"
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_PROTOCOL_2)):
        return "it is not a PyTorch checkpoint (its first bytes are neither a zip nor a pickle)"
    if "Weights only load failed" in str(exc):
        return ("it holds Python objects besides tensors and plain containers; they are not "
                "loaded, because unpickling arbitrary objects can run code. Re-save the weights "
                "as a plain state dict from code you trust")
    return f"it is truncated or corrupt ({size:,} bytes; {type(exc).__name__})"


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load safely (``weights_only=True``, tensors and plain containers only) on the CPU."""
    path = Path(path)
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "no file"
        raise CheckpointError(f"No checkpoint at {path} (found {kind}).")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"Cannot read checkpoint {path}: {_unreadable_reason(path, exc)}. Retrain it, or "
            "copy it again from where it was made."
        ) from None


def load_state_dict_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], arch: str,
                           source: str) -> None:
    """``load_state_dict(strict=True)`` with an error that names both sides of a mismatch."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            details.append(
                f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        if wrong_shape:
            details.append("shape mismatches " + "; ".join(wrong_shape[:5]))
        raise CheckpointError(
            f"Checkpoint {source} does not fit architecture {arch!r}: " + ", ".join(details)
            + ". Build the architecture the checkpoint was trained with."
        )
    model.load_state_dict(state_dict, strict=True)


def load_model_checkpoint(
    path: str | os.PathLike, arch: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from one of our checkpoints, or from a bare state dict if ``arch`` is given.

    Bare state dicts (e.g. the original mnist_994 ``best_cnn_model.pth``) need ``arch``; our
    own checkpoints carry it, and asking for a different one is an error naming both.
    """
    payload = read_checkpoint(path)
    if isinstance(payload, dict) and "state_dict" in payload and "arch" in payload:
        saved_arch = payload["arch"]
        if arch is not None and arch != saved_arch:
            raise CheckpointError(
                f"Checkpoint {path} holds architecture {saved_arch!r}, not {arch!r}."
            )
        info = {k: v for k, v in payload.items() if k != "state_dict"}
        state_dict, arch = payload["state_dict"], saved_arch
    else:
        if arch is None:
            raise CheckpointError(
                f"{path} is a bare state dict without metadata: pass arch=... "
                "(e.g. arch='original19k' for the original mnist_994 checkpoint)."
            )
        info, state_dict = {"arch": arch, "metadata": {}}, payload
    model = build_model(arch)
    load_state_dict_strict(model, state_dict, arch, str(path))
    model.eval()
    return model, info


# ---------------------------------------------------------------------------
# Loading any checkpoint for evaluation (ours, or a bare state dict such as mnist_994's).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationModel:
    """A model ready for ``predict``: in eval mode, with the normalisation it was trained with."""

    model: nn.Module
    arch: str
    mean: float
    std: float
    label: str  # short name for tables and plot titles
    info: dict[str, Any]


def checkpoint_normalization(info: dict[str, Any]) -> tuple[float, float]:
    """Our checkpoints record their training mean/std; bare state dicts get the mnist_994 values."""
    stats = (info.get("metadata") or {}).get("normalization")
    if stats:
        return float(stats["mean"]), float(stats["std"])
    return ORIGINAL_NORMALIZATION


def load_evaluation_model(
    path: str | os.PathLike, arch: str | None = None
) -> EvaluationModel:
    """Load a checkpoint (path relative to cwd or repo root) for evaluation on the CPU."""
    resolved = resolve_repo_path(path)
    if not resolved.is_file():
        raise FileNotFoundError(
            f"No checkpoint at {path!r} (looked in the current folder and the repo root). "
            "Train one (notebook 03 / python -m utils.experiments.sweep) or pass the path of an existing model.pt."
        )
    model, info = load_model_checkpoint(resolved, arch=arch)
    mean, std = checkpoint_normalization(info)
    # ours: the run folder, unless it is the shipped one of its arch; bare state dicts: the file
    if not info.get("metadata"):
        label = f"{info['arch']} ({resolved.name})"
    elif resolved.parent == shipped_run_dir(info["arch"]):
        label = info["arch"]
    else:
        label = f"{info['arch']} ({resolved.parent.name})"
    return EvaluationModel(model.cpu().eval(), info["arch"], mean, std, label, info)
