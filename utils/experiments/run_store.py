"""Run folders: which runs are finished, what made each one, and which may stand together.

A runs root holds ``<run name>/seed<N>/`` folders (written by utils.experiments.sweep and utils.experiments.ablations).
A run is finished when its ``metrics.json`` is written, and ``run.json`` beside it records what
made it: the full config, the data split, the numeric path, torch, and the sha256 of each
distillation teacher's checkpoint. Runs finished before ``run.json`` existed are read from what
they did record (their ``model.pt`` metadata, else their ``metrics.json``), so committed results
keep working without being rewritten.

Every reader of run folders (sweep tables, numeric-path comparisons, the frontier's per-seed
pairs) walks them here, so all refuse the same things: a metrics file that is corrupt, empty,
incomplete or holds NaN (named), a folder that is not ``seed<N>`` counted as a seed (it is
listed as not counted instead), a missing or empty runs root, and runs of different settings
counted as seeds of one recipe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.checkpoints import read_checkpoint
from utils.distill import teacher_records
from utils.numeric_path import resolve_numeric_path
from utils.paths import resolve_device
from utils.recipe import TrainConfig
from utils.run_files import (
    FLOAT32,
    METRICS_FILE,
    METRICS_KEYS,
    MODEL_FILE,
    RECORD_FILE,
    RunFolderError,
    read_json,
    read_metrics,
)

CONTROL = "control"  # the variant name of a recipe as shipped, in every study
SEED_FOLDER = re.compile(r"seed(0|[1-9][0-9]*)")
# What seeds of one recipe may differ in: the seed (the folder), the device (tables name it:
# the same recipe on other hardware is a replication) and torch (recorded for the reader). The
# amp/channels_last switches are compared as the numeric path they gave, not as spelled: "auto"
# is float32 on one CPU and bfloat16 on another.
NOT_COMPARED = ("seed", "device", "amp", "channels_last")
# The option of utils.experiments.sweep (and the ablations) that keeps runs of other settings apart.
KEEP_APART = ("keep runs of other settings apart with another --runs-root (tables and figures "
              "go beside it), or ask for the finished run's settings")


class SettingsMismatch(ValueError):
    """Two runs (or a run and the settings asked for) differ in what made them."""


# ------------------------------------------------------------------ walking a runs root
@dataclass(frozen=True)
class FinishedRun:
    """One ``<runs root>/<name>/seed<N>/`` with a checked ``metrics.json``."""

    folder: Path
    name: str  # the run name: ``arch`` or ``arch-variant``
    seed: int
    metrics: dict[str, Any]


@dataclass(frozen=True)
class RunsScan:
    """The finished runs under a root, and every other entry with the reason it is not one."""

    root: Path
    finished: list[FinishedRun] = field(default_factory=list)
    not_counted: list[str] = field(default_factory=list)

    def of(self, name: str) -> list[FinishedRun]:
        return [run for run in self.finished if run.name == name]


def seed_of(folder_name: str) -> int | None:
    """``seed7`` -> 7; anything else (``seed0_backup``, ``seed07``, ``seeds``) -> None."""
    match = SEED_FOLDER.fullmatch(folder_name)
    return int(match.group(1)) if match else None


def require_runs_root(root: Path, option: str = "--runs-root") -> None:
    """A runs root must be an existing folder: a typo must not give empty tables."""
    if not root.exists():
        raise RunFolderError(f"{option} {root} does not exist: check the spelling (the course's "
                             "runs are in results/runs).")
    if not root.is_dir():
        raise RunFolderError(f"{option} {root} is a file, not a folder of runs.")


def scan_runs(root: Path, required: Sequence[str] = METRICS_KEYS,
              names: Sequence[str] | None = None) -> RunsScan:
    """Every ``<name>/seed<N>/metrics.json`` under ``root`` (only the run ``names`` if given),
    checked. Hidden entries (``.locks``) and files beside the run folders (tables) are skipped;
    any other folder entry that is not a finished ``seed<N>`` run is listed in ``not_counted``
    with the reason."""
    scan = RunsScan(root)
    if not root.is_dir():
        return scan
    for run_dir in sorted(root.iterdir()):
        if run_dir.name.startswith(".") or not run_dir.is_dir():
            continue
        if names is not None and run_dir.name not in names:
            continue
        for entry in sorted(run_dir.iterdir()):
            seed = seed_of(entry.name)
            if seed is None or not entry.is_dir():
                scan.not_counted.append(f"{entry}: not a seed<N> folder")
            elif not (entry / METRICS_FILE).is_file():
                scan.not_counted.append(f"{entry}: not finished (no {METRICS_FILE})")
            else:
                metrics = read_metrics(entry / METRICS_FILE, required)
                if "seed" in metrics and metrics["seed"] != seed:
                    raise RunFolderError(
                        f"{entry / METRICS_FILE} records seed {metrics['seed']} but lies in "
                        f"{entry.name}/: it was copied or renamed. Move it back to "
                        f"seed{metrics['seed']}/ or away from {root}.")
                scan.finished.append(FinishedRun(entry, run_dir.name, seed, metrics))
    return scan


def odd_entries(scan: RunsScan) -> list[str]:
    """The entries that look like runs but are not counted, with the reason; unfinished runs
    (a sweep in progress) are expected and left out."""
    return [entry for entry in scan.not_counted if not entry.endswith(f"(no {METRICS_FILE})")]


def require_finished(scan: RunsScan, option: str = "--runs-root") -> None:
    """A root with no finished run is an error (it would write tables with headers only)."""
    if not scan.finished:
        others = "; ".join(scan.not_counted[:5])
        raise RunFolderError(
            f"{option} {scan.root} holds no finished run (no <name>/seed<N>/{METRICS_FILE})"
            + (f"; found {others}" if others else "") + ". Check the path, or train runs first.")


# ------------------------------------------------------------------ what made a run
def numeric_path_of(metadata: dict[str, Any]) -> dict[str, Any]:
    """The forward pass's number format and memory format a checkpoint records. Runs saved
    before the engine recorded them trained in float32 NCHW on the CPU; on another device
    the path is not known, and nothing is assumed."""
    precision = metadata.get("precision")
    if isinstance(precision, dict):
        return {"forward": precision.get("forward"),
                "channels_last": bool(precision.get("channels_last", False))}
    if metadata.get("device") == "cpu":
        return {"forward": FLOAT32, "channels_last": False}
    return {}


def record_of_checkpoint(info: dict[str, Any]) -> dict[str, Any]:
    """What ``run.json`` holds, from a model checkpoint's header (``load_model_checkpoint``'s
    info): the full config, data split, numeric path, torch, device and teachers."""
    meta = info.get("metadata") or {}
    record = {"config": meta.get("config"), "data_split": meta.get("data_split"),
              "numeric_path": numeric_path_of(meta), "torch_version": info.get("torch_version"),
              "device": meta.get("device"), "arch": info.get("arch")}
    if "teachers" in meta:
        record["teachers"] = meta["teachers"]
    return record


def split_sizes(data_split: dict[str, Any]) -> dict[str, Any]:
    """The sizes of a recorded data split. Early runs wrote the validation split as words
    (``"5,000 stratified from the 60k training images (split seed 0)"``): its size is read from
    them; the wording itself changed between versions and is not compared."""
    sizes = {k: data_split.get(k) for k in ("train", "train_used", "val")}
    if isinstance(sizes["val"], str):
        count = re.match(r"[\d,]+", sizes["val"])
        sizes["val"] = int(count.group(0).replace(",", "")) if count else sizes["val"]
    return sizes


def settings_of_record(record: dict[str, Any]) -> dict[str, Any]:
    """The settings two runs must share to be seeds of one recipe, flat and comparable: the
    config (less ``NOT_COMPARED``), the numeric path, the data split and, where recorded, the
    teachers' checkpoint hashes."""

    settings: dict[str, Any] = {}
    if isinstance(record.get("config"), dict):
        config = TrainConfig.from_dict(record["config"]).to_dict()
        settings = {k: v for k, v in config.items() if k not in NOT_COMPARED}
        settings["teacher"] = list(config["teacher"])
    elif record.get("arch"):
        settings["arch"] = record["arch"]
    numeric = record.get("numeric_path") or {}
    if "forward" in numeric:
        settings["forward pass"] = numeric["forward"]
    if "channels_last" in numeric:
        settings["memory format"] = "channels_last" if numeric["channels_last"] else "NCHW"
    if isinstance(record.get("data_split"), dict):
        settings["data split"] = split_sizes(record["data_split"])
    teachers = record.get("teachers")
    if teachers:
        settings["teacher sha256"] = [t.get("sha256") for t in teachers]
    return settings


