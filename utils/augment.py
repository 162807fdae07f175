"""Batched, per-sample random augmentation that runs where the data lives.

One ``affine_grid`` + ``grid_sample`` call warps a whole batch, each image with its own
rotation, scale and shift: no per-sample PIL work, no DataLoader workers. Stroke thickness and
elastic distortion, and brightness and contrast, all off in the shipped recipe, vary the same
way: each image blended with its own 3x3 dilation or erosion (two max-pools for the whole batch),
resampled along its own smooth random displacement field (one blur and one ``grid_sample`` for the
whole batch), or scaled and blended with its own mean by its own factors (two multiply-adds).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from utils.data import normalize, to_unit_float


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges are symmetric: rotation in degrees, translate in pixels, scale as +-fraction, and
    thickness as +-fraction of one 3x3 dilation (thicker strokes) or erosion (thinner).
    ``elastic_alpha`` scales Simard et al.'s elastic distortion, in pixels (see random_elastic).
    ``brightness`` and ``contrast`` are +-fractions of torchvision's factors (factor 1 changes
    nothing; see random_brightness_contrast)."""

    rotation_deg: float = 10.0
    translate_px: float = 2.0
    scale: float = 0.1
    thickness: float = 0.0
    elastic_alpha: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0, got {value}.")
        if self.scale >= 1:
            raise ValueError(f"AugmentConfig.scale must be < 1 (a fraction), got {self.scale}.")
        if self.thickness > 1:
            raise ValueError(f"AugmentConfig.thickness must be at most 1 (a fraction of one "
                             f"dilation or erosion step), got {self.thickness}.")
        for name in ("brightness", "contrast"):
            if getattr(self, name) > 1:
                raise ValueError(f"AugmentConfig.{name} must be at most 1 (factors range over "
                                 f"1 +- {name}, and a factor below 0 has no meaning), got "
                                 f"{getattr(self, name)}.")

    def scaled(self, strength: float) -> AugmentConfig:
        """The same recipe at ``strength`` times the ranges (0 turns augmentation off)."""
        if strength < 0:
            raise ValueError(f"Augmentation strength must be >= 0, got {strength}.")
        return AugmentConfig(
            rotation_deg=self.rotation_deg * strength,
            translate_px=self.translate_px * strength,
            scale=min(self.scale * strength, 0.5),
            thickness=min(self.thickness * strength, 1.0),
            elastic_alpha=self.elastic_alpha * strength,
            brightness=min(self.brightness * strength, 1.0),
            contrast=min(self.contrast * strength, 1.0),
        )

    @property
    def warps(self) -> bool:
        return self.rotation_deg != 0 or self.translate_px != 0 or self.scale != 0

    @property
    def is_identity(self) -> bool:
        return (not self.warps and self.thickness == 0 and self.elastic_alpha == 0
                and self.brightness == 0 and self.contrast == 0)


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


def resample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``[N, 1, H, W]`` float images read at ``[N, H, W, 2]`` grid points in [-1, 1] (bilinear,
    zeros outside): the one sampling convention of the affine and the elastic warp."""
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply ``[N, 2, 3]`` affine maps to ``[N, 1, H, W]`` float images (zeros outside)."""
    return resample(images, F.affine_grid(theta, list(images.shape), align_corners=False))


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
    if not config.warps:
        return images
    angles, scales, shifts = sample_affine(images.shape[0], config, generator, images.device)
    theta = affine_matrices(angles, scales, shifts, size=images.shape[-1])
    return warp(images, theta.to(images.dtype)).clamp_(0.0, 1.0)


def thickness_step(images: torch.Tensor, sign: int) -> torch.Tensor:
    """One 3x3 dilation (``sign`` +1: every stroke a pixel thicker on each side) or erosion (-1:
    thinner) of ``[N, 1, H, W]`` float images: a stride-1 max-pool, of the negated image for
    erosion. Notebook 06 measures the models on whole steps."""
    return sign * F.max_pool2d(sign * images, kernel_size=3, stride=1, padding=1)


