"""The recipe of a run: every setting (``TrainConfig``), the learning-rate schedules and the
optimiser. What to train; ``utils.train`` is how.

Schedules are pure functions of the step, so a schedule can be plotted before training and a
resumed run needs no scheduler state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from utils.augment import AugmentConfig
from utils.distill import teacher_files
from utils.models import require_known_models
from utils.numeric_path import SWITCHES
from utils.paths import resolve_device

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("onecycle", "constant", "plateau")
# "plateau": the original recipe's ReduceLROnPlateau (halve after 3 epochs without a gain),
# stepped on *validation* accuracy.
PLATEAU_FACTOR, PLATEAU_PATIENCE, PLATEAU_THRESHOLD = 0.5, 3, 1e-4
MAX_SEED = 2**64 - 1  # torch.manual_seed and Generator.manual_seed overflow above it


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
    # Stochastic weight averaging: the last swa_epochs epochs run at the constant rate swa_lr
    # (the schedule's cycle fits in the epochs before) and the weights at the end of each are
    # averaged, BatchNorm statistics recomputed for the average; 0 turns it off.
    swa_epochs: int = 0
    swa_lr: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    augment_strength: float = 1.0
    seed: int = 0
    device: str = "auto"
    train_subset: int | None = None  # use only this many training images (quick runs)
    # The numeric path (utils.numeric_path): bfloat16 autocast of the forward pass, "auto" = on
    # CPUs with bf16 kernels; and the memory format, "auto" = channels_last together with bf16.
    amp: str = "auto"
    channels_last: str = "auto"
    # Knowledge distillation: run folders (or model.pt files) of the teacher ensemble, the weight
    # of the distillation term (0 = labels only) and the softening temperature.
    teacher: tuple[str, ...] = ()
    distill_weight: float = 0.0
    distill_temperature: float = 4.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild a config saved in a checkpoint, including those of earlier versions."""
        values = dict(values)
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig(**values["augment"])
        # Earlier checkpoints: amp/channels_last were booleans (amp=True meant "bf16 on CUDA
        # only", which "auto" now covers) and eval_batch_size was a setting without a use.
        values.pop("eval_batch_size", None)
        values["teacher"] = tuple(values.get("teacher", ()))  # JSON gives back a list
        for name, legacy in (("amp", {True: "auto", False: "off"}),
                             ("channels_last", {True: "on", False: "off"})):
            if isinstance(values.get(name), bool):
                values[name] = legacy[values[name]]
        return cls(**values)

    @property
    def cycle_epochs(self) -> int:
        """The epochs of the learning-rate cycle: all but SWA's constant-rate ones."""
        return self.epochs - self.swa_epochs

    def validate_swa(self) -> None:
        """SWA's epochs must leave the schedule a cycle, and they are the one averaging."""
        if isinstance(self.swa_epochs, bool) or not isinstance(self.swa_epochs, int) or \
                self.swa_epochs < 0:
            raise ValueError(f"swa_epochs must be a whole number >= 0, got {self.swa_epochs!r}.")
        if self.swa_epochs == 0:
            if self.swa_lr != 0:
                raise ValueError(f"swa_lr={self.swa_lr!r} does nothing without swa_epochs: set "
                                 "swa_epochs > 0 to use it, or leave swa_lr at 0.")
            return
        if self.swa_epochs >= self.epochs:
            raise ValueError(f"swa_epochs={self.swa_epochs} leaves no epoch of the "
                             f"{self.epochs} for the schedule's cycle: use fewer than epochs.")
        if self.schedule != "onecycle":
            raise ValueError(f"SWA follows the onecycle schedule, not {self.schedule!r}: set "
                             "schedule='onecycle' or swa_epochs=0.")
        if not 0 < self.swa_lr <= self.lr:
            raise ValueError(f"swa_lr must be in (0, lr={self.lr}] when swa_epochs > 0, got "
                             f"{self.swa_lr!r}.")
        if self.ema_decay > 0:
            raise ValueError("ema_decay and swa_epochs are two ways to average the weights: "
                             "set one of them to 0.")

    def validate(self, train_size: int | None = None) -> None:
        """Fail before any work starts, saying what is wrong and what would be right."""
        require_known_models([self.arch])
        for name in ("epochs", "batch_size"):
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
        self.validate_swa()
        for name in ("amp", "channels_last"):
            if getattr(self, name) not in SWITCHES:
                raise ValueError(f"{name} must be one of {SWITCHES}, got {getattr(self, name)!r}.")
        if not 0 <= self.distill_weight <= 1:
            raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight!r}.")
        if not self.distill_temperature > 0:
            raise ValueError(
                f"distill_temperature must be > 0, got {self.distill_temperature!r}.")
        if bool(self.teacher) != (self.distill_weight > 0):
            raise ValueError(
                "Distillation needs both a teacher and distill_weight > 0 (got teacher="
                f"{list(self.teacher)}, distill_weight={self.distill_weight}): set both, or neither."
            )
        teacher_files(self.teacher)  # raises, naming a teacher that has no model.pt
        self.augment.scaled(self.augment_strength)  # raises on a negative strength
        if (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                or not 0 <= self.seed <= MAX_SEED):
            raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED} (torch's random "
                             f"generators take no larger one), got {self.seed!r}.")
        resolve_device(self.device)  # raises on cuda or mps without that hardware
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


