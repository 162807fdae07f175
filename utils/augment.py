"""Batched, per-sample random affine augmentation that runs where the data lives.

One ``affine_grid`` + ``grid_sample`` call warps a whole batch, each image with its own
rotation, scale and shift: no per-sample PIL work, no DataLoader workers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from utils.data import normalize, to_unit_float


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges are symmetric: rotation in degrees, translate in pixels, scale as +-fraction."""

    rotation_deg: float = 10.0
    translate_px: float = 2.0
    scale: float = 0.1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0, got {value}.")
        if self.scale >= 1:
            raise ValueError(f"AugmentConfig.scale must be < 1 (a fraction), got {self.scale}.")

    def scaled(self, strength: float) -> AugmentConfig:
        """The same recipe at ``strength`` times the ranges (0 turns augmentation off)."""
        if strength < 0:
            raise ValueError(f"Augmentation strength must be >= 0, got {strength}.")
        return AugmentConfig(
            rotation_deg=self.rotation_deg * strength,
            translate_px=self.translate_px * strength,
            scale=min(self.scale * strength, 0.5),
        )

    @property
    def is_identity(self) -> bool:
        return self.rotation_deg == 0 and self.translate_px == 0 and self.scale == 0


def affine_matrices(
    angles_deg: torch.Tensor, scales: torch.Tensor, shifts_px: torch.Tensor, size: int = 28
) -> torch.Tensor:
    """``[N, 2, 3]`` matrices mapping *output* to *input* coordinates (what affine_grid wants).

    A digit rotated by +a and enlarged by s means sampling the input at the inverse map.
    Shifts are in pixels; affine_grid works in [-1, 1], so one pixel is ``2 / size``.
    """
    angles = angles_deg * (math.pi / 180.0)
    cos, sin = torch.cos(angles) / scales, torch.sin(angles) / scales
    shift = shifts_px * (2.0 / size)
    theta = torch.empty(len(angles), 2, 3, device=angles.device, dtype=angles.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin
    theta[:, 1, 0], theta[:, 1, 1] = -sin, cos
    # output = R*s*input + shift  =>  input = (R*s)^-1 (output - shift)
    theta[:, 0, 2] = -(cos * shift[:, 0] + sin * shift[:, 1])
    theta[:, 1, 2] = -(-sin * shift[:, 0] + cos * shift[:, 1])
    return theta


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply ``[N, 2, 3]`` affine maps to ``[N, 1, H, W]`` float images (zeros outside)."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def sample_affine(
    n: int, config: AugmentConfig, generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The random draws of ``random_affine`` for ``n`` images: angles (degrees), scales and
    ``[n, 2]`` (x, y) shifts in pixels, uniform in ``config``'s ranges. One function, so that
    what ``utils.digit_stats`` measures is drawn exactly as training draws it."""

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=device) * 2 - 1

    angles = uniform(n) * config.rotation_deg
    scales = 1 + uniform(n) * config.scale
    shifts = uniform(n, 2) * config.translate_px
    return angles, scales, shifts


def random_affine(
    images: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Warp each image of a ``[N, 1, H, W]`` float batch (values in [0, 1]) with its own
    random rotation/scale/shift drawn uniformly from ``config``'s ranges."""
    if images.dim() != 4:
        raise ValueError(f"random_affine expects [N, 1, H, W] images, got shape {tuple(images.shape)}.")
    if config.is_identity:
        return images
    angles, scales, shifts = sample_affine(images.shape[0], config, generator, images.device)
    theta = affine_matrices(angles, scales, shifts, size=images.shape[-1])
    return warp(images, theta.to(images.dtype)).clamp_(0.0, 1.0)


def training_batch(
    images: torch.Tensor, augment: AugmentConfig, mean: float, std: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The one batch step of training: uint8 ``[B, 28, 28]`` -> warped, normalised float
    ``[B, 1, 28, 28]``. ``fit``, the benchmark and notebook 03 all call this, so what is
    measured and shown is exactly what trains."""
    return normalize(random_affine(to_unit_float(images), augment, generator=generator), mean, std)
