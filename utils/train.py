"""The training engine: device-resident data, batched augmentation, OneCycle, resumable.

``fit`` never sees the test split. Model selection is "the final epoch"; validation is
reported every epoch so a reader can see over- or under-fitting, not to pick a winner.

One concern past 400 lines, the engine (state, step, epoch, resume, save); what to train is
``utils.recipe``, and the numeric path is ``utils.numeric_path``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn
from tqdm.auto import tqdm

from utils.atomic_files import atomic_torch_save, atomic_write_json
from utils.augment import training_batch
from utils.checkpoints import (
    CheckpointError,
    load_state_dict_strict,
    read_checkpoint,
    save_model_checkpoint,
)
from utils.data import MNISTSplits, normalization_stats, normalize
from utils.distill import Teacher, distillation_loss, load_teacher, teacher_records
from utils.evaluate import loss_and_accuracy
from utils.models import build_model, count_parameters
from utils.numeric_path import NumericPath, cpu_supports_bf16, resolve_numeric_path
from utils.paths import resolve_device
from utils.recipe import TrainConfig, learning_rate_at, make_optimizer
from utils.run_files import HISTORY_FILE, MODEL_FILE, STATE_FILE


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` where there is one): run metadata and the
    benchmark say which processor produced their numbers."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


@dataclass
class FitResult:
    model: nn.Module
    history: list[dict[str, float]]
    config: TrainConfig
    run_dir: Path | None
    normalization: tuple[float, float]
    diverged_at_epoch: int | None = None  # the epoch whose training loss stopped being finite


@dataclass
class TrainingState:
    """Everything that changes during a run and is saved in ``last.pt`` after each epoch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: EMA | None
    generator: torch.Generator
    history: list[dict[str, float]] = field(default_factory=list)
    swa: AveragedModel | None = None  # torch's uniform average, for stochastic weight averaging

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def to_dict(self, config: TrainConfig, device: torch.device, numeric: NumericPath,
                teachers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "epoch": self.epochs_done,
            "config": config.to_dict(),
            "numeric_path": asdict(numeric),
            "teachers": teachers or [],
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state if self.ema is not None else None,
            "swa": self.swa.state_dict() if self.swa is not None else None,
            "rng": _rng_state(self.generator, device),
            "history": self.history,
        }

    def final_model(self, arch: str, device: torch.device) -> nn.Module:
        """The weights a run hands on: the EMA average when one is kept, the SWA average once
        it holds an epoch, else the raw model."""
        if self.swa is not None and int(self.swa.n_averaged) > 0:
            weights = self.swa.module.state_dict()
        elif self.ema is not None:
            weights = self.ema.state
        else:
            return self.model
        averaged = build_model(arch).to(device)
        averaged.load_state_dict(weights)
        return averaged


def diverged(record: dict[str, float]) -> bool:
    """Whether an epoch's record shows a diverged run: its training loss is NaN or infinite."""
    return not math.isfinite(record["train_loss"])


def diverged_at_epoch(history: list[dict[str, float]]) -> int | None:
    """The epoch whose training loss was no longer a finite number, if any: from there on the
    weights are NaN or infinite and no further epoch can bring the run back."""
    return next((int(r["epoch"]) for r in history if diverged(r)), None)


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
            f"device={saved_type!r}, or start a new run in another run_dir."
        )
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and "torch_cuda" in state:
        torch.cuda.set_rng_state(state["torch_cuda"], device)


STATE_KEYS = ("epoch", "config", "model", "optimizer", "ema", "rng", "history")


def settings_that_differ(saved: dict[str, Any], now: dict[str, Any],
                         free: tuple[str, ...] = ("device",)) -> list[str]:
    """``name: saved -> now`` for each setting that differs, except the ``free`` ones (the
    device may change on resume)."""
    saved, now = TrainConfig.from_dict(saved).to_dict(), TrainConfig.from_dict(now).to_dict()
    return [
        f"{key}: saved {saved.get(key)!r}, now {now.get(key)!r}"
        for key in sorted(set(saved) | set(now))
        if key not in free and saved.get(key) != now.get(key)
    ]


