"""MNIST as validated uint8 tensors, with a fixed stratified train/validation split.

The four IDX files are checked (header, size, counts, label range) *before* torchvision
parses them, so a truncated or corrupt download fails loudly with the file's name instead
of producing a silently wrong dataset.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torchvision.datasets import MNIST

from utils.paths import MNIST_ROOT_ENV, resolve_mnist_root

IMAGE_SIZE = 28
NUM_CLASSES = 10
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
# file name -> (kind, expected item count)
MNIST_FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte": ("images", 60_000),
    "train-labels-idx1-ubyte": ("labels", 60_000),
    "t10k-images-idx3-ubyte": ("images", 10_000),
    "t10k-labels-idx1-ubyte": ("labels", 10_000),
}
DEFAULT_VAL_SIZE = 5_000
DEFAULT_SPLIT_SEED = 0


class MNISTDataError(RuntimeError):
    """The MNIST files are present but wrong (truncated, corrupt, wrong counts or labels)."""


class MNISTNotFoundError(MNISTDataError, FileNotFoundError):
    """The MNIST files are missing and could not be downloaded."""


def raw_folder(root: Path) -> Path:
    """torchvision's layout: ``<root>/MNIST/raw/<file>``."""
    return root / "MNIST" / "raw"


def missing_files(root: Path) -> list[str]:
    folder = raw_folder(root)
    return [name for name in MNIST_FILES if not (folder / name).is_file()]


FIX_ROOT = (
    f"Fix: point {MNIST_ROOT_ENV} at a folder that holds MNIST/raw/<the four files> "
    f"(e.g. `export {MNIST_ROOT_ENV}=/path/to/data`), pass root=..., "
    "or allow the download on a machine with internet access."
)


def _found_instead(folder: Path, missing: list[str]) -> list[str]:
    """What sits where a missing file should be: a folder, or only the .gz download."""
    notes = []
    for name in missing:
        if (folder / name).is_dir():
            notes.append(f"{folder / name} is a directory, not the IDX file: remove or rename it.")
        elif (folder / f"{name}.gz").is_file():
            notes.append(
                f"{folder / name}.gz is there, compressed (MNIST's original distribution format): "
                f"decompress it next to itself with `gunzip -k {folder / name}.gz`."
            )
    return notes


def _not_found_message(root: Path, missing: list[str], reason: str) -> str:
    found = _found_instead(raw_folder(root), missing)
    return "\n".join([
        f"MNIST files are missing: {', '.join(missing)}.",
        f"Looked in: {raw_folder(root)}",
        *found,
        reason,
        FIX_ROOT,
    ])


def validate_idx_file(path: Path, kind: str, expected_count: int) -> None:
    """Check one IDX file's header, byte size, item count and (for labels) value range."""
    header_size = 16 if kind == "images" else 8
    size = path.stat().st_size
    if size < header_size:
        raise MNISTDataError(
            f"{path}: file is truncated ({size} bytes, shorter than its {header_size}-byte "
            "header). Delete it and download MNIST again."
        )
    with path.open("rb") as handle:
        header = handle.read(header_size)
        if kind == "images":
            magic, count, rows, cols = struct.unpack(">IIII", header)
            if magic != IMAGES_MAGIC:
                raise MNISTDataError(
                    f"{path}: not an MNIST image file (magic number {magic}, "
                    f"expected {IMAGES_MAGIC}). The file is corrupt or misnamed."
                )
            if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
                raise MNISTDataError(
                    f"{path}: images are {rows}x{cols}, expected "
                    f"{IMAGE_SIZE}x{IMAGE_SIZE}. This is not MNIST."
                )
            item_bytes = rows * cols
        else:
            magic, count = struct.unpack(">II", header)
            if magic != LABELS_MAGIC:
                raise MNISTDataError(
                    f"{path}: not an MNIST label file (magic number {magic}, "
                    f"expected {LABELS_MAGIC}). The file is corrupt or misnamed."
                )
            item_bytes = 1
        if count != expected_count:
            raise MNISTDataError(
                f"{path}: header says {count} items, expected {expected_count}. "
                "This is not the standard MNIST file; download it again."
            )
        expected_size = header_size + count * item_bytes
        if size != expected_size:
            raise MNISTDataError(
                f"{path}: file has {size} bytes but its header implies {expected_size} "
                "(truncated or corrupt download). Delete it and download MNIST again."
            )
        if kind == "labels":
            labels = torch.frombuffer(bytearray(handle.read()), dtype=torch.uint8)
            if int(labels.max()) >= NUM_CLASSES:
                bad = int((labels >= NUM_CLASSES).sum())
                raise MNISTDataError(
                    f"{path}: {bad} labels are outside 0-9 (max {int(labels.max())}). "
                    "The file is corrupt; download it again."
                )


