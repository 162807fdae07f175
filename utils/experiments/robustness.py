"""Robustness curves: accuracy of finished models on exactly transformed test digits.

Every transform is deterministic (noise comes from a seeded generator, shifts cycle through
four directions by image index), so every model sees the *same* transformed images and the
curves can be compared point by point. Geometry uses the training engine's own
``affine_matrices``/``warp``, so "rotation 10 degrees" here means what it means in training.

The test split is touched here only to *report* on finished models: nothing below chooses
anything. Results go once into ``results/robustness.csv`` (+ ``.md``)::

    python -m utils.experiments.robustness --models primary19k compact8k
    python -m utils.experiments.robustness --models original-published --original-checkpoint PATH

One module past 400 lines: the transforms, their sweep over the finished models and its tables,
with the transforms built on the augmentation's own warp.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from utils.atomic_files import atomic_write_text
from utils.augment import affine_matrices, thickness_step, warp
from utils.checkpoints import EvaluationModel, load_evaluation_model
from utils.data import load_mnist_splits, to_unit_float
from utils.evaluate import predict_logits
from utils.experiments.tables import markdown_table
from utils.paths import RESULTS_DIR, check_output_file, resolve_repo_path

TRANSFORMS = ("rotation", "shift", "scale", "noise", "thickness")
UNITS = {"rotation": "degrees", "shift": "pixels", "scale": "factor",
         "noise": "std (0-1 pixel scale)", "thickness": "3x3 dilations (+) / erosions (-)"}
IDENTITY = {"rotation": 0.0, "shift": 0.0, "scale": 1.0, "noise": 0.0, "thickness": 0.0}
DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {
    "rotation": (-45, -30, -20, -15, -10, -5, 0, 5, 10, 15, 20, 30, 45),
    "shift": (0, 1, 2, 3, 4, 5, 6),
    "scale": (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3),
    "noise": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    "thickness": (-2, -1, 0, 1, 2),
}
# The augmentation ranges of training (AugmentConfig defaults, argued for in notebook 01).
TRAINING_RANGES = {"rotation": (-10.0, 10.0), "shift": (0.0, 2.0), "scale": (0.9, 1.1)}
NOISE_SEED = 0
# direction of the shift of image i: right, down, left, up (x, y) in turn
SHIFT_DIRECTIONS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])

# The shipped models of the robustness report: name -> (checkpoint path from the repo root,
# arch for bare state dicts).
MODEL_SOURCES: dict[str, tuple[str, str | None]] = {
    "primary19k": ("results/runs/primary19k/seed0/model.pt", None),
    "compact8k": ("results/runs/compact8k/seed0/model.pt", None),
    "primary19k-noaug": ("results/runs/primary19k-noaug/seed0/model.pt", None),
}
# The checkpoint published with the original mnist_994 (a bare state dict of original19k) is not
# shipped here (its licence is not stated): its committed curves are read from the CSV, and
# recomputing them needs its path, given explicitly (--original-checkpoint).
ORIGINAL = "original-published"
ORIGINAL_ARCH = "original19k"
DEFAULT_MODELS = ["primary19k", "compact8k"]
CSV_PATH = RESULTS_DIR / "robustness.csv"
COLUMNS = ["model", "transform", "level", "correct", "total", "accuracy"]
NUMERIC_COLUMNS = ["level", "correct", "total", "accuracy"]
TEST_IMAGES = 10_000  # MNIST's test split: what a run without --limit evaluates


class ResultsFileError(ValueError):
    """A robustness CSV that cannot be read or merged (columns, NaN, mixed image counts)."""


# --------------------------------------------------------------------------- transforms
def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate ``[N, 1, H, W]`` float images by ``degrees`` (positive = clockwise as displayed,
    rows growing downwards: the convention of ``affine_matrices``)."""
    if degrees == 0:
        return images
    n = len(images)
    theta = affine_matrices(torch.full((n,), float(degrees)), torch.ones(n), torch.zeros(n, 2),
                            size=images.shape[-1])
    return warp(images, theta.to(images.dtype)).clamp(0.0, 1.0)