def numeric_path_change(saved: dict[str, Any], before: NumericPath, numeric: NumericPath,
                        config: TrainConfig) -> str:
    """Why resuming ``saved`` (which ran on path ``before``) with ``config``, whose switches give
    path ``numeric`` here, would switch the numeric path mid-run, and the switches that would
    continue it instead. The switches quoted are the ones asked for now, not the saved ones."""
    switch = {True: "'on'", False: "'off'"}
    return (f"its first {saved['epoch']} epoch(s) ran with {before.describe()}, but the "
            f"amp={config.amp!r}, channels_last={config.channels_last!r} asked for now give "
            f"{numeric.describe()} here. One run keeps one numeric path: resume with "
            f"amp={switch[before.bf16_autocast]}, channels_last={switch[before.channels_last]} "
            "(bf16 on a CPU without bf16 kernels is emulated, several times slower), or start "
            "over with resume=False or another run_dir")


def read_training_state(path: Path, config: TrainConfig, numeric: NumericPath,
                        teachers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``last.pt`` checked before use: it must be a training state of *this* run's settings,
    numeric path and (for distillation) teachers' checkpoints."""
    state = read_checkpoint(path)
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        finished = isinstance(state, dict) and "state_dict" in state and "arch" in state
        what = ("a finished model (model.pt), which holds weights but no optimiser or RNG state"
                if finished else f"not a training state (it lacks {', '.join(missing)})")
        raise CheckpointError(
            f"{path} is {what}, so the run cannot be resumed from it. Delete or move it and "
            "train with resume=False, or resume from the last.pt that fit() wrote."
        )
    # last.pt records the path taken, so the switches may be spelled differently on resume
    # ("auto" there, "on" here) as long as they give the same path: a run that "auto" started in
    # bf16 on a CPU with bf16 kernels continues on one without them only if that path is forced.
    # A last.pt written before the path was recorded has only its switches, which must match.
    recorded = NumericPath(**state["numeric_path"]) if "numeric_path" in state else None
    if recorded is not None and recorded != numeric:
        raise CheckpointError(
            f"{path} cannot be resumed here: {numeric_path_change(state, recorded, numeric, config)}."
        )
    hashes = [[t.get("sha256") for t in found or []] for found in (state.get("teachers"), teachers)]
    if "teachers" in state and teachers is not None and hashes[0] != hashes[1]:
        raise CheckpointError(
            f"{path} cannot be resumed: its first {state['epoch']} epoch(s) learnt from teacher "
            f"checkpoints with sha256 {hashes[0]}, the teachers given now are {hashes[1]}. One "
            "run keeps its teachers: restore them, or start over with resume=False or another "
            "run_dir.")
    free = ("device",) if recorded is None else ("device", "amp", "channels_last")
    differ = settings_that_differ(state["config"], config.to_dict(), free)
    if differ:
        raise CheckpointError(
            f"{path} was saved by a run with different settings ({'; '.join(differ)}). "
            "Use another run_dir, the saved settings, or resume=False to start over."
        )
    return state


def start_state(config: TrainConfig, device: torch.device, numeric: NumericPath) -> TrainingState:
    """A fresh, seeded model, optimiser, EMA and batch generator."""
    torch.manual_seed(config.seed)
    model = build_model(config.arch).to(device)
    if numeric.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return TrainingState(
        model=model,
        optimizer=make_optimizer(model, config),
        ema=EMA(model, config.ema_decay) if config.ema_decay > 0 else None,
        generator=torch.Generator(device=device).manual_seed(config.seed),
        swa=AveragedModel(model) if config.swa_epochs > 0 else None,
    )


def restore_state(state: TrainingState, saved: dict[str, Any], config: TrainConfig,
                  device: torch.device, source: Path) -> None:
    load_state_dict_strict(state.model, saved["model"], config.arch, str(source))
    state.optimizer.load_state_dict(saved["optimizer"])
    if state.ema is not None:
        state.ema.state = {k: v.to(device) for k, v in saved["ema"].items()}
    if state.swa is not None:
        state.swa.load_state_dict(saved["swa"])
    _restore_rng(saved["rng"], state.generator, device)
    state.history = list(saved["history"])


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    config: TrainConfig,
    numeric: NumericPath,
    teacher: Teacher | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step at learning rate ``lr`` on a batch that is already augmented and
    normalised: forward on the numeric path, label-smoothed (and distilled) loss, backward,
    step. Returns the loss and the logits."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    if numeric.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=numeric.bf16_autocast):
        logits = model(x)
        soft_targets = teacher.soft_targets(x) if teacher is not None else None
    # bf16 logits are scored in float32; float32 (or float64, the pinned history) as they are
    logits_for_loss = logits.to(torch.promote_types(logits.dtype, torch.float32))
    loss = F.cross_entropy(logits_for_loss, y, label_smoothing=config.label_smoothing)
    if soft_targets is not None:
        loss = ((1 - config.distill_weight) * loss + config.distill_weight
                * distillation_loss(logits, soft_targets, config.distill_temperature))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def train_one_epoch(
    state: TrainingState,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    normalization: tuple[float, float],
    numeric: NumericPath,
    progress: bool,
    teacher: Teacher | None = None,
) -> dict[str, float]:
    """One pass over the (device-resident, uint8) training images; returns the epoch's
    training loss, accuracy and last learning rate."""
    model, optimizer, generator = state.model, state.optimizer, state.generator
    device, epoch = images.device, state.epochs_done
    augment = config.augment.scaled(config.augment_strength)
    n_steps = math.ceil(len(labels) / config.batch_size)
    model.train()
    order = torch.randperm(len(labels), device=device, generator=generator)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    bar = tqdm(range(n_steps), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
               leave=False, unit="batch")
    lr = config.lr
    val_accs = [record["val_acc"] for record in state.history]
    for step_in_epoch in bar:
        lr = learning_rate_at(config, epoch * n_steps + step_in_epoch, n_steps, val_accs)
        idx = order[step_in_epoch * config.batch_size : (step_in_epoch + 1) * config.batch_size]
        x = training_batch(images[idx], augment, *normalization, generator=generator)
        y = labels[idx]
        loss, logits = training_step(model, optimizer, x, y, lr, config, numeric, teacher)
        if state.ema is not None:
            state.ema.update(model)
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        if progress and step_in_epoch % 20 == 0:
            seen = min((step_in_epoch + 1) * config.batch_size, len(labels))
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            acc=f"{100 * correct.item() / seen:.2f}%", lr=f"{lr:.3g}")
    bar.close()
    return {"train_loss": loss_sum.item() / len(labels),
            "train_acc": correct.item() / len(labels), "lr": lr}


