"""The training engine: device-resident data, batched augmentation, OneCycle, resumable.

``fit`` never sees the test split. Model selection is "the final epoch"; validation is
reported every epoch so a reader can see over- or under-fitting, not to pick a winner.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .augment import AugmentConfig, random_affine
from .checkpoints import (
    CheckpointError,
    atomic_torch_save,
    atomic_write_json,
    load_state_dict_strict,
    read_checkpoint,
    save_model_checkpoint,
)
from .data import MNISTSplits, normalization_stats
from .evaluate import loss_and_accuracy
from .models import MODEL_REGISTRY, available_models, build_model, count_parameters
from .paths import resolve_device

OPTIMIZERS = ("sgd", "adamw", "adam")
SCHEDULES = ("onecycle", "constant")
STATE_FILE = "last.pt"
MODEL_FILE = "model.pt"
HISTORY_FILE = "history.json"


@dataclass
class TrainConfig:
    """Everything that defines a run. Stored in every checkpoint so a run can be redone."""

    arch: str = "primary19k"
    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "sgd"  # SGD with Nesterov momentum
    lr: float = 0.1  # peak learning rate of the OneCycle schedule
    weight_decay: float = 5e-4  # applied to conv/linear weights, not to BatchNorm or biases
    momentum: float = 0.9
    schedule: str = "onecycle"
    pct_start: float = 0.2  # fraction of steps spent warming up
    label_smoothing: float = 0.05
    ema_decay: float = 0.0  # 0 turns weight averaging off
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    augment_strength: float = 1.0
    seed: int = 0
    device: str = "auto"
    train_subset: int | None = None  # use only this many training images (quick runs)
    eval_batch_size: int = 1000
    amp: bool = True  # bfloat16 autocast, CUDA only
    channels_last: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig(**values["augment"])
        return cls(**values)

    def validate(self, train_size: int | None = None) -> None:
        """Fail before any work starts, saying what is wrong and what would be right."""
        if self.arch not in MODEL_REGISTRY:
            raise ValueError(
                f"Unknown architecture {self.arch!r}. Valid names: {', '.join(available_models())}."
            )
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}.")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}.")
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {self.pct_start!r}.")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}.")
        self.augment.scaled(self.augment_strength)  # raises on a negative strength
        resolve_device(self.device)  # raises on cuda without a GPU
        if self.train_subset is not None:
            if not isinstance(self.train_subset, int) or self.train_subset <= 0:
                raise ValueError(
                    f"train_subset must be a positive integer or None, got {self.train_subset!r}."
                )
            if train_size is not None and self.train_subset > train_size:
                raise ValueError(
                    f"train_subset={self.train_subset} is larger than the training split "
                    f"({train_size} images): use at most {train_size}, or None for all."
                )


def one_cycle_lr(
    step: int,
    total_steps: int,
    peak_lr: float,
    pct_start: float = 0.2,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> float:
    """Cosine OneCycle: warm up from peak/div to peak, then anneal to peak/(div*final_div).

    A pure function of the step, so the schedule can be plotted before training and a
    resumed run needs no scheduler state.
    """
    start_lr = peak_lr / div_factor
    end_lr = start_lr / final_div_factor
    warm_steps = max(1, round(pct_start * total_steps))
    if step < warm_steps:
        frac, lo, hi = step / warm_steps, start_lr, peak_lr
    else:
        frac = (step - warm_steps) / max(1, total_steps - 1 - warm_steps)
        lo, hi = peak_lr, end_lr
    frac = min(max(frac, 0.0), 1.0)
    return hi + (lo - hi) * (1 + math.cos(math.pi * frac)) / 2


def learning_rate_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    if config.schedule == "constant":
        return config.lr
    return one_cycle_lr(step, config.epochs * steps_per_epoch, config.lr, config.pct_start)


def steps_per_epoch(config: TrainConfig, train_size: int) -> int:
    n = config.train_subset or train_size
    return math.ceil(n / config.batch_size)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


class EMA:
    """Exponential moving average of weights and buffers (evaluated instead of the raw model)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.state[key].mul_(self.decay).add_(value.detach(), alpha=1 - self.decay)
            else:
                self.state[key].copy_(value)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.state)


