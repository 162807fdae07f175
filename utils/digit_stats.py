"""Per-image statistics of MNIST digits: where the ink is and how much room it leaves.

Everything is vectorised over a whole split (``uint8 [N, 28, 28]``), processed in chunks so
memory stays bounded, and computed in float64 so printed statistics do not depend on the CPU's
reduction order. These numbers justify the augmentation ranges in ``utils.augment``: a shift
is only harmless if the digit keeps a margin to the border, a zoom only if it still fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from utils.augment import AugmentConfig, affine_matrices, sample_affine, warp
from utils.data import NUM_CLASSES

DEFAULT_CHUNK = 8192


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 3:
        raise ValueError(
            f"Expected images shaped [N, H, W] (e.g. uint8 [N, 28, 28]), got {tuple(images.shape)}."
        )


def pixel_histogram(images: torch.Tensor) -> torch.Tensor:
    """Counts of each grey level 0-255 over all pixels (``int64 [256]``)."""
    _check_images(images)
    if images.dtype != torch.uint8:
        raise ValueError(f"pixel_histogram needs uint8 images (0-255), got {images.dtype}.")
    return torch.bincount(images.reshape(-1).long(), minlength=256)


def mean_image_per_class(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int = NUM_CLASSES
) -> torch.Tensor:
    """The average digit of each class on the [0, 1] scale (``float64 [C, H, W]``)."""
    _check_images(images)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    flat = images.reshape(len(images), -1).to(torch.float64) / 255.0
    sums = torch.zeros(num_classes, flat.shape[1], dtype=torch.float64)
    sums.index_add_(0, labels.long(), flat)
    counts = torch.bincount(labels.long(), minlength=num_classes).to(torch.float64)
    if bool((counts == 0).any()):
        empty = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"No images for classes {empty}: cannot average them.")
    return (sums / counts[:, None]).reshape(num_classes, *images.shape[1:])


def center_of_mass(images: torch.Tensor, chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Intensity-weighted centre ``(row, col)`` of each image in pixel coordinates
    (``float64 [N, 2]``; the centre of a 28x28 image is 13.5). Blank images give NaN."""
    _check_images(images)
    height, width = images.shape[1:]
    rows = torch.arange(height, dtype=torch.float64)
    cols = torch.arange(width, dtype=torch.float64)
    parts = []
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64)
        mass = x.sum(dim=(1, 2))
        row = (x.sum(dim=2) * rows).sum(dim=1) / mass
        col = (x.sum(dim=1) * cols).sum(dim=1) / mass
        parts.append(torch.stack([row, col], dim=1))
    if not parts:
        return torch.empty(0, 2, dtype=torch.float64)
    return torch.cat(parts)


