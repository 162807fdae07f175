"""The model family: parameter budgets, output contract, and the exact original replica."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils.interpretation import gap_input_geometry
from utils.models import (
    ABLATION_MODELS,
    BASELINE_MODELS,
    MODEL_REGISTRY,
    ChannelGate,
    ShiftBatchNorm2d,
    available_models,
    build_model,
    count_parameters,
    separable_net,
)
from utils.paths import REPO_ROOT

ORIGINAL_DIR = REPO_ROOT.parent / "shared/reference/original_mnist_994"
ORIGINAL_CHECKPOINT = ORIGINAL_DIR / "best_cnn_model.pth"

# The project's specification (not read from the code under test).
BUDGETS = {"primary19k": 20_000, "compact8k": 8_000, "tiny4k": 4_000, "micro2k": 2_000,
           "sep8k": 8_000, "sep4k": 4_000, "sep2k": 2_000, "sep1k": 1_000}
# Notebook 07's allocation screen: each budget spent deeper or on a wider stem
ALLOCATION = {f"sep{k}k_{how}": (f"sep{k}k", k * 1_000) for k in (8, 4, 2)
              for how in ("deep", "stem", "wide")}
BUDGETS |= {name: budget for name, (_, budget) in ALLOCATION.items()}
# Notebook 07's channel-attention screen: each separable model with a 3-tap gate per block
GATED = {f"sep{k}k_eca": f"sep{k}k" for k in (8, 4, 2, 1)}
BUDGETS |= {name: BUDGETS[base] for name, base in GATED.items()}
# Notebook 07's unequal widths (4x): a gated model's stem and budget, block widths growing with depth
GROWN = {"sep4k_eca_grow": "sep4k_eca"}
BUDGETS |= {name: BUDGETS[base] for name, base in GROWN.items()}
# Notebook 07's one-conv stem at 1k and 2k: the weights of the second stem conv spent on wider blocks
ONE_STEM = {"sep1k_onestem": "sep1k", "sep2k_onestem": "sep2k", "sep1k_onestem_wide": "sep1k",
            "sep1k_onestem_grow": "sep1k"}
BUDGETS |= {name: BUDGETS[base] for name, base in ONE_STEM.items()}
# ... and the one-conv stem with those gates
GATED |= {"sep1k_onestem_eca": "sep1k_onestem"}
# the RF before the GAP, which a gate leaves as it was: 28 px after a two-conv stem, 26 after one
GATED_RF = {name: 26 if base in ONE_STEM else 28 for name, base in GATED.items()}
BUDGETS |= {"sep1k_onestem_eca": BUDGETS["sep1k_onestem"]}
# Notebook 07's 4ag: BatchNorm without its scale γ, alone and with the freed weights spent
SHIFT_BN = {"sep1k_onestem_wide_shiftbn": "sep1k_onestem_wide", "sep1k_onestem_shiftbn": "sep1k_onestem_wide"}
BUDGETS |= {name: BUDGETS[ONE_STEM[base]] for name, base in SHIFT_BN.items()}
ORIGINAL_PARAMS = 19_898


def widths(net: nn.Module, kernel: int) -> list[int]:
    """Output channels of each full (ungrouped) ``kernel`` x ``kernel`` conv, in order."""
    return [m.out_channels for m in net.modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (kernel, kernel) and m.groups == 1]


def test_registry_holds_the_whole_family() -> None:
    assert set(available_models()) == (set(BUDGETS) | {"original19k"} | set(ABLATION_MODELS)
                                       | set(BASELINE_MODELS))


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_parameter_budget(name: str) -> None:
    assert count_parameters(build_model(name)) < BUDGETS[name]


@pytest.mark.parametrize("name", sorted(ALLOCATION))
def test_an_allocation_candidate_spends_its_base_models_budget_otherwise(name: str) -> None:
    base, budget = ALLOCATION[name]
    model, reference = build_model(name), build_model(base)
    assert count_parameters(reference) < count_parameters(model) < budget  # no free capacity
    # a fifth separable block, padded at 12x12 (jump 2), adds 4 px to the RF before the GAP
    extra_rf = 4 if name.endswith("_deep") else 0
    assert gap_input_geometry(model).rf == gap_input_geometry(reference).rf + extra_rf == 28 + extra_rf
    assert gap_input_geometry(model).size == gap_input_geometry(reference).size == 3


@pytest.mark.parametrize("name", sorted(GROWN))
def test_a_grown_model_widens_its_blocks_with_depth_and_keeps_the_rest(name: str) -> None:
    model, reference = build_model(name), build_model(GROWN[name])

    assert count_parameters(reference) < count_parameters(model) < BUDGETS[name]  # no free capacity
    assert widths(model, 3) == widths(reference, 3)  # the same full-conv stem
    blocks = widths(model, 1)  # each separable block's pointwise conv
    assert len(blocks) == len(widths(reference, 1)) == 4 and blocks == sorted(set(blocks))
    assert sum(isinstance(m, ChannelGate) for m in model.modules()) == 4
    assert gap_input_geometry(model).rf == gap_input_geometry(reference).rf == 28


@pytest.mark.parametrize("name", sorted(ONE_STEM))
def test_a_one_conv_stem_pays_for_wider_blocks(name: str) -> None:
    model, reference = build_model(name), build_model(ONE_STEM[name])

    assert count_parameters(reference) < count_parameters(model) < BUDGETS[name]  # no free capacity
    assert len(widths(model, 3)) == len(widths(reference, 3)) - 1 == 1
    assert len(widths(model, 1)) == 4 and min(widths(model, 1)) > max(widths(reference, 1))
    # the padded conv leaves the pool 28 px instead of 24: maps 2 px larger, a 2 px smaller RF
    assert gap_input_geometry(model).rf == gap_input_geometry(reference).rf - 2 == 26
    assert gap_input_geometry(model).size == gap_input_geometry(reference).size + 1 == 4


def test_a_batchnorm_scale_folds_into_the_convs_around_it() -> None:
    """ShiftBatchNorm2d's premise: conv -> BN(γ, β) -> ReLU -> max-pool -> conv computes what the
    same chain computes with a shift-only BN, once |γ| moves into the next conv and γ's sign
    into the one before, so dropping γ costs no function (γ != 0), in eval and in train mode."""
    torch.manual_seed(0)
    first, second = nn.Conv2d(2, 4, 3, bias=False), nn.Conv2d(4, 3, 3, bias=False)
    norm = nn.BatchNorm2d(4)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.7, -0.6, 0.3, -2.2]))  # both signs
        norm.bias.uniform_(-1, 1)
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    sign, size = norm.weight.detach().sign(), norm.weight.detach().abs()
    first_folded, second_folded = nn.Conv2d(2, 4, 3, bias=False), nn.Conv2d(4, 3, 3, bias=False)
    shift = ShiftBatchNorm2d(4)
    with torch.no_grad():
        first_folded.weight.copy_(first.weight * sign[:, None, None, None])
        second_folded.weight.copy_(second.weight * size[None, :, None, None])
        shift.bias.copy_(norm.bias / size)
        shift.running_mean.copy_(norm.running_mean * sign)
        shift.running_var.copy_(norm.running_var)
    x = torch.randn(5, 2, 12, 12)
    for train in (False, True):
        chains = [nn.Sequential(a, bn, nn.ReLU(), nn.MaxPool2d(2), b).train(train)
                  for a, bn, b in ((first, norm, second), (first_folded, shift, second_folded))]
        torch.testing.assert_close(chains[1](x), chains[0](x))
    # and it is one weight per channel, not two
    assert count_parameters(shift) == 4 == count_parameters(norm) // 2


@pytest.mark.parametrize("name", sorted(SHIFT_BN))
def test_a_shift_only_batchnorm_model_has_no_scales(name: str) -> None:
    model, reference = build_model(name), build_model(SHIFT_BN[name])
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(isinstance(m, ShiftBatchNorm2d) and m.weight is None for m in norms)
    assert gap_input_geometry(model).rf == gap_input_geometry(reference).rf == 26


def test_the_freed_scales_pay_for_wider_last_blocks() -> None:
    plain, ablation, spent = (build_model(name) for name in ("sep1k_onestem_wide",
                              "sep1k_onestem_wide_shiftbn", "sep1k_onestem_shiftbn"))
    channels = sum(m.num_features for m in plain.modules() if isinstance(m, nn.BatchNorm2d))
    assert count_parameters(ablation) == count_parameters(plain) - channels  # one γ per channel
    assert widths(ablation, 1) == widths(plain, 1)
    assert widths(spent, 1)[:2] == widths(plain, 1)[:2] and min(widths(spent, 1)[2:]) > max(widths(plain, 1))
    assert count_parameters(plain) < count_parameters(spent) < BUDGETS["sep1k_onestem_shiftbn"]


def test_a_gate_needs_the_batchnorm_scale() -> None:
    with pytest.raises(ValueError, match="bn_scale=True"):
        separable_net((4,), 11, "gated, no scale", gated=True, bn_scale=False)


@pytest.mark.parametrize("name", sorted(GATED))
def test_a_gated_model_is_its_base_plus_four_three_tap_gates(name: str) -> None:
    model, reference = build_model(name), build_model(GATED[name])
    gates = [m for m in model.modules() if isinstance(m, ChannelGate)]
    assert len(gates) == 4 and all(g.weight.numel() == 3 for g in gates)
    assert count_parameters(model) == count_parameters(reference) + 12 < BUDGETS[name]
    assert gap_input_geometry(model).rf == gap_input_geometry(reference).rf == GATED_RF[name]


def test_a_channel_gate_scales_whole_channels_by_what_their_maps_hold() -> None:
    gate = ChannelGate()
    x = torch.rand(2, 5, 6, 6) + 0.1
    ratio = gate(x) / x
    # one factor per image and channel, in (0, 1), the same at every position: gate.gates(x)
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    assert torch.allclose(ratio[:, :, 0, 0], gate.gates(x))
    assert ((ratio > 0) & (ratio < 1)).all()
    # and it depends on the map: brightening one channel's map changes the others' factors
    brighter = x.clone()
    brighter[:, 2] += 1
    assert not torch.allclose((gate(brighter) / brighter)[:, [1, 3]], ratio[:, [1, 3]])


def test_original_has_exactly_the_published_count() -> None:
    model = build_model("original19k")
    assert count_parameters(model) == ORIGINAL_PARAMS
    # every parameter is trainable: the count is not flattered by frozen weights
    assert sum(p.numel() for p in model.parameters()) == ORIGINAL_PARAMS


@pytest.mark.parametrize("name", available_models())
@pytest.mark.parametrize("train_mode", [False, True])
def test_output_is_n_by_10(name: str, train_mode: bool) -> None:
    torch.manual_seed(0)
    model = build_model(name).train(train_mode)
    out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [m for m in available_models()
                                  if m != "primary19k_nobn" and m not in BASELINE_MODELS])
def test_batchnorm_present(name: str) -> None:
    assert any(isinstance(m, nn.BatchNorm2d) for m in build_model(name).modules())


@pytest.mark.parametrize("name", available_models())
def test_docstring_states_count_and_budget(name: str) -> None:
    doc = MODEL_REGISTRY[name].__doc__ or ""
    count = count_parameters(build_model(name))
    assert f"{count:,}" in doc, f"{name}'s docstring does not state its {count:,} parameters"
    if name in BUDGETS:
        assert f"< {BUDGETS[name] // 1000}k" in doc, f"{name}'s docstring omits its budget"


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as excinfo:
        build_model("resnet50")
    message = str(excinfo.value)
    assert "resnet50" in message
    assert all(name in message for name in available_models())


def test_original_state_dict_keys_are_the_originals() -> None:
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    expected = (
        [f"{layer}.{p}" for layer in ("conv1", "conv2", "conv3", "conv4", "fc1")
         for p in ("weight", "bias")]
        + [f"{layer}.{p}" for layer in ("bn1", "bn2") for p in bn]
    )
    assert sorted(build_model("original19k").state_dict()) == sorted(expected)


def test_original_returns_log_probabilities() -> None:
    torch.manual_seed(0)
    model = build_model("original19k").eval()
    with torch.no_grad():
        out = model(torch.randn(4, 1, 28, 28))
    assert (out <= 0).all()
    torch.testing.assert_close(out.exp().sum(1), torch.ones(4))


def _original_state_dict() -> dict[str, torch.Tensor]:
    if not ORIGINAL_CHECKPOINT.is_file():
        pytest.skip(f"original checkpoint not found at {ORIGINAL_CHECKPOINT} (../shared is absent)")
    return torch.load(ORIGINAL_CHECKPOINT, map_location="cpu", weights_only=True)


def test_original_checkpoint_loads_strictly() -> None:
    state = _original_state_dict()
    model = build_model("original19k")
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(v.numel() for k, v in state.items() if "running" not in k
               and "num_batches" not in k) == ORIGINAL_PARAMS


def test_original_checkpoint_scores_9939(request: pytest.FixtureRequest) -> None:
    """The published weights reproduce the measured 99.39% through our own predict code."""
    state = _original_state_dict()
    try:
        splits = request.getfixturevalue("splits")
    except pytest.FixtureLookupError:
        pytest.skip("tests/conftest.py provides no `splits` fixture (MNIST test split)")
    from utils.evaluate import predict_logits
    from utils.models import ORIGINAL_NORMALIZATION

    model = build_model("original19k")
    model.load_state_dict(state, strict=True)
    images, labels = splits.split("test")
    logits = predict_logits(model, images, *ORIGINAL_NORMALIZATION, batch_size=2000)
    assert int((logits.argmax(1) == labels.cpu()).sum()) == 9939