def scale(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Enlarge (factor > 1) or shrink the digits about the image centre."""
    if factor <= 0:
        raise ValueError(f"scale factor must be > 0, got {factor}.")
    if factor == 1:
        return images
    n = len(images)
    theta = affine_matrices(torch.zeros(n), torch.full((n,), float(factor)), torch.zeros(n, 2),
                            size=images.shape[-1])
    return warp(images, theta.to(images.dtype)).clamp(0.0, 1.0)


def shift(images: torch.Tensor, pixels: float) -> torch.Tensor:
    """Move image ``i`` by ``pixels`` right, down, left or up (``i % 4``): every direction is
    equally represented and the result is the same on every run."""
    if pixels < 0:
        raise ValueError(f"shift must be >= 0 pixels, got {pixels}.")
    if pixels == 0:
        return images
    n = len(images)
    shifts = SHIFT_DIRECTIONS[torch.arange(n) % 4] * float(pixels)
    theta = affine_matrices(torch.zeros(n), torch.ones(n), shifts, size=images.shape[-1])
    return warp(images, theta.to(images.dtype)).clamp(0.0, 1.0)


def add_noise(images: torch.Tensor, std: float, seed: int = NOISE_SEED) -> torch.Tensor:
    """Add Gaussian noise (std on the 0-1 pixel scale) from a seeded generator, clip to [0, 1]."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}.")
    if std == 0:
        return images
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return (images + std * noise.to(images.device)).clamp(0.0, 1.0)


def change_thickness(images: torch.Tensor, steps: int) -> torch.Tensor:
    """Thicken (``steps > 0``: 3x3 max-pool = dilation) or thin (``steps < 0``: 3x3 min-pool =
    erosion) the strokes, ``abs(steps)`` times."""
    if steps != int(steps):
        raise ValueError(f"thickness steps must be a whole number, got {steps}.")
    out = images
    for _ in range(abs(int(steps))):
        out = thickness_step(out, 1 if steps > 0 else -1)
    return out


def apply_transform(images: torch.Tensor, transform: str, level: float) -> torch.Tensor:
    """One named transform at one level on ``[N, 1, 28, 28]`` float images in [0, 1]."""
    functions = {"rotation": rotate, "shift": shift, "scale": scale, "noise": add_noise,
                 "thickness": change_thickness}
    if transform not in functions:
        raise ValueError(f"Unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}.")
    return functions[transform](images, level)


# --------------------------------------------------------------------------- evaluation
def transformed_accuracy(model: EvaluationModel, images: torch.Tensor, labels: torch.Tensor,
                         transform: str, level: float, batch_size: int = 1000) -> int:
    """Number of correctly classified uint8 images ``[N, 28, 28]`` after the transform."""
    correct = 0
    for start in range(0, len(images), batch_size):
        batch = to_unit_float(images[start:start + batch_size])
        if transform == "noise":  # one noise draw per batch position and level: reproducible
            batch = add_noise(batch, level, seed=NOISE_SEED + start)
        else:
            batch = apply_transform(batch, transform, level)
        logits = predict_logits(model.model, batch, model.mean, model.std, batch_size)
        correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return correct


def pipeline_accuracy(model: EvaluationModel, images: torch.Tensor, labels: torch.Tensor,
                      pipeline: Sequence[tuple[str, float]], batch_size: int = 1000) -> float:
    """Accuracy on uint8 images after applying the ``(transform, level)`` steps in order (e.g.
    damage the digits, then try to repair them before the model sees them)."""
    correct = 0
    for start in range(0, len(images), batch_size):
        batch = to_unit_float(images[start:start + batch_size])
        for transform, level in pipeline:
            batch = apply_transform(batch, transform, level)
        logits = predict_logits(model.model, batch, model.mean, model.std, batch_size)
        correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return correct / len(labels)


