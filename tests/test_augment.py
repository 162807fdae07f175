"""Batched random-affine augmentation: identity cases, ranges, randomness and sign conventions.

Conventions checked here (image coordinates: x to the right, y *down*, as on screen):
a positive ``shifts_px[:, 0]`` moves content right, a positive ``shifts_px[:, 1]`` moves it
down, and a positive angle turns content clockwise on screen.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from utils.augment import (
    AugmentConfig,
    affine_matrices,
    elastic_displacements,
    random_affine,
    random_brightness_contrast,
    random_elastic,
    random_thickness,
    thickness_step,
    training_batch,
    warp,
)

SIZE = 28


def one_pixel_image(row: int, col: int, n: int = 1) -> torch.Tensor:
    images = torch.zeros(n, 1, SIZE, SIZE)
    images[:, 0, row, col] = 1.0
    return images


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def single_transform(angle: float = 0.0, scale: float = 1.0, dx: float = 0.0,
                     dy: float = 0.0) -> torch.Tensor:
    return affine_matrices(torch.tensor([angle]), torch.tensor([scale]), torch.tensor([[dx, dy]]))


def bright_pixel(image: torch.Tensor) -> tuple[int, int]:
    """(row, col) of the brightest pixel of a ``[1, 1, H, W]`` image."""
    flat = int(image.flatten().argmax())
    return divmod(flat, image.shape[-1])


def test_identity_config_returns_input_unchanged():
    images = random_images(4)
    assert AugmentConfig(0, 0, 0).is_identity
    out = random_affine(images, AugmentConfig(0, 0, 0), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, images)


def test_strength_zero_turns_augmentation_off():
    assert AugmentConfig().scaled(0.0).is_identity
    assert not AugmentConfig().scaled(1.0).is_identity


def test_identity_matrices_through_warp_return_input():
    images = random_images(3)
    theta = affine_matrices(torch.zeros(3), torch.ones(3), torch.zeros(3, 2))
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(3, 2, 3)
    torch.testing.assert_close(theta, expected)
    torch.testing.assert_close(warp(images, theta), images, atol=1e-5, rtol=0)


def test_output_stays_in_unit_range():
    images = random_images(64)
    images[:, :, 10:18, 10:18] = 1.0  # saturated block: bilinear mixing must not exceed 1
    strong = AugmentConfig(rotation_deg=45, translate_px=6, scale=0.4)
    out = random_affine(images, strong, generator=torch.Generator().manual_seed(1))
    assert out.shape == images.shape
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0


def test_each_image_in_a_batch_gets_its_own_warp():
    images = random_images(1).expand(16, 1, SIZE, SIZE).contiguous()  # 16 copies of one image
    out = random_affine(images, AugmentConfig(), generator=torch.Generator().manual_seed(0))
    flat = out.flatten(1)
    distances = torch.cdist(flat, flat)
    off_diagonal = distances[~torch.eye(16, dtype=torch.bool)]
    assert float(off_diagonal.min()) > 1e-3, "two images of the batch got the same transform"


def test_same_seed_same_output_different_seed_different_output():
    images = random_images(8)
    config = AugmentConfig()

    def run(seed: int) -> torch.Tensor:
        return random_affine(images, config, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(3), run(3))
    assert not torch.allclose(run(3), run(4))


def test_positive_shift_moves_content_right_and_down():
    image = one_pixel_image(10, 10)
    right = warp(image, single_transform(dx=2.0))
    down = warp(image, single_transform(dy=2.0))
    assert bright_pixel(right) == (10, 12)
    assert bright_pixel(down) == (12, 10)
    # A whole-pixel shift moves the pixel intact (no blur), so it can be compared exactly.
    torch.testing.assert_close(right, one_pixel_image(10, 12), atol=1e-5, rtol=0)
    torch.testing.assert_close(down, one_pixel_image(12, 10), atol=1e-5, rtol=0)


def test_positive_angle_rotates_clockwise_on_screen():
    # The centre of a 28x28 image lies between pixels 13 and 14; a pixel right of it
    # (row 13, col 20) rotated by +90 degrees about it lands below it (row 20, col 14).
    image = one_pixel_image(13, 20)
    rotated = warp(image, single_transform(angle=90.0))
    assert bright_pixel(rotated) == (20, 14)
    # For the whole image, +90 degrees is numpy/torch rot90 with k=-1 (clockwise).
    images = random_images(2)
    theta = affine_matrices(torch.full((2,), 90.0), torch.ones(2), torch.zeros(2, 2))
    torch.testing.assert_close(warp(images, theta), torch.rot90(images, k=-1, dims=(-2, -1)),
                               atol=1e-5, rtol=0)


def test_scale_above_one_enlarges_the_digit():
    image = torch.zeros(1, 1, SIZE, SIZE)
    image[:, :, 11:17, 11:17] = 1.0  # a centred 6x6 square
    bigger = warp(image, single_transform(scale=1.5))
    smaller = warp(image, single_transform(scale=0.7))
    ink = float(image.sum())
    assert float(bigger.sum()) > 1.5 * ink
    assert float(smaller.sum()) < 0.7 * ink


def test_shift_is_applied_after_rotation_and_scale():
    # output = R*s*input + shift: the rotated pixel (row 20, col 14) then moves 3 px right.
    image = one_pixel_image(13, 20)
    moved = warp(image, single_transform(angle=90.0, dx=3.0))
    assert bright_pixel(moved) == (20, 17)


def test_random_affine_stays_within_configured_ranges():
    # With only translation (whole pixels are not guaranteed), the centre of mass of a pixel
    # can move at most translate_px in x and in y.
    image = one_pixel_image(13, 13, n=256)
    config = AugmentConfig(rotation_deg=0, translate_px=2.0, scale=0)
    out = random_affine(image, config, generator=torch.Generator().manual_seed(0))
    rows = torch.arange(SIZE, dtype=torch.float32)
    mass = out.sum(dim=(1, 2, 3))
    row_centre = (out.sum(dim=(1, 3)) * rows).sum(dim=1) / mass
    col_centre = (out.sum(dim=(1, 2)) * rows).sum(dim=1) / mass
    assert float((row_centre - 13).abs().max()) <= 2.0 + 1e-4
    assert float((col_centre - 13).abs().max()) <= 2.0 + 1e-4
    assert float((col_centre - 13).abs().max()) > 1.0  # the range is actually used


@pytest.mark.parametrize(
    "kwargs", [{"rotation_deg": -1.0}, {"translate_px": -0.5}, {"scale": -0.1}, {"scale": 1.0},
               {"scale": 1.5}]
)
def test_config_rejects_invalid_ranges(kwargs):
    with pytest.raises(ValueError, match="AugmentConfig"):
        AugmentConfig(**kwargs)


def test_negative_strength_is_rejected_and_scale_is_capped():
    with pytest.raises(ValueError, match="strength"):
        AugmentConfig().scaled(-0.5)
    doubled = AugmentConfig(rotation_deg=10, translate_px=2, scale=0.1).scaled(2.0)
    assert (doubled.rotation_deg, doubled.translate_px) == (20, 4)
    assert AugmentConfig(scale=0.3).scaled(10.0).scale == 0.5  # never a degenerate zoom


def test_random_affine_rejects_unbatched_images():
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        random_affine(torch.zeros(SIZE, SIZE), AugmentConfig())


# ------------------------------------------------------------------------- stroke thickness
def test_thickness_off_draws_nothing_and_changes_nothing():
    images = random_images(4)
    generator = torch.Generator().manual_seed(0)
    assert random_thickness(images, 0.0, generator) is images
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())
    assert not AugmentConfig().is_identity and AugmentConfig(0, 0, 0).is_identity
    assert not AugmentConfig(0, 0, 0, thickness=0.5).is_identity
    assert not AugmentConfig(0, 0, 0, thickness=0.5).warps


def test_random_thickness_stays_between_erosion_and_dilation_and_goes_both_ways():
    images = one_pixel_image(14, 14, n=64)
    images[:, 0, 10:18, 13] = 1.0  # a vertical stroke, so erosion has something to thin
    out = random_thickness(images, 1.0, torch.Generator().manual_seed(3))
    assert bool((out >= thickness_step(images, -1) - 1e-6).all())
    assert bool((out <= thickness_step(images, 1) + 1e-6).all())
    ink = out.sum(dim=(1, 2, 3))
    before = images[0].sum()
    assert bool((ink > before).any()) and bool((ink < before).any())  # thicker and thinner
    assert len(set(ink.tolist())) == 64  # each image its own fraction


def test_thickness_step_is_a_dilation_and_an_erosion():
    images = one_pixel_image(5, 5)
    assert int((thickness_step(images, 1) > 0).sum()) == 9
    assert torch.equal(thickness_step(thickness_step(images, 1), -1), images)


@pytest.mark.parametrize(("thickness", "strength", "expected"), [(0.5, 1.0, 0.5), (0.75, 2.0, 1.0),
                                                                (0.5, 0.0, 0.0)])
def test_strength_scales_thickness_up_to_one_step(thickness, strength, expected):
    assert AugmentConfig(thickness=thickness).scaled(strength).thickness == expected


def test_more_than_one_step_of_thickness_is_refused():
    with pytest.raises(ValueError, match="thickness must be at most 1"):
        AugmentConfig(thickness=1.5)


# ------------------------------------------------------------------------- elastic distortion
def test_elastic_off_draws_nothing_and_changes_nothing():
    images = random_images(4)
    generator = torch.Generator().manual_seed(0)
    assert random_elastic(images, 0.0, generator) is images
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())
    assert not AugmentConfig(0, 0, 0, elastic_alpha=34.0).is_identity


def test_elastic_field_is_smooth_scales_with_alpha_and_differs_per_image():
    field = elastic_displacements(64, 34.0, SIZE, torch.Generator().manual_seed(1))
    assert field.shape == (64, SIZE, SIZE, 2)
    rms = float(field.pow(2).mean().sqrt())
    assert 0.5 < rms < 5  # pixels: a visible bend, not a scramble
    # neighbours move together: a step to the next pixel changes the shift far less than the shift
    step = float((field[:, :, 1:] - field[:, :, :-1]).pow(2).mean().sqrt())
    assert step < rms / 3
    half = elastic_displacements(64, 17.0, SIZE, torch.Generator().manual_seed(1))
    assert torch.allclose(half * 2, field, atol=1e-5)
    assert not torch.allclose(field[0], field[1])


def test_elastic_moves_strokes_a_little_and_keeps_blank_images_blank():
    images = one_pixel_image(14, 14, n=32)
    images[:, 0, 8:20, 14] = 1.0  # a vertical stroke
    out = random_elastic(images, 34.0, torch.Generator().manual_seed(2))
    assert not torch.equal(out, images)
    assert len({tuple(o.flatten().tolist()) for o in out}) == 32  # each image its own field
    ink = out.sum(dim=(1, 2, 3))
    ratio = ink / images[0].sum()  # a one-pixel stroke stretched or squeezed, not erased
    assert bool(((ratio > 0.5) & (ratio < 2)).all())
    rows, cols = out[:, 0].nonzero(as_tuple=True)[1:]
    assert int(cols.min()) >= 14 - 8 and int(cols.max()) <= 14 + 8  # bent, not flung away
    blank = torch.zeros(2, 1, SIZE, SIZE)
    assert torch.equal(random_elastic(blank, 34.0, torch.Generator().manual_seed(2)), blank)


def test_elastic_is_reproducible_from_the_runs_generator_and_refuses_non_square_images():
    raw = (random_images(8) * 255).to(torch.uint8)[:, 0]
    config = AugmentConfig(elastic_alpha=34.0)
    first = training_batch(raw, config, 0.13, 0.31, torch.Generator().manual_seed(5))
    again = training_batch(raw, config, 0.13, 0.31, torch.Generator().manual_seed(5))
    assert torch.equal(first, again)
    assert not torch.equal(first, training_batch(raw, AugmentConfig(), 0.13, 0.31,
                                                 torch.Generator().manual_seed(5)))
    with pytest.raises(ValueError, match="square"):
        random_elastic(torch.zeros(1, 1, SIZE, SIZE + 2), 34.0)


def test_strength_scales_elastic_alpha():
    assert AugmentConfig(elastic_alpha=34.0).scaled(0.5).elastic_alpha == 17.0


# ------------------------------------------------------------------------- brightness and contrast
def test_brightness_contrast_off_draws_nothing_and_changes_nothing():
    images = random_images(4)
    generator = torch.Generator().manual_seed(0)
    assert random_brightness_contrast(images, 0.0, 0.0, generator) is images
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())
    assert not AugmentConfig(0, 0, 0, brightness=0.2).is_identity
    assert not AugmentConfig(0, 0, 0, contrast=0.2).is_identity
    assert not AugmentConfig(0, 0, 0, brightness=0.2, contrast=0.2).warps


def test_brightness_contrast_is_torchvisions_with_one_factor_per_image():
    images = random_images(16) * 0.8  # below 1, so brightening is not all clamping
    out = random_brightness_contrast(images, 0.3, 0.4, torch.Generator().manual_seed(7))
    # the same draws, in the same order: 16 brightness factors, then 16 contrast factors
    draws = torch.rand(32, generator=torch.Generator().manual_seed(7)) * 2 - 1
    brightness, contrast = 1 + draws[:16] * 0.3, 1 + draws[16:] * 0.4
    for image, result, b, c in zip(images, out, brightness, contrast, strict=True):
        expected = TF.adjust_contrast(TF.adjust_brightness(image, float(b)), float(c))
        torch.testing.assert_close(result, expected)
    assert float(brightness.min()) < 0.9 and float(brightness.max()) > 1.1  # both ways
    assert float(contrast.min()) < 0.85 and float(contrast.max()) > 1.15


def test_brightness_contrast_stays_in_range_and_keeps_a_blank_image_blank():
    images = random_images(64)
    out = random_brightness_contrast(images, 1.0, 1.0, torch.Generator().manual_seed(1))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    blank = torch.zeros(3, 1, SIZE, SIZE)
    assert torch.equal(random_brightness_contrast(blank, 0.5, 0.5,
                                                  torch.Generator().manual_seed(1)), blank)


def test_training_batch_applies_brightness_contrast_reproducibly():
    raw = (random_images(8) * 255).to(torch.uint8)[:, 0]
    config = AugmentConfig(brightness=0.2, contrast=0.2)
    first = training_batch(raw, config, 0.13, 0.31, torch.Generator().manual_seed(5))
    assert torch.equal(first, training_batch(raw, config, 0.13, 0.31,
                                             torch.Generator().manual_seed(5)))
    assert not torch.equal(first, training_batch(raw, AugmentConfig(), 0.13, 0.31,
                                                 torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("name", ["brightness", "contrast"])
def test_brightness_and_contrast_beyond_one_are_refused_and_strength_stops_at_one(name):
    with pytest.raises(ValueError, match=f"{name} must be at most 1"):
        AugmentConfig(**{name: 1.5})
    assert getattr(AugmentConfig(**{name: 0.2}).scaled(0.5), name) == 0.1
    assert getattr(AugmentConfig(**{name: 0.6}).scaled(2.0), name) == 1.0