def training_images(splits: MNISTSplits, config: TrainConfig,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The training split on ``device``, or its seeded ``train_subset``."""
    images, labels = splits.train_images.to(device), splits.train_labels.to(device)
    train_size = len(labels)
    if config.train_subset is not None and config.train_subset < train_size:
        chosen = torch.randperm(train_size, generator=torch.Generator().manual_seed(config.seed))
        chosen = chosen[: config.train_subset].sort().values.to(device)
        images, labels = images[chosen], labels[chosen]
    return images, labels


def average_epoch(swa: AveragedModel, model: nn.Module, images: torch.Tensor,
                  normalization: tuple[float, float], batch_size: int) -> None:
    """Add the weights at the end of an SWA epoch to the average, then recompute its
    BatchNorm statistics on the unaugmented training images: averaged weights give other
    activations than any of the weights averaged, so no run's running statistics fit them."""
    swa.update_parameters(model)
    batches = (normalize(images[i:i + batch_size], *normalization)
               for i in range(0, len(images), batch_size))
    update_bn(batches, swa)


def validated_epoch(state: TrainingState, train: tuple[torch.Tensor, torch.Tensor],
                    val: tuple[torch.Tensor, torch.Tensor], config: TrainConfig,
                    normalization: tuple[float, float], numeric: NumericPath, progress: bool,
                    teacher: Teacher | None) -> dict[str, float]:
    """One epoch of training, then the validation pass: the epoch's history record, timed."""
    started = time.perf_counter()
    trained = train_one_epoch(state, *train, config, normalization, numeric, progress, teacher)
    if state.swa is not None and state.epochs_done >= config.cycle_epochs:  # an SWA epoch
        average_epoch(state.swa, state.model, train[0], normalization, config.batch_size)
    val_started = time.perf_counter()
    val_loss, val_acc = loss_and_accuracy(state.final_model(config.arch, val[0].device), *val,
                                          *normalization)
    finished = time.perf_counter()
    return {"epoch": state.epochs_done + 1, "train_loss": trained["train_loss"],
            "train_acc": trained["train_acc"], "val_loss": val_loss, "val_acc": val_acc,
            "lr": trained["lr"], "seconds": finished - started,
            "val_seconds": finished - val_started}


def epoch_line(record: dict[str, float], epochs: int) -> str:
    """The line printed after each epoch."""
    return (f"epoch {record['epoch']:2d}/{epochs}  train loss {record['train_loss']:.4f} "
            f"acc {100 * record['train_acc']:.2f}%  val loss {record['val_loss']:.4f} "
            f"acc {100 * record['val_acc']:.2f}%  lr {record['lr']:.2e}  {record['seconds']:.1f}s")


def fit(
    config: TrainConfig,
    splits: MNISTSplits,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``config.arch`` on the training split, validating each epoch.

    With ``run_dir`` the full training state is saved atomically after every epoch
    (``last.pt``), and the final weights with metadata (``model.pt``) and the per-epoch
    ``history.json`` at the end. ``resume=True`` continues from ``last.pt`` exactly.
    ``on_epoch_end(record)``, if given, is called after each epoch's ``last.pt`` is written
    (live plots, early stopping by raising, or simulating an interruption in tests).
    """
    train_size = len(splits.train_labels)
    config.validate(train_size)
    device = resolve_device(config.device)
    numeric = resolve_numeric_path(config.amp, config.channels_last, device)
    run_dir = Path(run_dir) if run_dir is not None else None
    if resume and run_dir is None:
        raise ValueError("resume=True needs run_dir=... (where last.pt was saved).")
    say = log or (lambda _message: None)

    teachers = teacher_records(config.teacher)  # hashed as loaded, not as found at the end
    saved = None
    if resume and (run_dir / STATE_FILE).is_file():
        saved = read_training_state(run_dir / STATE_FILE, config, numeric, teachers)
    normalization = normalization_stats(splits.train_images)
    teacher = (load_teacher(config.teacher, config.distill_temperature, device, normalization,
                            numeric.channels_last) if config.teacher else None)
    state = start_state(config, device, numeric)
    images, labels = training_images(splits, config, device)
    val_images, val_labels = splits.val_images.to(device), splits.val_labels.to(device)
    if saved is not None:
        restore_state(state, saved, config, device, run_dir / STATE_FILE)
        say(f"Resumed {config.arch} from {run_dir / STATE_FILE} after epoch {state.epochs_done}.")
    elif resume:
        say(f"No {STATE_FILE} in {run_dir}: starting from scratch.")

    say(f"Training {config.arch} ({count_parameters(state.model):,} params) on {device} "
        f"({numeric.describe()}) for {config.epochs} epochs, {len(labels):,} images, "
        f"batch {config.batch_size}.")
    while state.epochs_done < config.epochs and diverged_at_epoch(state.history) is None:
        record = validated_epoch(state, (images, labels), (val_images, val_labels), config,
                                 normalization, numeric, progress, teacher)
        state.history.append(record)
        say(epoch_line(record, config.epochs))
        if run_dir is not None:
            atomic_torch_save(state.to_dict(config, device, numeric, teachers), run_dir / STATE_FILE)
        if on_epoch_end is not None:
            on_epoch_end(record)
    diverged_epoch = diverged_at_epoch(state.history)
    if diverged_epoch is not None:
        say(divergence_line(diverged_epoch, config))

    final_model = state.final_model(config.arch, device).eval()
    if run_dir is not None:
        save_run(run_dir, final_model, config, state.history, normalization, splits, numeric,
                 teachers)
    return FitResult(final_model, state.history, config, run_dir, normalization, diverged_epoch)


def divergence_line(epoch: int, config: TrainConfig) -> str:
    """What ``fit`` says when it stops a diverged run early."""
    return (f"Stopped after epoch {epoch} of {config.epochs}: the training loss is no longer a "
            "finite number, so the weights are not either and more epochs cannot recover them. "
            "The run is saved as it is (it did not learn); a lower learning rate (lr) or "
            "BatchNorm usually keeps a run from diverging.")


HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
# A diverged run's last record has losses that are not numbers: null in history.json (JSON has
# no NaN), NaN in memory, so a curve simply ends there.
LOSS_KEYS = ("train_loss", "val_loss")


def finite_or_none(value: float | None) -> float | None:
    """``value``, or None where it is NaN or infinite (what JSON can hold)."""
    return value if value is None or math.isfinite(value) else None


def history_for_json(history: list[dict[str, float]]) -> list[dict[str, float | None]]:
    return [{k: finite_or_none(v) if k in LOSS_KEYS else v for k, v in record.items()}
            for record in history]


def load_history(path: str | Path) -> list[dict[str, float]]:
    """Read a run's per-epoch ``history.json`` (give the file or the run folder).

    ``val_seconds`` (time of the validation pass) is recorded since the hardening refactor and
    is optional, so histories of the shipped, earlier runs still load.

    Checked on the way in, so a plot of a wrong or truncated file fails with its name. A null
    loss is read as NaN, and only in the last record: the epoch a run diverged, where ``fit``
    stopped it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No training history at {path}: train with fit(..., run_dir=...) first."
        )
    try:
        history = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}): the write "
                         "was interrupted or the file was edited. Restore it or retrain.") from None
    if not isinstance(history, list) or not history:
        raise ValueError(f"{path} should hold a non-empty list of per-epoch records.")
    for i, record in enumerate(history):
        missing = [k for k in HISTORY_KEYS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"{path}: epoch record {i} lacks {missing}.")
        last_of_diverged = i == len(history) - 1 and record["train_loss"] is None
        if last_of_diverged:
            for key in LOSS_KEYS:
                record[key] = math.nan if record[key] is None else record[key]
        bad = [k for k in HISTORY_KEYS if isinstance(record[k], bool)
               or not isinstance(record[k], int | float)
               or not (math.isfinite(record[k]) or (k in LOSS_KEYS and last_of_diverged))]
        if bad:
            raise ValueError(f"{path}: epoch record {i} has {', '.join(bad)} that is not a finite "
                             "number, and it is not the last epoch of a diverged run (fit stops "
                             "a run there): the file is damaged. Restore it or retrain.")
    return history