def robustness_curves(models: dict[str, EvaluationModel], images: torch.Tensor,
                      labels: torch.Tensor,
                      levels: dict[str, Sequence[float]] | None = None,
                      progress: bool = False) -> pd.DataFrame:
    """One row per (model, transform, level): correct, total, accuracy. The identity level of
    every transform is the plain accuracy, computed once per model."""
    levels = dict(DEFAULT_LEVELS if levels is None else levels)
    for transform in levels:
        if transform not in TRANSFORMS:
            raise ValueError(f"Unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}.")
    jobs = [(name, t, float(level)) for name in models for t in levels for level in levels[t]]
    rows, plain = [], {}
    for name, transform, level in tqdm(jobs, desc="robustness", disable=not progress):
        if level == IDENTITY[transform]:
            if name not in plain:
                plain[name] = transformed_accuracy(models[name], images, labels, "rotation", 0.0)
            correct = plain[name]
        else:
            correct = transformed_accuracy(models[name], images, labels, transform, level)
        rows.append({"model": name, "transform": transform, "level": level, "correct": correct,
                     "total": len(labels), "accuracy": correct / len(labels)})
    return pd.DataFrame(rows, columns=COLUMNS)


def breaking_point(frame: pd.DataFrame, model: str, transform: str,
                   threshold: float) -> float | None:
    """The smallest distance from the identity at which accuracy drops below ``threshold``
    (a fraction): degrees, pixels, |log scale|-ordered factor, std or steps. ``None`` if it
    never does on the measured levels. On each side of the identity the first failing level
    counts; the nearer side wins (ties: the level as measured, negative side first)."""
    rows = frame[(frame["model"] == model) & (frame["transform"] == transform)]
    if rows.empty:
        raise ValueError(f"No rows for model {model!r} and transform {transform!r}.")
    identity = IDENTITY[transform]

    def distance(level: float) -> float:
        return abs(math.log(level / identity)) if transform == "scale" else abs(level - identity)

    failing = rows[rows["accuracy"] < threshold]
    if failing.empty:
        return None
    order = sorted(failing["level"], key=lambda level: (distance(level), level))
    return float(order[0])


THRESHOLDS = (0.99, 0.95)  # the accuracies whose crossing the tables and figures mark


def breaking_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and transform: the plain accuracy and where it falls below each threshold."""
    records = []
    for model in dict.fromkeys(frame["model"]):
        for transform in dict.fromkeys(frame["transform"]):
            sub = frame[(frame["model"] == model) & (frame["transform"] == transform)]
            if sub.empty:
                continue
            record = {"model": model, "transform": transform}
            for threshold in THRESHOLDS:
                point = breaking_point(frame, model, transform, threshold)
                record[f"below {100 * threshold:.0f}%"] = "-" if point is None else f"{point:g}"
            records.append(record)
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- files
def model_names() -> list[str]:
    """Every model the report knows: the shipped ones and the original's checkpoint."""
    return [*MODEL_SOURCES, ORIGINAL]


def model_source(name: str, original_checkpoint: str | None = None) -> tuple[str, str | None]:
    """(checkpoint path, arch for a bare state dict) of a model of the report."""
    if name == ORIGINAL:
        if original_checkpoint is None:
            raise ValueError(f"{ORIGINAL} is the checkpoint published with the original "
                             "mnist_994, which this repository does not ship: give its path "
                             "(--original-checkpoint, or original_checkpoint in notebook 06).")
        return original_checkpoint, ORIGINAL_ARCH
    if name not in MODEL_SOURCES:
        raise ValueError(f"Unknown model {name!r}; choose from {', '.join(model_names())}.")
    return MODEL_SOURCES[name]


def missing_checkpoints(names: Sequence[str], original_checkpoint: str | None = None) -> list[str]:
    """``name (path)`` of each named model whose checkpoint is not on disk."""
    sources = {name: model_source(name, original_checkpoint) for name in names}
    return [f"{name} ({path})" for name, (path, _) in sources.items()
            if not resolve_repo_path(path).is_file()]


