"""Inspection helpers: hooks, exact CAM, geometry, captum wrappers, agreement, ERF."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils.interpretation import (
    ATTRIBUTION_METHODS,
    OCCLUSION_RESOLUTION,
    MapGeometry,
    attribute,
    attribution_agreement,
    channel_statistics,
    class_activation_maps,
    effective_receptive_field,
    feature_maps,
    gap_input_geometry,
    gap_input_layer,
    mass_extent,
    rank_correlation,
    topk_overlap,
    upsample_to_input,
    without_rounding_noise,
)
from utils.models import build_model
from utils.receptive_field import empirical_receptive_field


def trained_like(arch: str, seed: int = 0) -> nn.Module:
    """A random model with non-trivial BatchNorm statistics (so eval mode is not identity)."""
    torch.manual_seed(seed)
    model = build_model(arch)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 1, 28, 28))
    return model.eval()


@pytest.mark.parametrize("arch", ["primary19k", "compact8k", "original19k"])
def test_cam_spatial_mean_plus_bias_is_the_logit(arch: str) -> None:
    model = trained_like(arch)
    x = torch.randn(4, 1, 28, 28)
    cams, logits = class_activation_maps(model, x)
    head = model.classifier if hasattr(model, "classifier") else model.fc1
    assert torch.allclose(cams.mean((2, 3)) + head.bias, logits, atol=1e-5)
    output = model(x)
    expected = torch.log_softmax(logits, 1) if arch == "original19k" else logits
    assert torch.allclose(output, expected, atol=1e-5)
    size = gap_input_geometry(model).size
    assert cams.shape == (4, 10, size, size)


def test_cam_needs_a_gap_head() -> None:
    with pytest.raises(ValueError, match="exactly one AdaptiveAvgPool2d"):
        class_activation_maps(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
                              torch.zeros(1, 1, 28, 28))


def test_feature_maps_and_channel_statistics_see_every_stage() -> None:
    model = trained_like("primary19k")
    x = torch.randn(6, 1, 28, 28)
    maps = feature_maps(model, x)
    assert [m.shape[-1] for m in maps.values()] == [26, 24, 12, 10, 8, 6, 6]
    assert all(bool((m >= 0).all()) for m in maps.values())  # ReLU outputs
    stats = channel_statistics(model, x, batch_size=4)  # two batches must add up like one
    whole = channel_statistics(model, x, batch_size=6)
    assert torch.allclose(torch.tensor(stats["mean_activation"].values),
                          torch.tensor(whole["mean_activation"].values))
    assert stats["channels"].tolist() == [16, 32, 16, 16, 32, 16, 16]
    with torch.no_grad():  # kill one channel of the first stage: it must be counted dead
        model.features[1].bias[3] = -1e6
    assert channel_statistics(model, x)["dead_channels"].iloc[0] == 1


def test_geometry_matches_the_receptive_field_calculator_and_the_empirical_field() -> None:
    model = build_model("primary19k")
    geometry = gap_input_geometry(model)
    assert geometry == MapGeometry(size=6, start=8.5, jump=2, rf=22)
    rows, cols = empirical_receptive_field(model, "features.21", input_size=28, unit=(3, 3))
    assert rows == geometry.interval(3) and cols == geometry.interval(3)


def test_upsample_puts_each_unit_on_its_centre_pixel() -> None:
    geometry = MapGeometry(size=6, start=8.5, jump=2, rf=22)
    maps = torch.zeros(1, 1, 6, 6)
    maps[0, 0, 2, 4] = 1.0  # centred on input (12.5, 16.5): half way between pixels
    up = upsample_to_input(maps, geometry)[0, 0]
    # pixels 12 and 13 are a quarter unit (half a pixel / jump 2) away: 0.75 per axis
    assert torch.allclose(up[12:14, 16:18], torch.full((2, 2), 0.5625))
    assert float(up[11, 16]) == pytest.approx(0.25 * 0.75) and float(up[10, 16]) == 0
    assert float(up.sum()) == pytest.approx(4 * 1.0, abs=1e-5)  # bilinear tent over 4x4 px
    with pytest.raises(ValueError, match="geometry says 6"):
        upsample_to_input(torch.zeros(1, 1, 4, 4), geometry)


def test_gap_input_layer_is_the_last_layer_before_pooling() -> None:
    original = build_model("original19k")
    assert gap_input_layer(original) is original.drop2
    model = build_model("compact8k")
    assert gap_input_layer(model) is model.features[-1]


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_attributions_have_the_input_shape_and_are_deterministic(method: str) -> None:
    model = trained_like("compact8k")
    x = torch.randn(2, 1, 28, 28)
    target = torch.tensor([3, 7])
    first = attribute(model, x, target, method, baseline=-0.42)
    assert first.shape == (2, 28, 28)
    assert torch.equal(first, attribute(model, x, target, method, baseline=-0.42))
    if method == "saliency":
        assert bool((first >= 0).all())


def test_integrated_gradients_satisfy_completeness() -> None:
    """Sum of IG = f(x) - f(baseline) (its defining axiom), up to the Riemann-sum error."""
    model = trained_like("compact8k").double()
    x = torch.randn(1, 1, 28, 28, dtype=torch.float64)
    target = torch.tensor([5])
    ig = attribute(model, x, target, "integrated_gradients", baseline=0.0)
    with torch.no_grad():
        gap = model(x)[0, 5] - model(torch.zeros_like(x))[0, 5]
    assert float(ig.sum()) == pytest.approx(float(gap), rel=0.1, abs=0.05)
    with pytest.raises(ValueError, match="Unknown method 'lime'"):
        attribute(model, x, target, "lime", baseline=0.0)


def test_topk_overlap_and_rank_correlation() -> None:
    a = torch.tensor([[5.0, 4.0], [3.0, 0.0]])
    assert topk_overlap(a, a, 2) == 1.0
    assert topk_overlap(a, -a, 2) == 1.0  # magnitudes are compared
    assert topk_overlap(a, torch.tensor([[0.0, 1.0], [2.0, 3.0]]), 2) == 0.0
    assert rank_correlation(a, a * 3) == pytest.approx(1.0)
    assert rank_correlation(a, torch.tensor([[0.0, 1.0], [2.0, 3.0]])) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="k must be between 1 and 4"):
        topk_overlap(a, a, 5)
    table = attribution_agreement({"x": a[None], "y": a[None], "z": -a[None]}, k=2)
    assert len(table) == 3 and set(table["top2_overlap"]) == {1.0}


def test_effective_receptive_field_lies_inside_the_theoretical_one() -> None:
    model = trained_like("primary19k")
    x = torch.randn(8, 1, 28, 28)
    erf = effective_receptive_field(model, x)
    geometry = gap_input_geometry(model)
    low, high = geometry.interval(3)
    assert float(erf.sum()) == pytest.approx(1.0)
    inside = erf[low:high + 1, low:high + 1].sum()
    assert float(inside) == pytest.approx(1.0)  # no gradient outside the theoretical field
    centre = geometry.start + 3 * geometry.jump
    assert mass_extent(erf, (centre, centre), 1.0) <= geometry.rf


def test_mass_extent_of_known_maps() -> None:
    point = torch.zeros(9, 9, dtype=torch.float64)
    point[4, 4] = 1
    assert mass_extent(point, (4, 4), 0.9) == 1
    flat = torch.ones(9, 9, dtype=torch.float64)
    assert mass_extent(flat, (4, 4), 1.0) == 9
    assert mass_extent(flat, (4, 4), 0.3) == 5  # 25 of 81 pixels = 0.31
    with pytest.raises(ValueError, match="fraction must be in"):
        mass_extent(flat, (4, 4), 0)


def test_rounding_remainders_tie_at_zero_and_real_scores_stay():
    maps = torch.tensor([[1e-6, -9.5e-6, 1e-5, -0.3, 0.0, 2e-7]])
    cleaned = without_rounding_noise(maps, 1e-5)
    rounded_to_zero = torch.tensor([[0.0, 0.0, 1e-5, -0.3, 0.0, 0.0]])  # as another CPU gives it
    assert torch.equal(cleaned, rounded_to_zero)
    # the ranks the remainders scrambled are ties again, as on that CPU
    assert rank_correlation(maps, rounded_to_zero) < 1.0
    assert rank_correlation(cleaned, rounded_to_zero) == pytest.approx(1.0)


def test_occlusion_scores_are_zero_or_above_the_resolution():
    model = trained_like("micro2k")
    inputs = torch.rand(2, 1, 28, 28)
    inputs[:, :, :8] = 0.0  # a blank band: patches there change nothing
    maps = attribute(model, inputs, torch.tensor([3, 7]), "occlusion", baseline=0.0)
    nonzero = maps[maps != 0].abs()
    assert (maps == 0).any() and bool((nonzero >= OCCLUSION_RESOLUTION).all())
