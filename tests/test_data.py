"""The MNIST data layer: root resolution, file validation, the stratified split, statistics.

Corrupt-file tests use small fake IDX files in tmp_path. Where the validator's real counts
(60,000 / 10,000) matter, the fakes carry the real count in their header but only as many bytes
as the check needs (labels files are 60 kB; an image file's shape/magic/truncation checks fire
before its body is read). End-to-end loading uses a tiny fake dataset with ``MNIST_FILES``
monkeypatched to small counts, so the same code path runs without 47 MB of fixtures.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch

from utils import data
from utils.data import (
    MNIST_FILES,
    MNISTDataError,
    MNISTNotFoundError,
    MNISTSplits,
    class_counts,
    ensure_mnist_files,
    load_mnist_splits,
    normalization_stats,
    normalize,
    sample_indices_per_class,
    stratified_split,
    validate_idx_file,
)
from utils.paths import DEFAULT_DATA_DIR, MNIST_ROOT_ENV, REPO_ROOT, resolve_mnist_root

SMALL_COUNTS = {"train": 600, "t10k": 100}


# ---------------------------------------------------------------- fake IDX files
def write_images(path: Path, count: int, rows: int = 28, cols: int = 28,
                 magic: int = data.IMAGES_MAGIC, body: bytes | None = None) -> Path:
    """An IDX image file; ``body`` defaults to ``count`` images of seeded random pixels."""
    if body is None:
        generator = torch.Generator().manual_seed(count)
        body = torch.randint(0, 256, (count * rows * cols,), dtype=torch.uint8,
                             generator=generator).numpy().tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">IIII", magic, count, rows, cols) + body)
    return path


def write_labels(path: Path, labels: list[int] | torch.Tensor, count: int | None = None,
                 magic: int = data.LABELS_MAGIC) -> Path:
    """An IDX label file; ``count`` overrides the header's item count (to fake a mismatch)."""
    values = torch.as_tensor(labels, dtype=torch.uint8)
    header_count = len(values) if count is None else count
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">II", magic, header_count) + values.numpy().tobytes())
    return path


def cyclic_labels(count: int) -> torch.Tensor:
    return torch.arange(count) % 10