def load_models(names: Sequence[str],
                original_checkpoint: str | None = None) -> dict[str, EvaluationModel]:
    """Load the named models; every file is checked before any is loaded."""
    missing = missing_checkpoints(names, original_checkpoint)
    if missing:
        raise FileNotFoundError(f"Checkpoint(s) not found: {', '.join(missing)}.")
    return {name: load_evaluation_model(*model_source(name, original_checkpoint))
            for name in names}


def available_models(names: Sequence[str],
                     original_checkpoint: str | None = None) -> tuple[list[str], list[str]]:
    """(present, absent) among the named models: absent ones are skipped with a note (the
    original's checkpoint is absent unless its path is given)."""
    present = [n for n in names if (n != ORIGINAL or original_checkpoint is not None)
               and not missing_checkpoints([n], original_checkpoint)]
    return present, [n for n in names if n not in present]


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """A robustness CSV, checked: exactly ``COLUMNS``, numbers everywhere they belong (no
    NaN), one image count for every row. A bad file is named with what is wrong."""
    path = Path(path)
    fix = "Restore it (e.g. from git), or write to another --csv."
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path} is not a readable CSV ({exc}). {fix}") from None
    if list(frame.columns) != COLUMNS:
        raise ResultsFileError(f"{path} has the columns {list(frame.columns)}, not {COLUMNS}: it "
                               f"is not a utils.experiments.robustness table. {fix}")
    numbers = frame[NUMERIC_COLUMNS].apply(pd.to_numeric, errors="coerce")
    blank = frame[["model", "transform"]].isna().any(axis=1)
    bad = frame.index[numbers.isna().any(axis=1) | blank].tolist()
    if bad:
        lines = ", ".join(str(i + 2) for i in bad[:5])  # +2: the header, then 1-based lines
        raise ResultsFileError(f"{path}, line(s) {lines}: a missing or non-numeric value (NaN). "
                               f"{fix}")
    totals = sorted(set(numbers["total"].astype(int)))
    if len(totals) > 1:
        raise ResultsFileError(f"{path} mixes rows of {totals} images: one table holds one image "
                               f"count. {fix}")
    return frame.assign(**{c: numbers[c] for c in NUMERIC_COLUMNS})


def image_count(frame: pd.DataFrame) -> int | None:
    """The number of test images every row was measured on (``None`` for no rows)."""
    totals = set(frame["total"].astype(int))
    return totals.pop() if len(totals) == 1 else None


def require_same_count(path: Path, old: pd.DataFrame, images: int) -> None:
    """Rows measured on ``images`` images may not join a table of another count (a ``--limit``
    check beside the full test set, under a title that says 10,000)."""
    count = image_count(old)
    if count is not None and count != images:
        raise ResultsFileError(
            f"{path} holds rows measured on {count:,} test images; these are on {images:,}. "
            "Write them to another --csv (e.g. --csv /tmp/robustness_check.csv), or measure "
            f"on {count:,} images.")


