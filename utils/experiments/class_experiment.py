"""A class experiment: each student trains one (variant, seed) of notebook 05's ablations and
hands in one small result file; the instructor merges the class's files and gets notebook 05's
run-level paired analysis of them::

    python -m utils.experiments.class_experiment run --variant aug0 --seed 1 --out aug0-seed1.json
    python -m utils.experiments.class_experiment run --variant control --seed 1 --epochs 3 \\
        --train-subset 10000 --out control-seed1.json          # a class with little time
    python -m utils.experiments.class_experiment run --from-run results/ablations/primary19k-aug0/seed0 \\
        --out aug0-seed0.json                                  # export a finished ablation run
    python -m utils.experiments.class_experiment merge handed_in/ --out class.md

A result file (JSON, about 7 kB) holds the final-epoch validation metrics, the 5,000
validation predictions as a string of digits with their sha256, and what made them: the full
config, the seed, the data split (with the sha256 of its validation labels), the numeric path
as resolved, torch, the device and the CPU. ``run`` trains through the ablation engine itself
(``utils.experiments.ablations``: same variants, same finishing), so a class's runs are ablation runs.

``merge`` refuses, naming the files: a file that is not a valid result, predictions that do not
match their sha256 or their recorded accuracy, the same (variant, seed) or the same predictions
handed in twice, files whose settings differ other than in variant and seed, and a variant seed
without the control at that seed (the comparison is paired by seed). Then it runs notebook 05's
analysis (``utils.experiments.ablations.compare_to_control`` and ``markdown_report``) on the files.

One module past 400 lines because ``run`` and ``merge`` share the hand-in file's format, and
most of its length is the named refusals, each a small function of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from utils.atomic_files import atomic_write_json, atomic_write_text
from utils.data import DEFAULT_VAL_SIZE, MNISTSplits, load_mnist_splits
from utils.experiments import ablations
from utils.experiments.ablations import ABLATIONS, ARCH, CONTROL, PREDICTIONS_FILE
from utils.experiments.cli import (
    add_amp,
    add_device,
    add_mnist_root,
    add_no_progress,
    non_negative_int,
    positive_int,
)
from utils.experiments.run_store import (
    RECORD_FILE,
    read_json,
    read_metrics,
    seed_of,
    settings_differences,
    settings_of_record,
)
from utils.experiments.sweep import (
    METRICS_FILE,
    RunSpec,
    run_folder,
    run_name,
)
from utils.experiments.tables import markdown_table
from utils.paths import REPO_ROOT, check_output_file, is_within
from utils.recipe import MAX_SEED, TrainConfig
from utils.run_files import FLOAT32, non_finite
from utils.train import HISTORY_FILE, cpu_model, load_history

FORMAT = "tiny-cnn class experiment result"
FORMAT_VERSION = 1
STUDY = f"ablations of {ARCH} (utils.experiments.ablations), validation split only"
TRAIN_SIZE = 60_000 - DEFAULT_VAL_SIZE  # the training split every run draws from
CLASS_AMP = "off"  # float32 on every laptop: "auto" would mix numeric paths within a class
NUMBERS = ("val_acc", "val_loss", "train_seconds", "params", "epochs", "batch_size")
RESULT_KEYS = ("format", "format_version", "variant", "seed", "class_options", "config",
               "data_split", "numeric_path", "torch_version", "device", "metrics", "predictions",
               "predictions_sha256")


class ResultFileError(ValueError):
    """A result file that cannot be merged; the message names it and says what to do."""


# ------------------------------------------------------------------ hashing
def digits_of(values: torch.Tensor) -> str:
    """Class indices as one digit each: the compact form of predictions (and labels)."""
    return "".join(str(int(d)) for d in values.tolist())


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# ------------------------------------------------------------------ planning a run
def plan_class_run(variant: str, seed: int, epochs: int | None, train_subset: int | None,
                   device: str, amp: str) -> RunSpec:
    """The ablation run a student is asked for, validated before MNIST loads. ``epochs`` and
    ``train_subset`` shorten it for a class with little time (every file of a class must use
    the same ones); a variant that is itself about the number of epochs keeps its own."""
    spec = ablations.plan_ablations([variant], [seed], device, amp)[0]
    if epochs is not None and "epochs" in ABLATIONS[variant].settings:
        raise ValueError(f"--epochs {epochs}: variant {variant} is about the number of epochs "
                         f"({ABLATIONS[variant].changed}); run it without --epochs, or leave "
                         "this variant out of a class that shortens training.")
    config = replace(spec.config, epochs=epochs or spec.config.epochs, train_subset=train_subset)
    config.validate(TRAIN_SIZE)
    return replace(spec, config=config)


def check_new_output(path: Path) -> Path:
    """A result file is written once: an existing one (perhaps handed in already) is never
    overwritten."""
    if path.suffix != ".json":
        raise ValueError(f"--out {path}: name a .json file, e.g. aug0-seed1.json (merge reads "
                         "the .json files of a folder).")
    if path.exists():
        raise ValueError(f"--out {path} exists: a result file is never overwritten. Choose "
                         "another name, or move the old file away if it is not needed.")
    return check_output_file(path, "--out")


def check_run_folder(path: Path) -> Path:
    """``--from-run`` names one finished ablation run: ``<root>/primary19k[-variant]/seed<N>``."""
    if not (path / METRICS_FILE).is_file():
        raise ValueError(f"--from-run {path} is not a finished ablation run (no {METRICS_FILE}):"
                         f" pass a folder such as results/ablations/{run_name(ARCH, 'aug0')}/seed0.")
    return path


# ------------------------------------------------------------------ a run folder -> a result
def rebuilt_config(variant: str, seed: int, metrics: dict[str, Any]) -> TrainConfig:
    """The config of a run that kept no ``run.json`` (the committed ablation runs), from the
    variant's definition; refused if its recorded epochs say it was made otherwise."""
    config = ablations.plan_ablations([variant], [seed], "auto", "auto")[0].config
    if metrics["epochs"] != config.epochs:
        raise ResultFileError(f"The run of {variant} seed {seed} trained {metrics['epochs']} "
                              f"epochs, but its variant defines {config.epochs}, and it kept no "
                              f"{RECORD_FILE} saying what made it: it cannot be exported.")
    return config