@pytest.fixture
def small_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A complete, valid fake MNIST root (600 train / 100 test) with matching MNIST_FILES."""
    monkeypatch.setattr(data, "MNIST_FILES", {
        "train-images-idx3-ubyte": ("images", SMALL_COUNTS["train"]),
        "train-labels-idx1-ubyte": ("labels", SMALL_COUNTS["train"]),
        "t10k-images-idx3-ubyte": ("images", SMALL_COUNTS["t10k"]),
        "t10k-labels-idx1-ubyte": ("labels", SMALL_COUNTS["t10k"]),
    })
    raw = tmp_path / "fake" / "MNIST" / "raw"
    for prefix, count in SMALL_COUNTS.items():
        write_images(raw / f"{prefix}-images-idx3-ubyte", count)
        write_labels(raw / f"{prefix}-labels-idx1-ubyte", cyclic_labels(count))
    monkeypatch.delenv(MNIST_ROOT_ENV, raising=False)
    return tmp_path / "fake"


# ---------------------------------------------------------------- root resolution
def test_root_default_is_repo_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MNIST_ROOT_ENV, raising=False)
    assert resolve_mnist_root() == DEFAULT_DATA_DIR == REPO_ROOT / "data"
    monkeypatch.setenv(MNIST_ROOT_ENV, "")  # empty counts as unset
    assert resolve_mnist_root() == DEFAULT_DATA_DIR


def test_root_env_beats_default_and_argument_beats_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MNIST_ROOT_ENV, str(tmp_path / "from_env"))
    assert resolve_mnist_root() == tmp_path / "from_env"
    assert resolve_mnist_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_relative_root_tries_cwd_then_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here").mkdir()
    assert resolve_mnist_root("here") == tmp_path / "here"
    # not in cwd but in the repo (e.g. a kernel started in notebooks/): resolved against the repo
    assert resolve_mnist_root("utils") == REPO_ROOT / "utils"
    # neither exists: resolved against cwd, so the error message names a sensible folder
    monkeypatch.setenv(MNIST_ROOT_ENV, "nowhere")
    assert resolve_mnist_root() == tmp_path / "nowhere"


# ---------------------------------------------------------------- missing files
def test_missing_files_without_download_names_files_folder_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MNIST_ROOT_ENV, raising=False)
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist_splits(tmp_path, download=False)
    message = str(info.value)
    for name in MNIST_FILES:
        assert name in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert MNIST_ROOT_ENV in message
    assert isinstance(info.value, FileNotFoundError)  # callers may catch the builtin


def test_only_the_missing_files_are_named(small_mnist: Path) -> None:
    (small_mnist / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MNISTNotFoundError) as info:
        ensure_mnist_files(small_mnist, download=False)
    assert "t10k-labels-idx1-ubyte" in str(info.value)
    assert "train-images-idx3-ubyte" not in str(info.value)


# ---------------------------------------------------------------- corrupt files (real counts)
def test_real_counts_are_the_standard_ones() -> None:
    assert {name: count for name, (_, count) in MNIST_FILES.items()} == {
        "train-images-idx3-ubyte": 60_000, "train-labels-idx1-ubyte": 60_000,
        "t10k-images-idx3-ubyte": 10_000, "t10k-labels-idx1-ubyte": 10_000,
    }


def test_valid_labels_file_passes(tmp_path: Path) -> None:
    path = write_labels(tmp_path / "train-labels-idx1-ubyte", cyclic_labels(60_000))
    validate_idx_file(path, "labels", 60_000)  # no exception


@pytest.mark.parametrize(
    ("make", "kind", "match"),
    [
        # header shorter than 16 bytes
        (lambda p: p.write_bytes(b"\x00\x00\x08"), "images", "truncated"),
        # a valid header promising 60,000 images but only 100 bytes of pixels
        (lambda p: write_images(p, 60_000, body=bytes(100)), "images", "truncated or corrupt"),
        (lambda p: write_images(p, 60_000, magic=1234, body=b""), "images", "magic number 1234"),
        (lambda p: write_images(p, 60_000, rows=32, cols=32, body=b""), "images", "32x32"),
        (lambda p: write_labels(p, cyclic_labels(59_999)), "labels", "59999 items"),
        (lambda p: write_labels(p, cyclic_labels(60_000), magic=2051), "labels", "magic number"),
        (lambda p: write_labels(p, cyclic_labels(60_000), count=59_999), "labels", "59999"),
        (lambda p: write_labels(p, cyclic_labels(59_000), count=60_000), "labels", "truncated"),
        (lambda p: write_labels(p, torch.tensor([3] * 59_998 + [10, 255])), "labels", "outside 0-9"),
    ],
    ids=["short-header", "truncated-images", "images-magic", "images-shape", "labels-59999",
         "labels-magic", "labels-header-count", "labels-truncated", "labels-range"],
)
def test_corrupt_file_raises_naming_it(tmp_path: Path, make, kind: str, match: str) -> None:
    path = tmp_path / f"some-{kind}-file"
    make(path)
    with pytest.raises(MNISTDataError, match=match) as info:
        validate_idx_file(path, kind, 60_000)
    assert str(path) in str(info.value)
    assert not isinstance(info.value, MNISTNotFoundError)


def test_labels_out_of_range_reports_how_many(tmp_path: Path) -> None:
    path = write_labels(tmp_path / "labels", torch.tensor([1] * 59_997 + [10, 11, 12]))
    with pytest.raises(MNISTDataError, match=r"3 labels are outside 0-9 \(max 12\)"):
        validate_idx_file(path, "labels", 60_000)


def test_corrupt_file_in_a_root_is_named_by_ensure(small_mnist: Path) -> None:
    bad = small_mnist / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    write_labels(bad, cyclic_labels(599))
    with pytest.raises(MNISTDataError, match="train-labels-idx1-ubyte") as info:
        ensure_mnist_files(small_mnist, download=False)
    assert MNIST_ROOT_ENV in str(info.value)  # says how to point at another copy


def test_a_directory_where_a_file_should_be_is_named_as_such(small_mnist: Path) -> None:
    target = small_mnist / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    target.unlink()
    target.mkdir()
    with pytest.raises(MNISTNotFoundError, match="t10k-labels-idx1-ubyte is a directory"):
        ensure_mnist_files(small_mnist, download=False)


def test_gzip_only_files_are_found_and_explained(small_mnist: Path) -> None:
    import gzip

    target = small_mnist / "MNIST" / "raw" / "train-images-idx3-ubyte"
    Path(f"{target}.gz").write_bytes(gzip.compress(target.read_bytes()))
    target.unlink()
    with pytest.raises(MNISTNotFoundError) as info:
        ensure_mnist_files(small_mnist, download=False)
    assert f"{target}.gz is there, compressed" in str(info.value)
    assert f"gunzip -k {target}.gz" in str(info.value)


def test_a_failed_download_leaves_no_empty_folders(tmp_path: Path, monkeypatch) -> None:
    def offline(root, train, download):
        (Path(root) / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)  # as torchvision does
        raise OSError("no network")

    monkeypatch.setattr(data, "MNIST", offline)
    with pytest.raises(MNISTNotFoundError, match="download failed: no network"):
        ensure_mnist_files(tmp_path / "wrong_root", download=True)
    assert not (tmp_path / "wrong_root").exists()


# ---------------------------------------------------------------- loading (small fake)
def test_load_small_fake_dataset(small_mnist: Path) -> None:
    splits = load_mnist_splits(small_mnist, val_size=60, download=False)
    assert splits.sizes() == {"train": 540, "val": 60, "test": 100}
    assert splits.train_images.dtype == torch.uint8 and splits.train_labels.dtype == torch.int64
    assert splits.train_images.shape[1:] == (28, 28)
    assert class_counts(splits.val_labels) == [6] * 10
    # train + val are exactly the 600 training images, each once
    raw = small_mnist / "MNIST" / "raw" / "train-images-idx3-ubyte"
    everything = torch.frombuffer(bytearray(raw.read_bytes()[16:]), dtype=torch.uint8)
    everything = everything.reshape(600, 28 * 28)
    combined = torch.cat([splits.train_images, splits.val_images]).reshape(600, -1)
    assert sorted(map(bytes, combined.numpy())) == sorted(map(bytes, everything.numpy()))


def test_load_uses_env_root(small_mnist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MNIST_ROOT_ENV, str(small_mnist))
    assert load_mnist_splits(val_size=60, download=False).sizes()["test"] == 100


# ---------------------------------------------------------------- stratified split
def test_stratified_split_is_disjoint_complete_and_proportional() -> None:
    labels = torch.cat([torch.full((n,), d) for d, n in enumerate([97, 3, 50, 50, 50, 50, 50,
                                                                     50, 50, 50])])
    train_idx, val_idx = stratified_split(labels, val_size=50, seed=1)
    assert len(val_idx) == 50 and len(train_idx) == len(labels) - 50
    assert set(train_idx.tolist()).isdisjoint(val_idx.tolist())
    assert sorted(train_idx.tolist() + val_idx.tolist()) == list(range(len(labels)))
    per_class = torch.bincount(labels[val_idx], minlength=10)
    exact = torch.bincount(labels, minlength=10) * 50 / len(labels)
    assert ((per_class - exact).abs() < 1).all(), (per_class, exact)
    assert torch.equal(train_idx, train_idx.sort().values)


def test_stratified_split_is_deterministic_per_seed() -> None:
    labels = cyclic_labels(1000)[torch.randperm(1000, generator=torch.Generator().manual_seed(3))]
    first = stratified_split(labels, val_size=100, seed=0)
    again = stratified_split(labels, val_size=100, seed=0)
    other = stratified_split(labels, val_size=100, seed=1)
    assert torch.equal(first[1], again[1]) and torch.equal(first[0], again[0])
    assert not torch.equal(first[1], other[1])


@pytest.mark.parametrize("val_size", [0, 10, -1])
def test_stratified_split_rejects_impossible_sizes(val_size: int) -> None:
    with pytest.raises(ValueError, match="val_size"):
        stratified_split(cyclic_labels(10), val_size=val_size)


def test_real_split_sizes_and_class_shares(splits: MNISTSplits) -> None:
    assert splits.sizes() == {"train": 55_000, "val": 5_000, "test": 10_000}
    train_counts = torch.tensor(class_counts(splits.train_labels), dtype=torch.float64)
    val_counts = torch.tensor(class_counts(splits.val_labels), dtype=torch.float64)
    full = train_counts + val_counts
    assert int(full.sum()) == 60_000
    # largest-remainder allocation: every class gets its exact share of 5,000, rounded
    assert ((val_counts - full * 5_000 / 60_000).abs() < 1).all()


def test_real_split_is_disjoint(splits: MNISTSplits) -> None:
    def keys(images: torch.Tensor) -> set[bytes]:
        return set(map(bytes, images.reshape(len(images), -1).numpy()))

    train_keys, val_keys = keys(splits.train_images), keys(splits.val_images)
    # no MNIST training image occurs twice, so an overlap would mean a leaked index
    assert not train_keys & val_keys


def test_real_split_is_reproducible(splits: MNISTSplits) -> None:
    again = load_mnist_splits(download=False)
    assert torch.equal(again.val_labels, splits.val_labels)
    assert torch.equal(again.val_images[:100], splits.val_images[:100])


# ---------------------------------------------------------------- statistics and helpers
def test_normalization_stats_synthetic() -> None:
    assert normalization_stats(torch.full((2, 28, 28), 255, dtype=torch.uint8)) == (1.0, 0.0)
    half = torch.zeros(2, 28, 28, dtype=torch.uint8)
    half[0] = 255
    mean, std = normalization_stats(half)
    assert mean == pytest.approx(0.5)
    assert std == pytest.approx(float(torch.tensor([0.0, 1.0]).repeat_interleave(784).std()))


def test_normalization_stats_of_real_train_split(splits: MNISTSplits) -> None:
    mean, std = normalization_stats(splits.train_images)
    assert (round(mean, 4), round(std, 4)) == (0.1307, 0.3081)


def test_normalize_shapes_and_values() -> None:
    images = torch.tensor([[[0, 255]]], dtype=torch.uint8).expand(3, 28, 2).contiguous()
    out = normalize(images, mean=0.5, std=0.5)
    assert out.shape == (3, 1, 28, 2) and out.dtype == torch.float32
    assert out[0, 0, 0].tolist() == [-1.0, 1.0]
    assert torch.equal(normalize(images.float().div(255).unsqueeze(1), 0.5, 0.5), out)


def test_class_counts_has_all_classes() -> None:
    assert class_counts(torch.tensor([0, 0, 9])) == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]


def test_splits_helpers(small_mnist: Path) -> None:
    splits = load_mnist_splits(small_mnist, val_size=60, download=False)
    moved = splits.to("cpu")
    assert isinstance(moved, MNISTSplits) and moved is not splits
    assert torch.equal(moved.test_images, splits.test_images)
    images, labels = splits.split("val")
    assert images is splits.val_images and labels is splits.val_labels
    with pytest.raises(ValueError, match="Unknown split 'validation'"):
        splits.split("validation")


def test_sample_indices_per_class() -> None:
    labels = cyclic_labels(200)
    picked = sample_indices_per_class(labels, 5, seed=0)
    assert picked.shape == (10, 5)
    assert torch.equal(labels[picked], torch.arange(10)[:, None].expand(10, 5))
    assert len(set(picked.flatten().tolist())) == 50
    assert torch.equal(picked, sample_indices_per_class(labels, 5, seed=0))
    assert not torch.equal(picked, sample_indices_per_class(labels, 5, seed=1))
    with pytest.raises(ValueError, match="smallest class"):
        sample_indices_per_class(labels, 21)
