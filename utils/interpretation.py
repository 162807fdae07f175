"""Looking inside a trained model: feature maps, channel statistics, class activation maps,
attributions (through captum) and the effective receptive field.

Everything works on *normalised* inputs ``[N, 1, 28, 28]`` and on models whose head is
global average pooling + one linear layer (the whole family, and the original mnist_994).
For such a head the class activation map is exact::

    logit_c = b_c + sum_k w_ck * mean_xy A_k(x, y) = b_c + mean_xy CAM_c(x, y),
    CAM_c(x, y) = sum_k w_ck * A_k(x, y),

where ``A`` is the map that enters the global average pool.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from utils.receptive_field import receptive_field_table, spatial_rows

ATTRIBUTION_METHODS = ("saliency", "integrated_gradients", "occlusion", "grad_cam")


# --------------------------------------------------------------------------- hooks
def _gap_and_head(model: nn.Module) -> tuple[nn.AdaptiveAvgPool2d, nn.Linear]:
    """The model's one global average pool and its last linear layer (the classifier)."""
    pools = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(pools) != 1 or not linears:
        raise ValueError("CAM needs a model with exactly one AdaptiveAvgPool2d (GAP) followed "
                         f"by a linear head; found {len(pools)} pools and {len(linears)} linears.")
    return pools[0], linears[-1]