def _first_last(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the first and last True along dim 1 of a ``[N, L]`` mask (-1 where none)."""
    length = mask.shape[1]
    any_set = mask.any(dim=1)
    as_int = mask.to(torch.uint8)
    first = as_int.argmax(dim=1)
    last = length - 1 - as_int.flip(dims=[1]).argmax(dim=1)
    missing = torch.full_like(first, -1)
    return torch.where(any_set, first, missing), torch.where(any_set, last, missing)


def bounding_boxes(images: torch.Tensor, threshold: int = 0) -> torch.Tensor:
    """Tight box around the pixels brighter than ``threshold``: ``int64 [N, 4]`` as
    ``(top, bottom, left, right)``, inclusive; ``-1`` everywhere for a blank image."""
    _check_images(images)
    ink = images > threshold
    top, bottom = _first_last(ink.any(dim=2))
    left, right = _first_last(ink.any(dim=1))
    return torch.stack([top, bottom, left, right], dim=1).long()


def box_sizes(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heights and widths in pixels of ``bounding_boxes`` output (0 for blank images)."""
    blank = boxes[:, 0] < 0
    heights = torch.where(blank, 0, boxes[:, 1] - boxes[:, 0] + 1)
    widths = torch.where(blank, 0, boxes[:, 3] - boxes[:, 2] + 1)
    return heights, widths


def border_margins(boxes: torch.Tensor, size: int = 28) -> torch.Tensor:
    """Smallest distance in pixels between each digit's box and the image border
    (``int64 [N]``): how far the digit can be shifted before ink leaves the frame."""
    top, bottom, left, right = boxes.unbind(dim=1)
    margins = torch.stack([top, size - 1 - bottom, left, size - 1 - right], dim=1)
    return margins.min(dim=1).values


@dataclass(frozen=True)
class GeometrySummary:
    """Where digits sit and how big they are, summarised over a split."""

    com_row_mean: float
    com_col_mean: float
    com_row_std: float
    com_col_std: float
    height_median: float
    width_median: float
    height_max: int
    width_max: int
    margin_min: int
    margin_p01: float
    margin_median: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def geometry_summary(images: torch.Tensor, threshold: int = 0) -> GeometrySummary:
    """Centre-of-mass spread, box sizes and border margins of a split, in pixels."""
    com = center_of_mass(images)
    boxes = bounding_boxes(images, threshold)
    heights, widths = box_sizes(boxes)
    margins = border_margins(boxes, size=images.shape[-1]).to(torch.float64)
    valid = ~torch.isnan(com).any(dim=1)
    com = com[valid]
    return GeometrySummary(
        com_row_mean=float(com[:, 0].mean()),
        com_col_mean=float(com[:, 1].mean()),
        com_row_std=float(com[:, 0].std()),
        com_col_std=float(com[:, 1].std()),
        height_median=float(heights.to(torch.float64).median()),
        width_median=float(widths.to(torch.float64).median()),
        height_max=int(heights.max()),
        width_max=int(widths.max()),
        margin_min=int(margins.min()),
        margin_p01=float(torch.quantile(margins, 0.01)),
        margin_median=float(margins.median()),
    )


def rotated_extent(height: float, width: float, degrees: float) -> tuple[float, float]:
    """Height and width of the box that holds a ``height x width`` box rotated by ``degrees``.

    Tells whether a rotation can push a digit's corners out of the 28x28 frame.
    """
    angle = torch.deg2rad(torch.tensor(float(degrees), dtype=torch.float64))
    cos, sin = float(torch.cos(angle).abs()), float(torch.sin(angle).abs())
    return height * cos + width * sin, height * sin + width * cos


def ink_kept_fraction(
    images: torch.Tensor, angles_deg: torch.Tensor, scales: torch.Tensor,
    shifts_px: torch.Tensor, chunk: int = 4096,
) -> torch.Tensor:
    """Share of each digit's ink that stays inside the frame after its affine warp
    (``float64 [N]``; 1.0 = nothing cut off).

    The warp is applied on a canvas padded wide enough that no ink can leave it, with the
    frame in its middle; kept = ink inside the frame / all ink on the canvas. Measuring mass
    on the same warped canvas makes the ratio independent of the zoom (which scales the
    total ink) and of interpolation.
    """
    _check_images(images)
    size = images.shape[-1]
    reach = float(scales.abs().max()) * size / 2 * 2**0.5 + float(shifts_px.abs().max()) * 2**0.5
    pad = max(1, int(reach - size / 2) + 2) if len(images) else 1
    canvas = size + 2 * pad
    parts = []
    for start in range(0, len(images), chunk):
        end = start + chunk
        x = images[start:end].to(torch.float64).unsqueeze(1) / 255.0
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        theta = affine_matrices(angles_deg[start:end].double(), scales[start:end].double(),
                                shifts_px[start:end].double(), size=canvas)
        warped = warp(x, theta)[:, 0]
        total = warped.sum(dim=(1, 2))
        inside = warped[:, pad : pad + size, pad : pad + size].sum(dim=(1, 2))
        parts.append(torch.where(total > 0, inside / total, torch.ones_like(total)))
    if not parts:
        return torch.empty(0, dtype=torch.float64)
    return torch.cat(parts).clamp_(max=1.0)


def ink_kept_under_augmentation(
    images: torch.Tensor, config: AugmentConfig, seed: int = 0
) -> torch.Tensor:
    """``ink_kept_fraction`` under the *composed* random rotation, scale and shift of
    ``utils.augment.random_affine``, drawn as it draws them (one seeded draw for the batch)."""
    generator = torch.Generator().manual_seed(seed)
    angles, scales, shifts = sample_affine(len(images), config, generator)
    return ink_kept_fraction(images, angles, scales, shifts)


ALL_INK_TOLERANCE = 1e-9  # absorbs float rounding of an exact 1.0


def ink_kept_summary(kept: torch.Tensor) -> dict[str, float]:
    """Percentages over digits: all ink kept, mean ink kept, and the 1st percentile / minimum
    of ink kept (the worst digits)."""
    kept = kept.to(torch.float64)
    return {
        "digits keeping all ink (%)": 100 * float((kept >= 1 - ALL_INK_TOLERANCE).double().mean()),
        "mean ink kept (%)": 100 * float(kept.mean()),
        "ink kept, 1st percentile (%)": 100 * float(torch.quantile(kept, 0.01)),
        "ink kept, worst digit (%)": 100 * float(kept.min()),
    }