def numeric_path_of_metrics(metrics: dict[str, Any], config: TrainConfig) -> dict[str, Any]:
    """The numeric path a run without ``run.json`` recorded: the forward pass it names; in
    float32 the ``auto`` memory format is NCHW (the engine's rule), else it is not known."""
    forward = metrics["precision"]
    known = {"on": True, "off": False}
    if forward == FLOAT32 and config.channels_last == "auto":
        return {"forward": forward, "channels_last": False}
    return {"forward": forward, "channels_last": known.get(config.channels_last)}


def class_options(config: TrainConfig, variant: str) -> dict[str, Any]:
    """How a class shortened the variant's recipe (``None``: not shortened)."""
    default = ablations.plan_ablations([variant], [config.seed], "auto", "auto")[0].config
    return {"epochs": None if config.epochs == default.epochs else config.epochs,
            "train_subset": config.train_subset}


def run_identity(folder: Path) -> tuple[str, int, dict[str, Any]]:
    """The variant, seed and checked metrics of an ablation run folder, refused if the folder
    and its metrics disagree (a copied or renamed run)."""
    if "variant" not in (read_json(folder / METRICS_FILE, "metrics file") or {}):
        raise ResultFileError(f"{folder} is not an ablation run (its {METRICS_FILE} names no "
                              "variant): export runs of python -m utils.experiments.ablations, such as "
                              f"results/ablations/{run_name(ARCH, 'aug0')}/seed0.")
    metrics = read_metrics(folder / METRICS_FILE, ablations.METRICS_KEYS)
    variant, seed = metrics["variant"], metrics["seed"]
    if variant not in ABLATIONS:
        raise ResultFileError(f"{folder / METRICS_FILE} records variant {variant!r}, which is "
                              f"not one of utils.experiments.ablations.ABLATIONS ({', '.join(ABLATIONS)}).")
    if folder.parent.name != run_name(ARCH, variant) or seed_of(folder.name) != seed:
        raise ResultFileError(f"{folder / METRICS_FILE} records {variant} seed {seed} but lies "
                              f"in {folder.parent.name}/{folder.name}/: it was copied or "
                              f"renamed. Export it from {run_name(ARCH, variant)}/seed{seed}/.")
    return variant, seed, metrics