def merge_results(new: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Rows of ``new`` replace the rows of the same models in the CSV at ``path`` (if any);
    the file is checked first, and rows of another image count are refused."""
    path = Path(path)
    if path.is_file():
        old = read_results(path)
        require_same_count(path, old, image_count(new))
        new = pd.concat([old[~old["model"].isin(set(new["model"]))], new], ignore_index=True)
    return new[COLUMNS].reset_index(drop=True)


def markdown_report(frame: pd.DataFrame) -> str:
    """The plain accuracy and the breaking points, as a small markdown table."""
    plain = frame[(frame["transform"] == "rotation") & (frame["level"] == 0)]
    table = breaking_table(frame)
    images = image_count(frame)
    lines = [
        f"# Robustness of the finished models (test split, {images or 0:,} images)",
        "",
        "Made by `python -m utils.experiments.robustness`; full curves in `results/robustness.csv`.",
        "Where each model first falls below 99% / 95% accuracy (nearest level to the identity;",
        "`-` = not within the measured levels). Units: " +
        "; ".join(f"{t} in {u}" for t, u in UNITS.items()) + ".",
        "",
    ]
    rows = []
    for model in dict.fromkeys(frame["model"]):
        acc = plain[plain["model"] == model]["accuracy"]
        cells = []
        for transform in TRANSFORMS:
            row = table[(table["model"] == model) & (table["transform"] == transform)]
            cells.append("n/a" if row.empty else
                         f"{row.iloc[0]['below 99%']} / {row.iloc[0]['below 95%']}")
        plain_text = f"{100 * acc.iloc[0]:.2f}" if len(acc) else "n/a"
        rows.append([model, plain_text, *cells])
    lines += markdown_table(
        ["model", "plain accuracy (%)", *(f"{t} <99% / <95%" for t in TRANSFORMS)], rows)
    return "\n".join(lines) + "\n"


def write_results(frame: pd.DataFrame, csv_path: str | os.PathLike = CSV_PATH) -> pd.DataFrame:
    """Merge into the CSV and rewrite it and its ``.md`` table atomically."""
    merged = merge_results(frame, csv_path)
    csv_path = Path(csv_path)
    atomic_write_text(merged.to_csv(index=False, float_format="%.4f"), csv_path)
    atomic_write_text(markdown_report(merged), csv_path.with_suffix(".md"))
    return merged


@dataclass(frozen=True)
class Arguments:
    models: list[str]
    csv: Path
    limit: int | None
    original_checkpoint: str | None


def parse_arguments(argv: Sequence[str] | None = None) -> Arguments:
    """Every argument is checked here, before any data or model is loaded."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"models to evaluate, from: {', '.join(model_names())} (default: "
                        f"{' '.join(DEFAULT_MODELS)}, and {ORIGINAL} with --original-checkpoint)")
    parser.add_argument("--original-checkpoint", default=None,
                        help=f"path of the original mnist_994's published checkpoint, which "
                        f"{ORIGINAL} needs (not shipped in this repository)")
    parser.add_argument("--csv", default=str(CSV_PATH), help="results CSV (rows of these "
                        "models are replaced, others kept); a .md table is written beside it")
    parser.add_argument("--limit", type=int, default=None,
                        help="evaluate only the first N test images (quick checks)")
    args = parser.parse_args(argv)
    if args.models is None:
        args.models = DEFAULT_MODELS + ([ORIGINAL] if args.original_checkpoint else [])
    unknown = [name for name in args.models if name not in model_names()]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(model_names())}")
    try:
        missing = missing_checkpoints(args.models, args.original_checkpoint)
    except ValueError as exc:
        parser.error(str(exc))
    if missing:
        parser.error(f"checkpoint(s) not found: {', '.join(missing)}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be a positive number of images, got {args.limit}")
    if not args.csv.endswith(".csv"):
        parser.error(f"--csv must name a .csv file, got {args.csv!r}")
    csv_path = Path(args.csv)
    try:
        check_output_file(csv_path, "--csv")
        check_output_file(csv_path.with_suffix(".md"), "--csv's .md table")
        if csv_path.is_file():  # rows of another image count are refused now, not after the work
            images = min(args.limit, TEST_IMAGES) if args.limit else TEST_IMAGES
            require_same_count(csv_path, read_results(csv_path), images)
    except ValueError as exc:
        parser.error(str(exc))
    return Arguments(list(dict.fromkeys(args.models)), csv_path, args.limit,
                     args.original_checkpoint)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    args = parse_arguments(argv)
    models = load_models(args.models, args.original_checkpoint)
    splits = load_mnist_splits()
    images, labels = splits.test_images, splits.test_labels
    if args.limit is not None:
        images, labels = images[:args.limit], labels[:args.limit]
    frame = robustness_curves(models, images, labels, progress=True)
    merged = write_results(frame, args.csv)
    print(markdown_report(merged))
    return merged


if __name__ == "__main__":
    main()