def random_thickness(images: torch.Tensor, max_fraction: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of a ``[N, 1, H, W]`` float batch blended with its own dilation (t > 0) or
    erosion (t < 0) by a fraction |t|, t uniform in [-max_fraction, max_fraction]: strokes
    thicker or thinner by up to ``max_fraction`` of a whole step, continuously."""
    if max_fraction == 0:
        return images
    n = images.shape[0]
    fractions = ((torch.rand(n, generator=generator, device=images.device) * 2 - 1)
                 * max_fraction).to(images.dtype).view(n, 1, 1, 1)
    thicker = fractions.clamp(min=0) * (thickness_step(images, 1) - images)
    thinner = (-fractions).clamp(min=0) * (thickness_step(images, -1) - images)
    return images + thicker + thinner


# Simard, Steinkraus & Platt (2003), "Best practices for convolutional neural networks applied to
# visual document analysis": the displacement field is smoothed by a Gaussian of sigma 4 px (their
# MNIST choice, with alpha 34); the blur kernel reaches 3 sigma each way.
ELASTIC_SIGMA_PX = 4.0
ELASTIC_KERNEL = 2 * math.ceil(3 * ELASTIC_SIGMA_PX) + 1


def elastic_displacements(n: int, alpha: float, size: int, generator: torch.Generator | None = None,
                          device: torch.device | str = "cpu") -> torch.Tensor:
    """``[n, size, size, 2]`` (x, y) displacements in pixels: uniform noise in [-1, 1] per pixel
    and axis, blurred by a Gaussian of ``ELASTIC_SIGMA_PX`` (torchvision's blur: one call for the
    whole batch), times ``alpha``. Neighbouring pixels move together, so strokes bend smoothly."""
    noise = torch.rand(n, 2, size, size, generator=generator, device=device) * 2 - 1
    smooth = TF.gaussian_blur(noise, [ELASTIC_KERNEL] * 2, [ELASTIC_SIGMA_PX] * 2)
    return (alpha * smooth).permute(0, 2, 3, 1)


def random_elastic(images: torch.Tensor, alpha: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of a square ``[N, 1, H, W]`` float batch resampled along its own random smooth
    displacement field (``elastic_displacements``). torchvision's ElasticTransform draws one field
    per call from the global generator; training needs one per image, from the run's generator."""
    if alpha == 0:
        return images
    n, _, height, width = images.shape
    if height != width:
        raise ValueError(f"random_elastic expects square images, got {height}x{width}.")
    identity = torch.eye(2, 3, device=images.device, dtype=images.dtype).expand(n, 2, 3)
    grid = F.affine_grid(identity, list(images.shape), align_corners=False)
    shift = elastic_displacements(n, alpha, width, generator, images.device).to(images.dtype)
    grid = grid + shift * (2.0 / width)  # grid_sample's coordinates span [-1, 1]
    return resample(images, grid).clamp_(0.0, 1.0)


def random_factors(n: int, max_fraction: float, generator: torch.Generator | None,
                   device: torch.device | str) -> torch.Tensor:
    """``[n, 1, 1, 1]`` factors uniform in [1 - max_fraction, 1 + max_fraction]."""
    return (1 + (torch.rand(n, generator=generator, device=device) * 2 - 1) * max_fraction).view(
        n, 1, 1, 1)


def random_brightness_contrast(images: torch.Tensor, brightness: float, contrast: float,
                               generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of a ``[N, 1, H, W]`` float batch (values in [0, 1]) with its own brightness
    factor, then its own contrast factor, each uniform in 1 +- the fraction: torchvision's
    ``adjust_brightness`` (the image times the factor) and ``adjust_contrast`` (the image blended
    with its own mean), clamped to [0, 1]. torchvision's functions take one factor per call;
    training needs one per image, from the run's generator. A fraction of 0 draws nothing."""
    if brightness:
        factors = random_factors(images.shape[0], brightness, generator, images.device).to(images.dtype)
        images = (images * factors).clamp(0.0, 1.0)
    if contrast:
        factors = random_factors(images.shape[0], contrast, generator, images.device).to(images.dtype)
        means = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (factors * images + (1 - factors) * means).clamp(0.0, 1.0)
    return images


def training_batch(
    images: torch.Tensor, augment: AugmentConfig, mean: float, std: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The one batch step of training: uint8 ``[B, 28, 28]`` -> warped, normalised float
    ``[B, 1, 28, 28]``. ``fit``, the benchmark and notebook 03 all call this, so what is
    measured and shown is exactly what trains. Thickness first (it is the writer's pen), then the
    affine warp, then the elastic one, then brightness and contrast (the scanner's exposure); a
    step that is off draws no random number."""
    images = random_thickness(to_unit_float(images), augment.thickness, generator)
    images = random_affine(images, augment, generator=generator)
    images = random_elastic(images, augment.elastic_alpha, generator)
    images = random_brightness_contrast(images, augment.brightness, augment.contrast, generator)
    return normalize(images, mean, std)