def final_epoch(folder: Path, epochs: int) -> dict[str, Any] | None:
    """The last record of the run's ``history.json`` (None if the run kept none)."""
    if not (folder / HISTORY_FILE).is_file():
        return None
    history = load_history(folder / HISTORY_FILE)
    if len(history) != epochs:
        raise ResultFileError(f"{folder / HISTORY_FILE} holds {len(history)} epochs but "
                              f"{folder / METRICS_FILE} records {epochs}. {ablations.RESTORE}")
    return history[-1]


def result_of_run(folder: Path, splits: MNISTSplits, made_by: dict[str, Any],
                  cpu: str | None = None) -> dict[str, Any]:
    """One finished ablation run as a result file: its metrics, its checked predictions and
    what made it (its ``run.json`` where it has one, else rebuilt from the variant)."""
    variant, seed, metrics = run_identity(folder)
    predictions = digits_of(ablations.checked_predictions(folder.parent.parent, variant, seed,
                                                          splits.val_labels))
    data_split = {"train": len(splits.train_labels), "val": len(splits.val_labels),
                  "val_source": splits.val_source}
    if (folder / RECORD_FILE).is_file():
        record = read_json(folder / RECORD_FILE, "run record")
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ResultFileError(f"{folder / RECORD_FILE} should hold the run's config. "
                                  f"{ablations.RESTORE}")
        config = TrainConfig.from_dict(record["config"])
        numeric_path, source = record["numeric_path"], RECORD_FILE
        data_split.update(record.get("data_split") or {})
    else:
        config = rebuilt_config(variant, seed, metrics)
        numeric_path = numeric_path_of_metrics(metrics, config)
        source = "utils.experiments.ablations.ABLATIONS (the run kept no run.json)"
    data_split["train_used"] = config.train_subset or data_split["train"]
    data_split["val_labels_sha256"] = sha256_text(digits_of(splits.val_labels))
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "study": STUDY,
        "variant": variant, "changed": ABLATIONS[variant].changed, "seed": seed,
        "class_options": class_options(config, variant),
        "config": config.to_dict(), "config_source": source,
        "data_split": data_split, "numeric_path": numeric_path,
        "torch_version": metrics["torch_version"], "device": metrics["device"], "cpu": cpu,
        "metrics": metrics, "final_epoch": final_epoch(folder, metrics["epochs"]),
        "predictions": predictions, "predictions_sha256": sha256_text(predictions),
        "made_by": made_by,
    }


def repo_relative(path: Path) -> str:
    """A path inside the repository as seen from its root (the same on every machine)."""
    if is_within(path, REPO_ROOT):
        return Path(os.path.relpath(path.resolve(), REPO_ROOT)).as_posix()
    return path.as_posix()