def device_name(device: torch.device) -> str:
    """``cpu`` or ``cuda (NVIDIA H200)``: results tables say which card produced them."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def save_run(
    run_dir: Path,
    model: nn.Module,
    config: TrainConfig,
    history: list[dict[str, float]],
    normalization: tuple[float, float],
    splits: MNISTSplits,
    numeric: NumericPath,
    teachers: list[dict[str, Any]] | None = None,
) -> None:
    last = history[-1] if history else {}
    train_size = len(splits.train_labels)
    metadata = {
        "config": config.to_dict(),
        "epochs": len(history),
        "seed": config.seed,
        "normalization": {"mean": normalization[0], "std": normalization[1]},
        "data_split": {"train": train_size, "train_used": config.train_subset or train_size,
                       "val": len(splits.val_labels), "val_source": splits.val_source},
        "val_acc": last.get("val_acc"),
        "val_loss": finite_or_none(last.get("val_loss")),
        "diverged_at_epoch": diverged_at_epoch(history),
        "train_seconds": sum(r["seconds"] for r in history),
        "device": device_name(resolve_device(config.device)),
        "cpu": cpu_model(),
        # bf16 autocast also runs on CPUs without bf16 kernels (emulated, several times slower):
        # record which, so a comparison of numeric paths can say what hardware it rests on.
        "precision": {"forward": numeric.forward,
                      "channels_last": numeric.channels_last,
                      "cpu_bf16_kernels": cpu_supports_bf16()},
        # the checkpoints the student learnt from, by content: a path can be given a new file
        "teachers": teacher_records(config.teacher) if teachers is None else teachers,
    }
    save_model_checkpoint(run_dir / MODEL_FILE, model, config.arch, metadata)
    atomic_write_json(history_for_json(history), run_dir / HISTORY_FILE)