# OneCycle's start and end rates, as torch.optim.lr_scheduler.OneCycleLR's defaults: the peak
# divided by 25, then that divided by 1e4
ONE_CYCLE_DIV, ONE_CYCLE_FINAL_DIV = 25.0, 1e4


def one_cycle_lr(
    step: int,
    total_steps: int,
    peak_lr: float,
    pct_start: float = 0.2,
) -> float:
    """Cosine OneCycle: warm up from peak/div to peak, then anneal to peak/(div*final_div).

    A pure function of the step, so the schedule can be plotted before training and a
    resumed run needs no scheduler state.
    """
    start_lr = peak_lr / ONE_CYCLE_DIV
    end_lr = start_lr / ONE_CYCLE_FINAL_DIV
    warm_steps = max(1, round(pct_start * total_steps))
    if step < warm_steps:
        frac, lo, hi = step / warm_steps, start_lr, peak_lr
    else:
        frac = (step - warm_steps) / max(1, total_steps - 1 - warm_steps)
        lo, hi = peak_lr, end_lr
    frac = min(max(frac, 0.0), 1.0)
    return hi + (lo - hi) * (1 + math.cos(math.pi * frac)) / 2


def plateau_lr(start_lr: float, val_accs: list[float]) -> float:
    """The learning rate after these epochs under ``ReduceLROnPlateau(mode="max", factor=0.5,
    patience=3)`` (torch's rule: a gain is > 1e-4 relative): a pure function of the validation
    history, so a resumed run needs no scheduler state."""
    lr, best, epochs_without_gain = start_lr, -math.inf, 0
    for acc in val_accs:
        if acc > best * (1 + PLATEAU_THRESHOLD):
            best, epochs_without_gain = acc, 0
        else:
            epochs_without_gain += 1
            if epochs_without_gain > PLATEAU_PATIENCE:
                lr, epochs_without_gain = lr * PLATEAU_FACTOR, 0
    return lr


def learning_rate_at(config: TrainConfig, step: int, steps_per_epoch: int,
                     val_accs: list[float] | None = None) -> float:
    """The learning rate of optimiser step ``step``; "plateau" also needs the validation
    accuracies of the epochs before it."""
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "plateau":
        if val_accs is None:
            raise ValueError("The plateau schedule depends on validation accuracy: pass val_accs.")
        return plateau_lr(config.lr, val_accs[: step // steps_per_epoch])
    cycle_steps = config.cycle_epochs * steps_per_epoch
    if step >= cycle_steps:  # only with SWA: its epochs hold the rate at swa_lr
        return config.swa_lr
    return one_cycle_lr(step, cycle_steps, config.lr, config.pct_start)


def lr_schedule(config: TrainConfig, steps_per_epoch: int) -> list[float]:
    """The learning rate of every optimiser step, exactly as ``fit`` will set it."""
    if steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}.")
    if config.schedule == "plateau":
        raise ValueError("The plateau schedule is decided during training, by validation "
                         "accuracy: it has no schedule to draw in advance.")
    return [learning_rate_at(config, step, steps_per_epoch)
            for step in range(config.epochs * steps_per_epoch)]


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
    return torch.optim.Adam(groups, lr=config.lr)