def write_new_json(result: dict[str, Any], path: Path) -> Path:
    """Write ``result`` to ``path`` whole or not at all, and never over an existing file (the
    link fails if another process wrote one meanwhile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".class-") as tmp:
        temp = atomic_write_json(result, Path(tmp) / path.name)
        try:
            os.link(temp, path)
        except FileExistsError:
            raise ResultFileError(f"{path} appeared while this run trained: it is not "
                                  "overwritten. Nothing was written.") from None
        except OSError:  # a file system without hard links: create it, still never over one
            with open(path, "x") as handle:
                handle.write(temp.read_text())
    return path


def train_result(spec: RunSpec, splits: MNISTSplits, progress: bool) -> dict[str, Any]:
    """Train ``spec`` through the ablation engine in a throw-away runs root, then export it."""
    with tempfile.TemporaryDirectory(prefix="class-run-") as tmp:
        ablations.run_ablation(spec, Path(tmp), splits, progress)
        return result_of_run(spec.path(Path(tmp)), splits, {"command": "run"}, cpu_model())


# ------------------------------------------------------------------ reading result files
@dataclass(frozen=True)
class Result:
    """One checked result file."""

    path: Path
    data: dict[str, Any]

    @property
    def variant(self) -> str:
        return self.data["variant"]

    @property
    def seed(self) -> int:
        return self.data["seed"]

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.variant} seed {self.seed})"


def schema_errors(data: Any) -> list[str]:
    """What makes ``data`` not a result file of this format (empty when it is one)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return [f"it is not a class experiment result (no \"format\": \"{FORMAT}\")"]
    if data.get("format_version") != FORMAT_VERSION:
        return [f"format_version {data.get('format_version')!r}, this merge reads "
                f"{FORMAT_VERSION}"]
    errors = [f"it lacks {key}" for key in RESULT_KEYS if key not in data]
    if errors:
        return errors
    seed, metrics = data["seed"], data["metrics"]
    if data["variant"] not in ABLATIONS:
        errors.append(f"variant {data['variant']!r} is not one of {', '.join(ABLATIONS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        errors.append(f"seed {seed!r} is not a whole number from 0")
    if not isinstance(metrics, dict):
        return [*errors, "metrics is not an object"]
    missing = [key for key in ablations.METRICS_KEYS if key not in metrics]
    errors += [f"metrics lack {', '.join(missing)}"] if missing else []
    errors += [f"metrics hold {', '.join(non_finite(metrics))}"] if non_finite(metrics) else []
    if (metrics.get("variant"), metrics.get("seed")) != (data["variant"], seed):
        errors.append("its metrics are of another variant or seed than the file says")
    errors += [f"metrics.{key} {metrics.get(key)!r} is not a number" for key in NUMBERS
               if isinstance(metrics.get(key), bool)
               or not isinstance(metrics.get(key, 0), int | float)]
    errors += [f"{key} {data[key]!r} is not text" for key in ("torch_version", "device")
               if not isinstance(data[key], str)]
    val_acc = metrics.get("val_acc")
    if isinstance(val_acc, bool) or not isinstance(val_acc, int | float) or not 0 <= val_acc <= 1:
        errors.append(f"metrics.val_acc {val_acc!r} is not an accuracy in [0, 1]")
    for key in ("config", "data_split", "numeric_path", "class_options"):
        if not isinstance(data[key], dict):
            errors.append(f"{key} is not an object")
    return errors


def prediction_errors(data: dict[str, Any]) -> list[str]:
    """Predictions that are not 5,000 digits, or that do not match their recorded sha256."""
    predictions = data["predictions"]
    if not isinstance(predictions, str) or not predictions.isdigit() or not predictions.isascii():
        return ["predictions should be a string of digits, one per validation image"]
    errors = []
    if len(predictions) != DEFAULT_VAL_SIZE:
        errors.append(f"{len(predictions):,} predictions, the validation split has "
                      f"{DEFAULT_VAL_SIZE:,} images")
    if sha256_text(predictions) != data["predictions_sha256"]:
        errors.append("the predictions do not match their predictions_sha256 (edited or "
                      "damaged after the run)")
    return errors


def read_result(path: Path) -> Result:
    """A result file, checked on its own: schema, prediction count and sha256."""
    try:
        data = read_json(path, "result file")
    except UnicodeDecodeError:
        raise ResultFileError(f"{path} is not text: it is not a result file.") from None
    errors = schema_errors(data)
    errors = errors or prediction_errors(data)
    if not errors:
        try:
            TrainConfig.from_dict(data["config"])
        except TypeError as exc:
            errors.append(f"config is not a TrainConfig ({exc})")
    if errors:
        raise ResultFileError(f"{path}: {'; '.join(errors)}. Ask for the file again as "
                              "python -m utils.experiments.class_experiment run wrote it.")
    return Result(path, data)


def result_paths(inputs: Sequence[Path]) -> list[Path]:
    """The files given, and the ``*.json`` files of each folder given (not recursive)."""
    paths: list[Path] = []
    for given in inputs:
        if given.is_dir():
            found = sorted(given.glob("*.json"))
            if not found:
                raise ResultFileError(f"{given} holds no .json result file.")
            paths += found
        elif given.is_file():
            paths.append(given)
        else:
            raise ResultFileError(f"{given} does not exist: check the spelling.")
    return paths


# ------------------------------------------------------------------ what merge refuses
def refuse_duplicates(results: Sequence[Result]) -> None:
    """The same (variant, seed) twice, or the same predictions under two names, would count
    one run twice."""
    problems = []
    for key, label in ((lambda r: (r.variant, r.seed), "the same variant and seed"),
                       (lambda r: r.data["predictions_sha256"], "identical predictions")):
        groups: dict[Any, list[Result]] = {}
        for result in results:
            groups.setdefault(key(result), []).append(result)
        problems += [f"{label}: {', '.join(r.label for r in group)}"
                     for group in groups.values() if len(group) > 1]
    if problems:
        raise ResultFileError("Duplicates: " + "; ".join(problems) + ". Each run counts once: "
                              "keep one file of each and ask for the missing runs.")


def class_settings(data: dict[str, Any]) -> dict[str, Any]:
    """What every file of one class must share: the run's settings (``utils.experiments.run_store``) less
    those its variant changes and its seed and device, plus the class options and torch's
    major version."""
    settings = settings_of_record({key: data[key] for key in
                                   ("config", "numeric_path", "data_split")})
    for key in ABLATIONS[data["variant"]].settings:
        settings.pop(key, None)
    options = data["class_options"]
    settings["--epochs"] = options.get("epochs")
    settings["--train-subset"] = options.get("train_subset")
    settings["torch major version"] = str(data["torch_version"]).split(".")[0]
    settings["validation labels sha256"] = data["data_split"].get("val_labels_sha256")
    return settings


def refuse_mixed_settings(results: Sequence[Result]) -> None:
    """Files made otherwise than the class's most common settings are named with what
    differs: a comparison would mix the variant's effect with theirs."""
    settings = [class_settings(r.data) for r in results]
    keys = [json.dumps(s, sort_keys=True, default=str) for s in settings]
    common = keys.index(Counter(keys).most_common(1)[0][0])
    odd = [f"{r.label}: " + "; ".join(settings_differences(settings[common], s,
                                                           ("class", "this file")))
           for r, s in zip(results, settings, strict=True)
           if settings_differences(settings[common], s)]
    if odd:
        raise ResultFileError(
            f"Files made with other settings than the class's (as in {results[common].label}), "
            "which may differ only in variant and seed: " + " | ".join(odd)
            + ". Ask for these runs again with the class's options, or merge them apart.")


def refuse_missing_pairs(results: Sequence[Result]) -> None:
    """The analysis pairs each variant seed with the control at the same seed."""
    control = {r.seed for r in results if r.variant == CONTROL}
    unpaired = [r for r in results if r.variant != CONTROL and r.seed not in control]
    if unpaired:
        seeds = sorted({r.seed for r in unpaired})
        raise ResultFileError(
            "The comparison is paired by seed, and the control is missing at "
            f"seed(s) {', '.join(map(str, seeds))}, needed by "
            f"{', '.join(r.label for r in unpaired)}. Hand in control at "
            f"{', '.join(f'seed {s}' for s in seeds)}, or leave those files out.")


def refuse_wrong_accuracy(results: Sequence[Result], val_labels: torch.Tensor) -> None:
    """Predictions must be of this validation split, and as right as their metrics say."""
    labels_sha = sha256_text(digits_of(val_labels))
    problems = []
    for result in results:
        if result.data["data_split"].get("val_labels_sha256") != labels_sha:
            problems.append(f"{result.label}: made on another validation split (its labels' "
                            "sha256 differs from this MNIST's)")
            continue
        predictions = torch.tensor([int(c) for c in result.data["predictions"]])
        accuracy = int((predictions == val_labels).sum()) / len(val_labels)
        recorded = result.data["metrics"]["val_acc"]
        if abs(accuracy - recorded) > 1e-6:  # float32 rounding of the recorded mean
            problems.append(f"{result.label}: its predictions are {100 * accuracy:.2f}% right "
                            f"but it records {100 * recorded:.2f}%")
    if problems:
        raise ResultFileError("; ".join(problems) + ". Ask for the file again as "
                              "python -m utils.experiments.class_experiment run wrote it.")


def read_class(inputs: Sequence[Path]) -> list[Result]:
    """Every result file given, each checked, and together refused if they cannot be one
    class's experiment; in ABLATIONS order, then by seed."""
    order = {name: i for i, name in enumerate(ABLATIONS)}
    results = sorted((read_result(path) for path in result_paths(inputs)),
                     key=lambda r: (order[r.variant], r.seed, r.path.name))
    refuse_duplicates(results)
    refuse_mixed_settings(results)
    refuse_missing_pairs(results)
    return results


# ------------------------------------------------------------------ notebook 05's analysis
def write_runs_root(results: Sequence[Result], root: Path) -> Path:
    """The results as ablation run folders (metrics and predictions), the form notebook 05's
    analysis reads."""
    for result in results:
        folder = run_folder(root, ARCH, result.seed, result.variant)
        folder.mkdir(parents=True)
        atomic_write_json(result.data["metrics"], folder / METRICS_FILE)
        atomic_write_text(result.data["predictions"] + "\n", folder / PREDICTIONS_FILE)
    return root


def analyse(results: Sequence[Result], val_labels: torch.Tensor) -> str:
    """Notebook 05's run-level paired analysis of the class, as its markdown table."""
    refuse_wrong_accuracy(results, val_labels)
    with tempfile.TemporaryDirectory(prefix="class-merge-") as tmp:
        root = write_runs_root(results, Path(tmp) / "ablations")
        rows = ablations.collect(root)
        comparisons = ablations.compare_to_control(rows, root, val_labels)
        table = ablations.markdown_report(rows, comparisons)
    return class_markdown(results, table)


def merge_class(inputs: Sequence[Path], val_labels: torch.Tensor) -> str:
    """``merge`` as one call (notebook 05 shows the example class with it): every check, then
    the analysis, as markdown. Raises :class:`ResultFileError` naming what is refused."""
    return analyse(read_class(inputs), val_labels)


def describe_settings(data: dict[str, Any]) -> str:
    """The settings a class shares, in words (for the table's header)."""
    options, numeric = data["class_options"], data["numeric_path"]
    epochs = options.get("epochs") or "each variant's own (control: 15)"
    subset = options.get("train_subset") or data["data_split"].get("train", TRAIN_SIZE)
    memory = {True: "channels_last", False: "NCHW"}.get(numeric.get("channels_last"), "unknown")
    return (f"epochs {epochs}; {subset:,} training images; forward pass "
            f"{numeric.get('forward')}, {memory}; torch {data['torch_version'].split('.')[0]}.x.")


def class_markdown(results: Sequence[Result], table: str) -> str:
    """A title, the shared settings, notebook 05's table (its own title dropped) and the files."""
    body = table.split("\n", 2)[2]  # markdown_report's text after its title and blank line
    files = markdown_table(
        ["file", "variant", "seed", "device", "predictions sha256 (first 12)"],
        [[r.path.name, r.variant, r.seed, r.data["device"], r.data["predictions_sha256"][:12]]
         for r in results])
    return "\n".join([
        f"# Class experiment: {STUDY}", "",
        f"{len(results)} result files merged by python -m utils.experiments.class_experiment merge. Shared "
        f"settings: {describe_settings(results[0].data)}", "",
        body.rstrip("\n"), "",
        "## Files", "", *files]) + "\n"


# ------------------------------------------------------------------ command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train one (variant, seed), or export a finished "
                              "run, into one result file")
    run.add_argument("--variant", metavar="NAME",
                     help=f"the ablation to run: {', '.join(ABLATIONS)}")
    run.add_argument("--seed", type=non_negative_int, metavar="N", help="the seed to run")
    run.add_argument("--from-run", type=Path, metavar="RUN_DIR",
                     help="export this finished ablation run instead of training")
    run.add_argument("--out", type=Path, required=True,
                     help="the result file to write (.json, never overwritten)")
    run.add_argument("--epochs", type=positive_int, default=None,
                     help="fewer epochs than the recipe's 15 (the whole class must use the same)")
    run.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                     help=f"train on N of the {TRAIN_SIZE:,} training images (same for all)")
    add_device(run)
    add_amp(run, CLASS_AMP, "default off: float32 on every machine, so that a class's files "
            "share one numeric path")
    add_mnist_root(run)
    add_no_progress(run)
    merge = commands.add_parser("merge", help="check a class's result files and run notebook "
                                "05's paired analysis on them")
    merge.add_argument("inputs", nargs="+", type=Path, metavar="FILE_OR_FOLDER",
                       help="result files, or folders of them (their .json files)")
    merge.add_argument("--out", type=Path, default=None,
                       help="also write the markdown table to this file")
    add_mnist_root(merge)
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except ValueError as exc:  # ResultFileError, RunFolderError and OutputPathError too
        (run if args.command == "run" else merge).error(str(exc))
    return args