@dataclass
class FitResult:
    model: nn.Module
    history: list[dict[str, float]]
    config: TrainConfig
    out_dir: Path | None
    normalization: tuple[float, float]


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    state = {
        "device_type": device.type,
        "generator": generator.get_state(),
        "torch_cpu": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["torch_cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    saved_type = state.get("device_type", "cpu")
    if saved_type != device.type:
        raise CheckpointError(
            f"This run was started on {saved_type!r} and cannot be resumed exactly on "
            f"{device.type!r} (their random-number streams differ): resume with "
            f"device={saved_type!r}, or start a new run in another out_dir."
        )
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and "torch_cuda" in state:
        torch.cuda.set_rng_state(state["torch_cuda"], device)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """Settings that must match for a resume to be the same run (device may change)."""
    return {k: v for k, v in config.items() if k not in ("device",)}


def fit(
    config: TrainConfig,
    splits: MNISTSplits,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``config.arch`` on the training split, validating each epoch.

    With ``out_dir`` the full training state is saved atomically after every epoch
    (``last.pt``), and the final weights with metadata (``model.pt``) and the per-epoch
    ``history.json`` at the end. ``resume=True`` continues from ``last.pt`` exactly.
    ``on_epoch_end(record)``, if given, is called after each epoch's ``last.pt`` is written
    (live plots, early stopping by raising, or simulating an interruption in tests).
    """
    train_size = len(splits.train_labels)
    config.validate(train_size)
    device = resolve_device(config.device)
    out_path = Path(out_dir) if out_dir is not None else None
    if resume and out_path is None:
        raise ValueError("resume=True needs out_dir=... (where last.pt was saved).")
    say = log or (lambda _message: None)

    mean, std = normalization_stats(splits.train_images)
    torch.manual_seed(config.seed)
    model = build_model(config.arch).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    ema = EMA(model, config.ema_decay) if config.ema_decay > 0 else None
    generator = torch.Generator(device=device).manual_seed(config.seed)

    images, labels = splits.train_images.to(device), splits.train_labels.to(device)
    if config.train_subset is not None and config.train_subset < train_size:
        chosen = torch.randperm(train_size, generator=torch.Generator().manual_seed(config.seed))
        chosen = chosen[: config.train_subset].sort().values.to(device)
        images, labels = images[chosen], labels[chosen]
    val_images, val_labels = splits.val_images.to(device), splits.val_labels.to(device)
    augment = config.augment.scaled(config.augment_strength)
    n_steps = steps_per_epoch(config, train_size)

    history: list[dict[str, float]] = []
    start_epoch = 0
    if resume and (out_path / STATE_FILE).is_file():
        state = read_checkpoint(out_path / STATE_FILE)
        if _comparable(state["config"]) != _comparable(config.to_dict()):
            raise CheckpointError(
                f"{out_path / STATE_FILE} was saved by a run with different settings: "
                f"saved {state['config']}, now {config.to_dict()}. Use another out_dir "
                "or resume=False to start over."
            )
        load_state_dict_strict(model, state["model"], config.arch, str(out_path / STATE_FILE))
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.state = {k: v.to(device) for k, v in state["ema"].items()}
        _restore_rng(state["rng"], generator, device)
        history, start_epoch = list(state["history"]), int(state["epoch"])
        say(f"Resumed {config.arch} from {out_path / STATE_FILE} after epoch {start_epoch}.")
    elif resume:
        say(f"No {STATE_FILE} in {out_path}: starting from scratch.")

    use_amp = config.amp and device.type == "cuda"
    say(
        f"Training {config.arch} ({count_parameters(model):,} params) on {device} for "
        f"{config.epochs} epochs, {len(labels):,} images, batch {config.batch_size}."
    )
    for epoch in range(start_epoch, config.epochs):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(labels), device=device, generator=generator)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        bar = tqdm(
            range(n_steps), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
            leave=False, unit="batch",
        )
        lr = config.lr
        for step_in_epoch in bar:
            lr = learning_rate_at(config, epoch * n_steps + step_in_epoch, n_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = order[step_in_epoch * config.batch_size : (step_in_epoch + 1) * config.batch_size]
            x = images[idx].unsqueeze(1).float().div_(255.0)
            x = random_affine(x, augment, generator=generator)
            x = (x - mean) / std
            if config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                ema.update(model)
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            if progress and step_in_epoch % 20 == 0:
                seen = min((step_in_epoch + 1) * config.batch_size, len(labels))
                bar.set_postfix(loss=f"{loss.item():.3f}",
                                acc=f"{100 * correct.item() / seen:.2f}%", lr=f"{lr:.3g}")
        bar.close()
        evaluated = model
        if ema is not None:
            evaluated = build_model(config.arch).to(device)
            ema.copy_to(evaluated)
        val_loss, val_acc = loss_and_accuracy(
            evaluated, val_images, val_labels, mean, std, config.eval_batch_size
        )
        record = {
            "epoch": epoch + 1,
            "train_loss": loss_sum.item() / len(labels),
            "train_acc": correct.item() / len(labels),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        say(
            f"epoch {epoch + 1:2d}/{config.epochs}  train loss {record['train_loss']:.4f} "
            f"acc {100 * record['train_acc']:.2f}%  val loss {val_loss:.4f} "
            f"acc {100 * val_acc:.2f}%  lr {lr:.2e}  {record['seconds']:.1f}s"
        )
        if out_path is not None:
            atomic_torch_save(
                {
                    "epoch": epoch + 1,
                    "config": config.to_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "ema": ema.state if ema is not None else None,
                    "rng": _rng_state(generator, device),
                    "history": history,
                },
                out_path / STATE_FILE,
            )
        if on_epoch_end is not None:
            on_epoch_end(record)

    final_model = model
    if ema is not None:
        final_model = build_model(config.arch).to(device)
        ema.copy_to(final_model)
    final_model.eval()
    if out_path is not None:
        save_run(out_path, final_model, config, history, (mean, std), train_size)
    return FitResult(final_model, history, config, out_path, (mean, std))


HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def load_history(path: str | Path) -> list[dict[str, float]]:
    """Read a run's per-epoch ``history.json`` (give the file or the run folder).

    Checked on the way in, so a plot of a wrong or truncated file fails with its name.
    """
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No training history at {path}: train with fit(..., out_dir=...) first."
        )
    history = json.loads(path.read_text())
    if not isinstance(history, list) or not history:
        raise ValueError(f"{path} should hold a non-empty list of per-epoch records.")
    for i, record in enumerate(history):
        missing = [k for k in HISTORY_KEYS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"{path}: epoch record {i} lacks {missing}.")
    return history


def save_run(
    out_dir: Path,
    model: nn.Module,
    config: TrainConfig,
    history: list[dict[str, float]],
    normalization: tuple[float, float],
    train_size: int,
    extra: dict[str, Any] | None = None,
) -> None:
    last = history[-1] if history else {}
    metadata = {
        "config": config.to_dict(),
        "epochs": len(history),
        "seed": config.seed,
        "normalization": {"mean": normalization[0], "std": normalization[1]},
        "data_split": {"train": train_size, "train_used": config.train_subset or train_size,
                       "val": "5,000 stratified from the 60k training images (split seed 0)"},
        "val_acc": last.get("val_acc"),
        "val_loss": last.get("val_loss"),
        "train_seconds": sum(r["seconds"] for r in history),
        "device": str(resolve_device(config.device)),
        **(extra or {}),
    }
    save_model_checkpoint(out_dir / MODEL_FILE, model, config.arch, metadata)
    atomic_write_json(history, out_dir / HISTORY_FILE)
