"""Per-image digit statistics (utils/digit_stats.py) on hand-made images with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from utils.augment import AugmentConfig, affine_matrices, random_affine, sample_affine, warp
from utils.data import MNISTSplits
from utils.digit_stats import (
    border_margins,
    bounding_boxes,
    box_sizes,
    center_of_mass,
    geometry_summary,
    ink_kept_fraction,
    ink_kept_summary,
    ink_kept_under_augmentation,
    mean_image_per_class,
    pixel_histogram,
    rotated_extent,
)


def blank(n: int = 1) -> torch.Tensor:
    return torch.zeros(n, 28, 28, dtype=torch.uint8)


def rectangle(top: int, bottom: int, left: int, right: int, value: int = 255) -> torch.Tensor:
    image = blank()
    image[0, top : bottom + 1, left : right + 1] = value
    return image


def test_pixel_histogram_counts_every_pixel() -> None:
    images = rectangle(0, 1, 0, 9, value=7)  # 20 pixels of value 7
    histogram = pixel_histogram(torch.cat([images, blank(2)]))
    assert histogram.shape == (256,)
    assert int(histogram.sum()) == 3 * 784
    assert int(histogram[7]) == 20 and int(histogram[0]) == 3 * 784 - 20
    with pytest.raises(ValueError, match="uint8"):
        pixel_histogram(images.float())


def test_center_of_mass_of_single_pixels_and_weights() -> None:
    images = blank(3)
    images[0, 3, 20] = 255
    images[1, 10, 10] = 100
    images[1, 10, 14] = 100  # two equal pixels: centre halfway
    images[2, 0, 0] = 30
    images[2, 0, 3] = 10  # weighted: 3/4 of the mass at column 0
    com = center_of_mass(images)
    assert com.dtype == torch.float64
    assert com.tolist() == [[3.0, 20.0], [10.0, 12.0], [0.0, 0.75]]


def test_center_of_mass_chunks_agree_and_blank_is_nan() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (37, 28, 28), dtype=torch.uint8, generator=generator)
    assert torch.equal(center_of_mass(images, chunk=5), center_of_mass(images, chunk=100))
    assert torch.isnan(center_of_mass(blank())).all()
    assert center_of_mass(blank(0)).shape == (0, 2)


def test_bounding_box_sizes_and_margins() -> None:
    images = torch.cat([rectangle(5, 24, 10, 13), rectangle(0, 27, 0, 27), blank()])
    boxes = bounding_boxes(images)
    assert boxes.tolist() == [[5, 24, 10, 13], [0, 27, 0, 27], [-1, -1, -1, -1]]
    heights, widths = box_sizes(boxes)
    assert heights.tolist() == [20, 28, 0] and widths.tolist() == [4, 28, 0]
    # first image: top 5, bottom 27-24=3, left 10, right 27-13=14 -> 3
    assert border_margins(boxes[:2]).tolist() == [3, 0]


def test_bounding_box_threshold_ignores_faint_pixels() -> None:
    image = rectangle(10, 12, 10, 12)
    image[0, 2, 2] = 5  # faint speck far away
    assert bounding_boxes(image).tolist() == [[2, 12, 2, 12]]
    assert bounding_boxes(image, threshold=5).tolist() == [[10, 12, 10, 12]]


def test_mean_image_per_class() -> None:
    images = torch.cat([rectangle(0, 0, 0, 0), blank(), rectangle(5, 5, 5, 5, value=51)])
    labels = torch.tensor([0, 0, 1])
    means = mean_image_per_class(images, labels, num_classes=2)
    assert means.shape == (2, 28, 28) and means.dtype == torch.float64
    assert means[0, 0, 0] == pytest.approx(0.5) and float(means[0].sum()) == pytest.approx(0.5)
    assert means[1, 5, 5] == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"No images for classes \[2\]"):
        mean_image_per_class(images, labels, num_classes=3)
    with pytest.raises(ValueError, match="labels"):
        mean_image_per_class(images, labels[:2])


def test_geometry_summary_of_known_digits() -> None:
    images = torch.cat([rectangle(4, 23, 4, 23), rectangle(4, 23, 12, 15), blank()])
    summary = geometry_summary(images)
    assert summary.com_row_mean == pytest.approx(13.5)
    assert summary.com_col_mean == pytest.approx(13.5)
    assert summary.height_max == 20 and summary.width_max == 20
    assert summary.margin_min == -1  # the blank image has no box: reported, not hidden
    assert set(summary.as_dict()) >= {"com_row_std", "margin_median", "width_median"}


def test_rotated_extent() -> None:
    assert rotated_extent(20, 10, 0) == pytest.approx((20, 10))
    assert rotated_extent(20, 10, 90) == pytest.approx((10, 20))
    assert rotated_extent(20, 20, 45) == pytest.approx((20 * math.sqrt(2),) * 2)
    assert rotated_extent(20, 20, -10) == pytest.approx(rotated_extent(20, 20, 10))


def test_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        center_of_mass(torch.zeros(2, 1, 28, 28))


def test_real_digits_are_centred_by_mass(splits: MNISTSplits) -> None:
    """MNIST's documented construction: digits fit a 20x20 box and are centred by centre of
    mass in the 28x28 frame. Checks the functions on real data against that description."""
    images = splits.val_images
    com = center_of_mass(images)
    assert ((com - 14.0).abs() <= 0.6).float().mean() > 0.99
    heights, widths = box_sizes(bounding_boxes(images))
    assert int(torch.maximum(heights, widths).max()) <= 20


def _no_warp(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.zeros(n), torch.ones(n), torch.zeros(n, 2)


def test_identity_keeps_all_ink() -> None:
    images = torch.cat([rectangle(0, 27, 0, 27), rectangle(4, 23, 12, 15), blank()])
    assert ink_kept_fraction(images, *_no_warp(3)).tolist() == [1.0, 1.0, 1.0]
    identity = ink_kept_under_augmentation(images, AugmentConfig(0, 0, 0), seed=3)
    assert identity.tolist() == [1.0, 1.0, 1.0]


def test_shift_off_the_edge_loses_the_known_share() -> None:
    """A bar 4 px wide touching the left edge, shifted 2 px left: half its columns leave."""
    bar = rectangle(10, 17, 0, 3)
    angles, scales, _ = _no_warp(1)
    kept = ink_kept_fraction(bar, angles, scales, torch.tensor([[-2.0, 0.0]]))
    assert float(kept) == pytest.approx(0.5, abs=1e-9)
    kept = ink_kept_fraction(bar, angles, scales, torch.tensor([[+2.0, 0.0]]))
    assert float(kept) == pytest.approx(1.0, abs=1e-9)  # the other way it stays inside


def test_zoom_of_a_centred_digit_keeps_its_ink_and_a_full_frame_loses_some() -> None:
    small = rectangle(9, 18, 9, 18)
    full = rectangle(0, 27, 0, 27)
    angles, _, shifts = _no_warp(2)
    kept = ink_kept_fraction(torch.cat([small, full]), angles, torch.tensor([1.2, 1.2]), shifts)
    assert float(kept[0]) == pytest.approx(1.0, abs=1e-9)
    assert float(kept[1]) == pytest.approx(1 / 1.2**2, abs=0.02)  # a 1.2x zoom of the frame


def test_sampling_matches_random_affine_draw_for_draw() -> None:
    """What the statistics measure is exactly what training draws (same seed, same warps)."""
    images = torch.rand(5, 1, 28, 28, dtype=torch.float64)
    config = AugmentConfig()
    expected = random_affine(images, config, generator=torch.Generator().manual_seed(7))
    angles, scales, shifts = sample_affine(5, config, torch.Generator().manual_seed(7))
    theta = affine_matrices(angles, scales, shifts).double()  # as random_affine computes it
    assert torch.allclose(warp(images, theta).clamp(0, 1), expected)


def test_composed_draws_cut_more_than_none_and_summary_counts_them() -> None:
    images = torch.cat([rectangle(0, 27, 0, 27), rectangle(9, 18, 9, 18)])
    # without zoom, any non-zero shift moves part of a full frame out of it
    kept = ink_kept_under_augmentation(images, AugmentConfig(scale=0.0), seed=0)
    assert float(kept[0]) < 0.99 and float(kept[1]) == pytest.approx(1.0, abs=1e-9)
    summary = ink_kept_summary(kept)
    assert summary["digits keeping all ink (%)"] == pytest.approx(50.0)
    assert summary["ink kept, worst digit (%)"] == pytest.approx(100 * float(kept[0]))
