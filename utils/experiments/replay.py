"""Does this machine train like the one that made a run? Re-train the run's first epoch here and
compare it with the run's own history, digit for digit::

    python -m utils.experiments.replay results/runs/sep8k-e30/seed3 [--mnist-root DIR]

Two runs of one seed pair up seed for seed only if they trained with the same arithmetic
(notebook 07, section 4m): on another CPU model or on a GPU the same seed gives another run.
The first epoch is enough to tell, since rounding differences already show in its training loss.
The replay trains on one thread, as the sweep's workers do.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import torch

from utils.data import MNISTSplits, load_mnist_splits
from utils.experiments.cli import add_mnist_root
from utils.experiments.run_store import checkpoint_header, machine_of, numeric_path_of
from utils.paths import resolve_device
from utils.recipe import TrainConfig
from utils.run_files import FLOAT32, HISTORY_FILE, MODEL_FILE, RunFolderError
from utils.train import cpu_model, fit, load_history

COMPARED = ("train_loss", "train_acc", "val_loss", "val_acc")  # a history record's numbers


class _FirstEpochDone(Exception):
    """Raised from ``fit``'s epoch hook: the replay needs one epoch of the run's own schedule."""


class RecordedRun(NamedTuple):
    """What a finished run folder says about its first epoch, read and checked once."""

    path: Path
    config: TrainConfig  # on the numeric path the run took, not what "auto" picks here
    trained_on: str
    first_epoch: dict[str, float]


def recorded_run(run_dir: Path) -> RecordedRun:
    """The run's config, where it trained and its first epoch, checked before any training."""
    if not (run_dir / MODEL_FILE).is_file() or not (run_dir / HISTORY_FILE).is_file():
        raise RunFolderError(f"{run_dir} has no {MODEL_FILE} and {HISTORY_FILE}: give a finished "
                             "run folder of the sweep (for example results/runs/sep8k-e30/seed3).")
    metadata = checkpoint_header(run_dir / MODEL_FILE)["metadata"]
    if not isinstance(metadata.get("config"), dict):
        raise RunFolderError(f"{run_dir / MODEL_FILE} does not record its config: it was saved "
                             "by an older engine, and its run cannot be replayed.")
    numeric = numeric_path_of(metadata)
    if "forward" not in numeric:
        raise RunFolderError(f"{run_dir / MODEL_FILE} does not record its numeric path (float32 "
                             "or bfloat16): a replay could not take the same one.")
    config = replace(TrainConfig.from_dict(metadata["config"]),
                     amp="off" if numeric["forward"] == FLOAT32 else "on",
                     channels_last="on" if numeric["channels_last"] else "off")
    config.validate()
    resolve_device(config.device)
    return RecordedRun(run_dir, config,
                       machine_of(metadata) or f"{metadata.get('device')} (model not recorded)",
                       load_history(run_dir / HISTORY_FILE)[0])


def first_epoch(config: TrainConfig, splits: MNISTSplits) -> dict[str, float]:
    """Epoch 1 of ``config``'s full schedule (its rate depends on the epochs that follow)."""
    records: list[dict[str, float]] = []

    def stop(record: dict[str, float]) -> None:
        records.append(record)
        raise _FirstEpochDone

    try:
        fit(config, splits, progress=False, log=None, on_epoch_end=stop)
    except _FirstEpochDone:
        pass
    return records[0]


def replay(run: RecordedRun, splits: MNISTSplits) -> dict[str, Any]:
    """The run's first epoch trained here beside its recorded one, and whether every number
    agrees exactly (then this machine's arithmetic is the run's)."""
    here = first_epoch(run.config, splits)
    device = resolve_device(run.config.device)
    return {"run": str(run.path), "trained on": run.trained_on,
            "replayed on": cpu_model() if device.type == "cpu" else torch.cuda.get_device_name(device),
            "recorded": {k: run.first_epoch[k] for k in COMPARED},
            "here": {k: here[k] for k in COMPARED},
            "identical": all(here[k] == run.first_epoch[k] for k in COMPARED)}


def report(result: dict[str, Any]) -> str:
    lines = [f"{result['run']}: trained on {result['trained on']}, replayed on {result['replayed on']}",
             f"{'epoch 1':<12}{'recorded':>22}{'here':>22}"]
    lines += [f"{k:<12}{result['recorded'][k]!r:>22}{result['here'][k]!r:>22}" for k in COMPARED]
    lines.append("identical: this machine trains this run's seed as its own machine did"
                 if result["identical"] else
                 "different: a run of this seed trained here is another run, not its twin")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished run folder (holding model.pt)")
    add_mnist_root(parser)
    args = parser.parse_args(argv)
    try:
        run = recorded_run(args.run)
    except (RunFolderError, ValueError) as exc:
        parser.error(str(exc))
    torch.set_num_threads(1)
    print(report(replay(run, load_mnist_splits(args.mnist_root))))


if __name__ == "__main__":
    main()