def check_args(args: argparse.Namespace) -> None:
    """Everything checked before MNIST loads or anything trains."""
    if args.command == "merge":
        args.results = read_class(args.inputs)
        if args.out is not None:
            check_output_file(args.out, "--out")
        return
    check_new_output(args.out)
    if args.from_run is not None:
        extra = [f"--{name.replace('_', '-')}" for name in ("variant", "seed", "epochs",
                                                             "train_subset")
                 if getattr(args, name) is not None]
        if extra:
            raise ValueError(f"--from-run exports a finished run as it was made: drop "
                             f"{', '.join(extra)}.")
        check_run_folder(args.from_run)
        run_identity(args.from_run)
        return
    if args.variant is None or args.seed is None:
        raise ValueError("give --variant NAME and --seed N (the pair your instructor assigned), "
                         "or --from-run RUN_DIR.")
    args.spec = plan_class_run(args.variant, args.seed, args.epochs, args.train_subset,
                               args.device, args.amp)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    splits = load_mnist_splits(args.mnist_root)
    if args.command == "merge":
        try:
            text = analyse(args.results, splits.val_labels)
        except ResultFileError as exc:  # the checks that need the validation labels
            print(f"class_experiment merge: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        if args.out is not None:
            atomic_write_text(text, args.out)
        sys.stdout.write(text)
        return
    if args.from_run is not None:
        made_by = {"command": "from-run", "run": repo_relative(args.from_run)}
        result = result_of_run(args.from_run, splits, made_by)
    else:
        result = train_result(args.spec, splits, not args.no_progress)
    write_new_json(result, args.out)
    print(f"[class] {result['variant']} seed {result['seed']}: val "
          f"{100 * result['metrics']['val_acc']:.2f}% -> {args.out} (predictions sha256 "
          f"{result['predictions_sha256'][:12]}); hand in this file.")


if __name__ == "__main__":
    main()