def ensure_mnist_files(root: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Resolve the root, download only what is missing (if allowed), then validate every file."""
    resolved = resolve_mnist_root(root)
    missing = missing_files(resolved)
    if missing:
        if not download:
            raise MNISTNotFoundError(
                _not_found_message(resolved, missing, "Downloading is disabled (download=False).")
            )
        created = [d for d in (resolved, resolved / "MNIST", raw_folder(resolved)) if not d.exists()]
        try:
            for train in (True, False):
                MNIST(str(resolved), train=train, download=True)
        except Exception as exc:  # network errors come in many types
            for folder in reversed(created):  # leave no empty folders at a wrong root
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise MNISTNotFoundError(
                _not_found_message(resolved, missing, f"The download failed: {exc}")
            ) from exc
        still_missing = missing_files(resolved)
        if still_missing:
            raise MNISTNotFoundError(
                _not_found_message(resolved, still_missing, "The download did not produce them.")
            )
    for name, (kind, count) in MNIST_FILES.items():
        try:
            validate_idx_file(raw_folder(resolved) / name, kind, count)
        except MNISTDataError as exc:
            raise MNISTDataError(f"{exc}\nOr use another copy: {FIX_ROOT[5:]}") from None
    return resolved


@dataclass(frozen=True)
class MNISTSplits:
    """The three splits as tensors: images ``uint8 [N, 28, 28]``, labels ``int64 [N]``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    val_source: str = "carved from the 60k training images"  # how validation was drawn

    def to(self, device: str | torch.device) -> MNISTSplits:
        """Move every tensor once, so training never copies batches from the host."""
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if f.name != "val_source"}
        return MNISTSplits(**moved, val_source=self.val_source)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in ("train", "val", "test"):
            raise ValueError(f"Unknown split {name!r}: use 'train', 'val' or 'test'.")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")

    def sizes(self) -> dict[str, int]:
        return {name: len(self.split(name)[1]) for name in ("train", "val", "test")}


def stratified_split(
    labels: torch.Tensor, val_size: int = DEFAULT_VAL_SIZE, seed: int = DEFAULT_SPLIT_SEED
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted (train, val) indices; each class keeps its share of ``val_size`` (largest remainder)."""
    labels = labels.cpu()
    if not 0 < val_size < len(labels):
        raise ValueError(f"val_size must be between 1 and {len(labels) - 1}, got {val_size}.")
    counts = torch.bincount(labels, minlength=NUM_CLASSES).double()
    exact = counts * val_size / len(labels)
    per_class = exact.floor().long()
    remainder_order = torch.argsort(exact - per_class, descending=True, stable=True)
    per_class[remainder_order[: val_size - int(per_class.sum())]] += 1
    generator = torch.Generator().manual_seed(seed)
    val_parts = []
    for digit in range(NUM_CLASSES):
        members = torch.nonzero(labels == digit).flatten()
        shuffled = members[torch.randperm(len(members), generator=generator)]
        val_parts.append(shuffled[: int(per_class[digit])])
    val_idx = torch.cat(val_parts).sort().values
    is_val = torch.zeros(len(labels), dtype=torch.bool)
    is_val[val_idx] = True
    train_idx = torch.nonzero(~is_val).flatten()
    return train_idx, val_idx


def load_mnist_splits(
    root: str | os.PathLike | None = None,
    val_size: int = DEFAULT_VAL_SIZE,
    download: bool = True,
) -> MNISTSplits:
    """Validated MNIST as train/val (carved from the 60k) and the untouched 10k test split."""
    resolved = ensure_mnist_files(root, download=download)
    train_set = MNIST(str(resolved), train=True, download=False)
    test_set = MNIST(str(resolved), train=False, download=False)
    train_idx, val_idx = stratified_split(train_set.targets, val_size=val_size)
    return MNISTSplits(
        train_images=train_set.data[train_idx].contiguous(),
        train_labels=train_set.targets[train_idx].contiguous(),
        val_images=train_set.data[val_idx].contiguous(),
        val_labels=train_set.targets[val_idx].contiguous(),
        test_images=test_set.data.contiguous(),
        test_labels=test_set.targets.contiguous(),
        val_source=(f"{val_size:,} images stratified from the 60,000 training images "
                    f"(split seed {DEFAULT_SPLIT_SEED})"),
    )


def normalization_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and std of the pixels on the [0, 1] scale (float64, so no rounding drift)."""
    pixels = images.to(torch.float64) / 255.0
    return float(pixels.mean()), float(pixels.std())


def class_counts(labels: torch.Tensor) -> list[int]:
    return torch.bincount(labels.cpu(), minlength=NUM_CLASSES).tolist()


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, 28, 28]`` (0-255) -> float ``[N, 1, 28, 28]`` (0-1): what the warp works on.

    The float type is torch's default (float32), so that a float64 default runs the whole
    engine in float64: the kernel-independent path of the pinned history."""
    return images.unsqueeze(1).to(torch.get_default_dtype()).div_(255.0)


def normalize(images_uint8_or_float: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """``[N, 28, 28]`` uint8 (0-255) or ``[N, 1, 28, 28]`` float (0-1) -> normalised ``[N, 1, 28, 28]``."""
    x = images_uint8_or_float
    if x.dtype == torch.uint8:
        x = to_unit_float(x)
    elif x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - mean) / std


def sample_indices_per_class(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """``int64 [NUM_CLASSES, per_class]`` indices, drawn without replacement from each class
    with a seeded generator, so a notebook shows the same examples on every run."""
    labels = labels.cpu()
    counts = torch.bincount(labels, minlength=NUM_CLASSES)
    if per_class < 1 or per_class > int(counts.min()):
        raise ValueError(
            f"per_class must be between 1 and {int(counts.min())} (the smallest class), "
            f"got {per_class}."
        )
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for digit in range(NUM_CLASSES):
        members = torch.nonzero(labels == digit).flatten()
        rows.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.stack(rows)
