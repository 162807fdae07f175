"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student learns from a teacher's
softened probabilities as well as from the labels.

The teacher's soft targets say *how* wrong each wrong class is (a 4 that looks a bit like a
9), which a small model cannot work out from one-hot labels alone. Both are computed on the
same augmented batch, so the student sees the teacher's opinion of exactly what it trains on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from utils.checkpoints import checkpoint_normalization, load_model_checkpoint, read_checkpoint
from utils.paths import resolve_repo_path
from utils.run_files import METRICS_FILE, MODEL_FILE, read_metrics


def teacher_files(paths: Sequence[str]) -> list[Path]:
    """Each teacher's ``model.pt`` (a run folder or the file itself, relative to the repo
    root or the current folder), checked before any training starts."""
    files = []
    for given in paths:
        path = resolve_repo_path(given)
        path = path / MODEL_FILE if path.is_dir() else path
        if not path.is_file():
            raise ValueError(
                f"Teacher {given!r} has no {MODEL_FILE} (looked for {path}): give a finished "
                "run folder, e.g. results/runs/primary19k/seed0, or its model.pt."
            )
        check_teacher_matches_its_run(given, path)
        files.append(path)
    return files


def check_teacher_matches_its_run(given: str, path: Path) -> None:
    """A teacher in a finished run folder must be the model that run evaluated: its checkpoint's
    architecture and seed must be the ones the folder's ``metrics.json`` records (another model
    copied over ``primary19k/seed1/model.pt`` would otherwise teach under that name)."""
    metrics_path = path.parent / METRICS_FILE
    if not metrics_path.is_file():
        return
    metrics = read_metrics(metrics_path)
    header = read_checkpoint(path)
    seed = (header.get("metadata") or {}).get("seed") if isinstance(header, dict) else None
    found = (header.get("arch") if isinstance(header, dict) else None, seed)
    if found != (metrics["arch"], metrics["seed"]):
        raise ValueError(
            f"Teacher {given!r}: {path} holds {found[0]} seed {found[1]}, but the run's "
            f"{METRICS_FILE} records {metrics['arch']} seed {metrics['seed']}: the checkpoint "
            "was replaced. Restore it (e.g. from git) or give the teacher's own run folder.")


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes: identifies a checkpoint whatever its name says."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def teacher_records(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Each teacher as given and the sha256 of the checkpoint it points to now: a run records
    these, so a checkpoint replaced under the same path (another model in place of
    ``primary19k/seed1``) is told apart from the one the run learnt from."""
    return [{"path": given, "sha256": file_sha256(path)}
            for given, path in zip(paths, teacher_files(paths), strict=True)]


@dataclass
class Teacher:
    """One model or an ensemble; its soft targets are the mean of the members' softened
    probabilities (averaging probabilities, not logits, is what an ensemble predicts)."""

    models: list[nn.Module]
    temperature: float

    @torch.no_grad()
    def soft_targets(self, x: torch.Tensor) -> torch.Tensor:
        return ensemble_soft_targets([model(x) for model in self.models], self.temperature)


def ensemble_soft_targets(member_logits: Sequence[torch.Tensor], temperature: float
                          ) -> torch.Tensor:
    """The ensemble's probabilities at ``temperature`` from each member's logits, so that one
    forward pass serves every temperature (notebook 07 compares three)."""
    probs = [F.softmax(logits.float() / temperature, dim=1) for logits in member_logits]
    return torch.stack(probs).mean(0)


def soft_target_shape(soft_targets: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """How much "which mistake is reasonable" soft targets carry, averaged over their rows:
    the true class's share, the largest wrong class's, the other wrong classes' each, and the
    median ratio of the largest wrong class to those others (1 means the wrong classes are told
    apart not at all, as in a label-smoothed target)."""
    probs = soft_targets.double()
    index = torch.arange(len(labels))
    true = probs[index, labels]
    wrong = probs.clone()
    wrong[index, labels] = -1.0
    largest = wrong.amax(dim=1)
    others = (1 - true - largest) / (probs.shape[1] - 2)
    return {"true class (%)": round(100 * true.mean().item(), 2),
            "largest wrong class (%)": round(100 * largest.mean().item(), 2),
            "each other wrong class (%)": round(100 * others.mean().item(), 2),
            "largest / other wrong (median)": round((largest / others).median().item(), 2)}


def load_teacher(paths: Sequence[str], temperature: float, device: torch.device,
                 normalization: tuple[float, float], channels_last: bool = False) -> Teacher:
    """Load the teacher(s) in eval mode on ``device``; each must have been trained with the
    student's input normalisation, or its soft targets would be computed on inputs it never saw."""
    models = []
    for path in teacher_files(paths):
        model, info = load_model_checkpoint(path)
        mean, std = checkpoint_normalization(info)
        if abs(mean - normalization[0]) > 1e-6 or abs(std - normalization[1]) > 1e-6:
            raise ValueError(
                f"Teacher {path} was trained with normalisation ({mean:.4f}, {std:.4f}), the "
                f"student uses ({normalization[0]:.4f}, {normalization[1]:.4f}): use a teacher "
                "trained on the same training split."
            )
        model = model.to(device).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        models.append(model)
    return Teacher(models, temperature)


def distillation_loss(student_logits: torch.Tensor, soft_targets: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """KL(teacher || student) at temperature T, times T² so that its gradients keep the
    same scale as the label loss's whatever T is (Hinton et al. 2015, section 2)."""
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(log_student, soft_targets, reduction="batchmean") * temperature**2