def settings_of_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """What a run that kept neither ``run.json`` nor ``model.pt`` (an ablation) recorded."""
    settings = {k: metrics[k] for k in ("arch", "epochs", "batch_size") if k in metrics}
    if isinstance(metrics.get("precision"), str):
        settings["forward pass"] = metrics["precision"]
    return settings


def run_settings(folder: Path, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """What made the run in ``folder``: its ``run.json``, else its ``model.pt`` header, else its
    ``metrics.json``: the most complete record it has."""
    record_path = folder / RECORD_FILE
    if record_path.is_file():
        record = read_json(record_path, "run record")
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise RunFolderError(f"{record_path} should hold the run's config: restore it "
                                 "(e.g. from git) or move the seed folder away and re-run it.")
        return settings_of_record(record)
    if (folder / MODEL_FILE).is_file():
        return settings_of_record(record_of_checkpoint(checkpoint_header(folder / MODEL_FILE)))
    if metrics is None:
        metrics = read_metrics(folder / METRICS_FILE)
    return settings_of_metrics(metrics)


def checkpoint_header(path: Path) -> dict[str, Any]:
    """A model checkpoint without its weights (arch, torch, metadata), read safely."""

    payload = read_checkpoint(path)
    if not isinstance(payload, dict) or "metadata" not in payload:
        raise RunFolderError(f"{path} is not a model.pt written by the training engine (no "
                             "metadata): its run cannot say what made it.")
    return {k: v for k, v in payload.items() if k != "state_dict"}


def machine_of(record: dict[str, Any]) -> str | None:
    """Where a run trained, as far as its record (checkpoint metadata, or metrics) says: the
    GPU's name, or the CPU's model. Pairing two runs by seed removes seed noise only on one
    machine, and "cpu" alone does not say which; None for a CPU run saved before checkpoints
    recorded the CPU model."""
    device = str(record.get("device") or "")
    return device if device.startswith("cuda") else record.get("cpu")


def run_record(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """What a finished run recorded of itself: its checkpoint's metadata, or its metrics
    without a checkpoint."""
    checkpoint = run_dir / MODEL_FILE
    return checkpoint_header(checkpoint)["metadata"] if checkpoint.is_file() else metrics


def same_machine(first: dict[str, Any], second: dict[str, Any]) -> bool | None:
    """Whether two run records (``run_record``) trained on one machine: False for a GPU and a
    CPU, or for two different GPUs or CPU models; None when a CPU run did not record its model."""
    if str(first.get("device", "")).startswith("cuda") != str(second.get("device", "")).startswith("cuda"):
        return False
    machines = machine_of(first), machine_of(second)
    return None if None in machines else machines[0] == machines[1]


def expected_settings(config: Any) -> dict[str, Any]:
    """The settings a run of ``config`` (a TrainConfig) will record, known before it trains:
    the numeric path ``"auto"`` resolves to here, and the teachers' current checkpoints."""

    numeric = resolve_numeric_path(config.amp, config.channels_last, resolve_device(config.device))
    return settings_of_record({
        "config": config.to_dict(),
        "numeric_path": {"forward": numeric.forward, "channels_last": numeric.channels_last},
        "teachers": teacher_records(config.teacher),
    })


def settings_differences(first: dict[str, Any], second: dict[str, Any],
                         labels: tuple[str, str] = ("first", "second"),
                         ignore: Sequence[str] = ()) -> list[str]:
    """``name: first X, second Y`` for each setting both record and that differs. A setting
    only one side recorded (a run older than the record) is not compared."""
    return [f"{key}: {labels[0]} {first[key]!r}, {labels[1]} {second[key]!r}"
            for key in sorted(set(first) & set(second))
            if key not in ignore and first[key] != second[key]]


def refuse_other_settings(path: Path, finished: dict[str, Any], asked: dict[str, Any],
                          how: str) -> None:
    """A finished run stands for what is asked only if what made it matches; else it is
    refused (neither reused nor trained over), naming the differences and ``how`` to ask for
    the finished run's settings (the command's own options)."""
    differ = settings_differences(finished, asked, ("finished", "asked"))
    if differ:
        raise SettingsMismatch(
            f"{path} is a finished run of other settings than asked ({'; '.join(differ)}). "
            f"It is neither reused nor trained over: {KEEP_APART} ({how}). Nothing was "
            "trained.")


def check_one_recipe(runs: Sequence[FinishedRun], settings: Sequence[dict[str, Any]],
                     what: str = "a table row") -> None:
    """Refuse to count runs of different settings as seeds of one recipe, naming both."""
    for i, (run_a, settings_a) in enumerate(zip(runs, settings, strict=True)):
        for run_b, settings_b in zip(runs[i + 1:], settings[i + 1:], strict=True):
            differ = settings_differences(settings_a, settings_b,
                                          (run_a.folder.name, run_b.folder.name))
            if differ:
                raise SettingsMismatch(
                    f"{run_a.folder} and {run_b.folder} were made with different settings "
                    f"({'; '.join(differ)}): {what} never mixes settings. Move the odd run to "
                    "another runs root (e.g. results/<study>/runs).")