def gap_input(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the map ``A`` that enters global average pooling ``[N, K, h, w]``, the model output).

    A forward hook catches it, so the graph to ``inputs`` is kept (gradients can flow)."""
    pool, _ = _gap_and_head(model)
    caught: list[torch.Tensor] = []
    handle = pool.register_forward_hook(lambda module, args, output: caught.append(args[0]))
    try:
        output = model(inputs)
    finally:
        handle.remove()
    return caught[0], output


@torch.no_grad()
def feature_maps(model: nn.Module, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Output of every ``layer_type`` module (default: each ReLU, i.e. each stage), in the
    order they run, keyed by module name. Copies, so in-place layers cannot overwrite them."""
    maps: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(
            lambda module, args, output, name=name: maps.__setitem__(name, output.detach().clone()))
        for name, module in model.named_modules() if isinstance(module, nn.ReLU)
    ]
    try:
        model.eval()(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return maps


@torch.no_grad()
def channel_statistics(model: nn.Module, inputs: torch.Tensor, batch_size: int = 500
                       ) -> pd.DataFrame:
    """Per stage over all ``inputs``: mean activation, share of positions that fire (> 0), and
    dead channels (never > 0 on any input and position): capacity the model paid for and
    does not use."""
    sums: dict[str, torch.Tensor] = {}
    active: dict[str, torch.Tensor] = {}
    peak: dict[str, torch.Tensor] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for start in range(0, len(inputs), batch_size):
        for name, a in feature_maps(model, inputs[start:start + batch_size]).items():
            a = a.double()
            if a.dim() != 4:
                continue
            batch_sum, batch_active = a.sum((0, 2, 3)), (a > 0).double().sum((0, 2, 3))
            batch_peak = a.amax((0, 2, 3))
            if name not in sums:
                sums[name], active[name], peak[name] = batch_sum, batch_active, batch_peak
                shapes[name] = tuple(a.shape[1:])
            else:
                sums[name] += batch_sum
                active[name] += batch_active
                peak[name] = torch.maximum(peak[name], batch_peak)
    records = []
    for name, (channels, height, width) in shapes.items():
        count = len(inputs) * height * width
        dead = int((peak[name] <= 0).sum())
        records.append({"layer": name, "channels": channels, "size": height,
                        "mean_activation": float(sums[name].sum() / (count * channels)),
                        "fraction_active": float(active[name].sum() / (count * channels)),
                        "dead_channels": dead, "dead_fraction": dead / channels})
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- CAM
@dataclass(frozen=True)
class MapGeometry:
    """Where the units of the map entering GAP sit in the input (from notebook 02's
    calculator): unit ``i`` is centred on pixel ``start + i * jump`` and sees ``rf`` pixels."""

    size: int
    start: float
    jump: int
    rf: int

    def interval(self, index: int, input_size: int = 28) -> tuple[int, int]:
        """First and last input pixel unit ``index`` sees, clipped to the image."""
        half = (self.rf - 1) / 2
        centre = self.start + index * self.jump
        return max(0, int(centre - half)), min(input_size - 1, int(centre + half))


def gap_input_geometry(model: nn.Module, input_size: int = 28) -> MapGeometry:
    """Geometry of the last spatial map before global average pooling."""
    rows = spatial_rows(receptive_field_table(model, input_size))
    before = [row for row in rows if row.type != "AdaptiveAvgPool2d"]
    last = before[-1]
    return MapGeometry(size=int(last.size), start=last.start, jump=last.jump, rf=last.rf)


def class_activation_maps(model: nn.Module, inputs: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(CAMs ``[N, classes, h, w]``, pre-softmax logits ``[N, classes]`` = spatial mean of
    the CAM plus the bias). Exact for a GAP + linear head; no gradients involved."""
    _, head = _gap_and_head(model)
    with torch.no_grad():
        features, _ = gap_input(model.eval(), inputs)
        cams = torch.einsum("ck,nkhw->nchw", head.weight, features)
        logits = head(features.mean((2, 3)))
    return cams, logits


def upsample_to_input(maps: torch.Tensor, geometry: MapGeometry, size: int = 28) -> torch.Tensor:
    """Resample ``[N, C, h, w]`` maps onto the ``size x size`` input grid, putting each unit at
    the input pixel its receptive field is centred on (bilinear in between, fading to zero
    one unit beyond the outermost centres): the right way to overlay a CAM on the digit, not
    a plain stretch to 28x28."""
    if maps.shape[-1] != geometry.size:
        raise ValueError(f"maps are {maps.shape[-1]} wide but the geometry says {geometry.size}.")
    pixels = torch.arange(size, dtype=maps.dtype, device=maps.device)
    unit = (pixels - geometry.start) / geometry.jump  # fractional unit index of each pixel
    coord = 2 * unit / max(geometry.size - 1, 1) - 1  # align_corners=True: units at +-1
    grid_y, grid_x = torch.meshgrid(coord, coord, indexing="ij")
    grid = torch.stack([grid_x, grid_y], -1).expand(len(maps), size, size, 2)
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


# --------------------------------------------------------------------------- attributions
def gap_input_layer(model: nn.Module) -> nn.Module:
    """The module whose output enters global average pooling (the layer for Grad-CAM)."""
    pool, _ = _gap_and_head(model)
    previous = None
    for module in model.modules():
        if module is pool:
            break
        if not list(module.children()):
            previous = module
    if previous is None:
        raise ValueError("No layer runs before the global average pool.")
    return previous


IG_STEPS = 32  # integrated gradients: steps of the path integral from the baseline
OCCLUSION_WINDOW = 4  # occlusion: side of the square patch, in pixels
# Occlusion scores are differences of float32 logits. A patch that changes nothing scores 0 on
# some CPUs and a rounding remainder of up to 1.2e-6 on others (measured on notebook 06's
# mistakes under AVX-512 and SSE4.1 kernels, one and two threads). Ranked, hundreds of such
# pixels then come out in noise order instead of tied: one rank correlation moved by 0.12.
# Scores below this resolution are set to 0; the smallest meaningful ones are far larger.
OCCLUSION_RESOLUTION = 1e-5


def attribute(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, method: str,
              baseline: float) -> torch.Tensor:
    """Attribution maps ``[N, 28, 28]`` for class ``target`` with captum (PyTorch's
    interpretability library: tested implementations beat hand-written ones).

    ``baseline`` is the normalised value of a blank (background) pixel: the "absence of ink"
    that integrated gradients starts from and occlusion paints in. Signs: saliency is
    ``|gradient|``; integrated gradients and occlusion are signed (positive = evidence for
    ``target``); Grad-CAM is its ReLU'd map placed on the input grid like a CAM.
    """
    # here, not at the top: captum takes seconds to import, and only this function needs it
    from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency

    model = model.eval()
    inputs = inputs.detach().clone().requires_grad_(True)
    target = target.long()
    if method == "saliency":
        maps = Saliency(model).attribute(inputs, target=target, abs=True)
    elif method == "integrated_gradients":
        maps = IntegratedGradients(model).attribute(inputs, baselines=baseline, target=target,
                                                    n_steps=IG_STEPS)
    elif method == "occlusion":
        window = OCCLUSION_WINDOW
        maps = Occlusion(model).attribute(
            inputs, sliding_window_shapes=(1, window, window), strides=(1, window // 2, window // 2),
            baselines=baseline, target=target, perturbations_per_eval=64)
        maps = without_rounding_noise(maps, OCCLUSION_RESOLUTION)
    elif method == "grad_cam":
        layer_maps = LayerGradCam(model, gap_input_layer(model)).attribute(
            inputs, target=target, relu_attributions=True)
        maps = upsample_to_input(layer_maps, gap_input_geometry(model, inputs.shape[-1]),
                                 inputs.shape[-1])
    else:
        raise ValueError(f"Unknown method {method!r}; choose from {', '.join(ATTRIBUTION_METHODS)}.")
    return maps.detach()[:, 0]


def without_rounding_noise(maps: torch.Tensor, resolution: float) -> torch.Tensor:
    """``maps`` with every value smaller in size than ``resolution`` set to exactly 0, so that
    what rounding made of "no effect" ties, the same on every CPU."""
    return torch.where(maps.abs() < resolution, torch.zeros_like(maps), maps)


def attribution_maps(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor,
                     baseline: float, methods: Sequence[str] = ATTRIBUTION_METHODS
                     ) -> dict[str, torch.Tensor]:
    return {method: attribute(model, inputs, target, method, baseline) for method in methods}


def topk_overlap(a: torch.Tensor, b: torch.Tensor, k: int) -> float:
    """Share of the ``k`` pixels with the largest ``|a|`` that are also among the ``k`` largest
    ``|b|`` (1 = the two maps point at the same pixels). Ties are broken by pixel index."""
    a, b = a.flatten(), b.flatten()
    if a.shape != b.shape:
        raise ValueError(f"maps differ in size: {a.numel()} vs {b.numel()} pixels.")
    if not 0 < k <= a.numel():
        raise ValueError(f"k must be between 1 and {a.numel()}, got {k}.")
    top_a = set(torch.argsort(-a.abs(), stable=True)[:k].tolist())
    top_b = set(torch.argsort(-b.abs(), stable=True)[:k].tolist())
    return len(top_a & top_b) / k


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman correlation of ``|a|`` and ``|b|`` over pixels (average ranks for ties, then
    Pearson; pandas' ranking, since scipy is not a dependency). NaN if a map is constant."""
    x = pd.Series(a.detach().flatten().abs().double().numpy()).rank()
    y = pd.Series(b.detach().flatten().abs().double().numpy()).rank()
    return float(x.corr(y))


def attribution_agreement(maps: dict[str, torch.Tensor], k: int = 50) -> pd.DataFrame:
    """For every pair of methods: mean Spearman correlation and mean top-``k`` overlap over
    the examples (rows of each ``[N, 28, 28]`` map)."""
    names = list(maps)
    records = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            pairs = list(zip(maps[first], maps[second], strict=True))
            records.append({
                "method_a": first, "method_b": second,
                "spearman": sum(rank_correlation(a, b) for a, b in pairs) / len(pairs),
                f"top{k}_overlap": sum(topk_overlap(a, b, k) for a, b in pairs) / len(pairs),
            })
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- ERF
def effective_receptive_field(model: nn.Module, inputs: torch.Tensor,
                              unit: tuple[int, int] | None = None) -> torch.Tensor:
    """Luo et al. (2016): ``|d A(unit) / d input|``, summed over channels of the map entering
    GAP, averaged over ``inputs`` and normalised to sum 1: how much each input pixel actually
    moves one unit, as opposed to the square it could in theory see. ``[H, W]`` float64."""
    inputs = inputs.detach().clone().double().requires_grad_(True)
    probe = _double_copy(model)
    features, _ = gap_input(probe, inputs)
    height, width = features.shape[2:]
    row, col = unit if unit is not None else (height // 2, width // 2)
    (grad,) = torch.autograd.grad(features[:, :, row, col].sum(), inputs)
    erf = grad.abs().sum(1).mean(0)
    total = erf.sum()
    if total <= 0:
        raise ValueError("The gradient is zero everywhere: the unit is dead on these inputs.")
    return (erf / total).detach()


def _double_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).double().eval()


def mass_extent(erf: torch.Tensor, centre: tuple[float, float], fraction: float) -> int:
    """Side (pixels) of the smallest square centred on ``centre`` (row, col) holding at least
    ``fraction`` of the map's mass: the effective receptive field's size at that level."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    rows = torch.arange(erf.shape[0], dtype=torch.float64)[:, None]
    cols = torch.arange(erf.shape[1], dtype=torch.float64)[None, :]
    distance = torch.maximum((rows - centre[0]).abs(), (cols - centre[1]).abs()).flatten()
    weights = (erf / erf.sum()).flatten()
    order = torch.argsort(distance, stable=True)
    cumulative = torch.cumsum(weights[order], 0)
    reached = int(torch.searchsorted(cumulative, torch.tensor(fraction - 1e-12, dtype=torch.float64)))
    reached = min(reached, len(order) - 1)
    return int(round(2 * float(distance[order][reached]) + 1))
