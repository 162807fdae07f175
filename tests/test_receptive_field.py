"""The receptive-field calculator against hand-worked numbers, the original README's table,
torchinfo's counts, and an independent gradient-based measurement."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torchinfo import summary

from utils.models import available_models, build_model, count_parameters
from utils.paths import REPO_ROOT
from utils.receptive_field import (
    ReceptiveFieldError,
    empirical_check,
    empirical_receptive_field,
    output_size,
    receptive_field_table,
    rf_dataframe,
    spatial_rows,
    stage_summary,
    summary_text,
    unit_coverage,
)

ORIGINAL_README = REPO_ROOT.parent / "shared/reference/original_mnist_994/README.md"


def clipped_interval(row, index: int, input_size: int) -> tuple[int, int]:
    low, high = row.unit_interval(index)
    assert low == int(low) and high == int(high), "field edges must land on pixels"
    return max(0, int(low)), min(input_size - 1, int(high))


def assert_matches_empirical(model: nn.Module, input_size: int, unit=None) -> int:
    """Every spatial layer: measured field == theoretical field (clipped to the image)."""
    checked = 0
    for row in spatial_rows(receptive_field_table(model, input_size)):
        index = (row.size // 2, row.size // 2) if unit is None else unit
        measured = empirical_receptive_field(model, row.name, input_size, unit=index)
        expected = (
            clipped_interval(row, index[0], input_size),
            clipped_interval(row, index[1], input_size),
        )
        assert measured == expected, f"{row.name} ({row.type}): {measured} != {expected}"
        checked += 1
    return checked


GAP_MODELS = [n for n in available_models()
              if any(isinstance(m, nn.AdaptiveAvgPool2d) for m in build_model(n).modules())]


def test_flatten_head_model_matches_gradient_at_its_own_size() -> None:
    """A flatten + linear head fixes the input size (28 px), so fields clip at the border."""
    model = build_model("primary19k_fchead")
    assert assert_matches_empirical(model, 28) == len(spatial_rows(receptive_field_table(model, 28)))


@pytest.mark.parametrize("name", GAP_MODELS)
def test_calculator_matches_gradient_for_every_layer(name: str) -> None:
    # 64 px input: the centre unit's whole field fits inside the image (before the GAP),
    # so the comparison is not flattered by border clipping.
    model = build_model(name)
    rows = spatial_rows(receptive_field_table(model, 64))
    for row in rows:
        if row.type != "AdaptiveAvgPool2d":
            low, high = row.unit_interval(row.size // 2)
            assert 0 <= low and high <= 63, f"{row.name}: field {low}-{high} is clipped"
    assert assert_matches_empirical(model, 64) == len(rows)


@pytest.mark.parametrize("name", ["original19k", "primary19k"])
def test_corner_unit_is_clipped_by_padding(name: str) -> None:
    # The top-left unit's theoretical field starts left of the image (padding / GAP);
    # the gradient can only reach real pixels, so it must equal the clipped interval.
    assert_matches_empirical(build_model(name), 28, unit=(0, 0))


def test_hand_worked_two_convs_and_pool() -> None:
    # conv3x3: n=28-2=26, r=1+2*1=3, j=1, start=0+(1-0)*1=1
    # conv3x3: n=26-2=24, r=3+2*1=5, j=1, start=1+1=2
    # pool2x2: n=24/2=12, r=5+1*1=6, j=1*2=2, start=2+0.5*1=2.5
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.MaxPool2d(2))
    rows = receptive_field_table(model, 28)
    got = [(r.type, r.size, r.rf, r.jump, r.start) for r in rows]
    assert got == [
        ("Conv2d", 26, 3, 1, 1.0),
        ("ReLU", 26, 3, 1, 1.0),
        ("Conv2d", 24, 5, 1, 2.0),
        ("MaxPool2d", 12, 6, 2, 2.5),
    ]
    # Unit 3 of the pool output is centred on 2.5 + 3*2 = 8.5 and sees pixels 6..11.
    assert rows[-1].unit_interval(3) == (6.0, 11.0)
    assert empirical_receptive_field(model, "3", 28, unit=(3, 3)) == ((6, 11), (6, 11))


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        # dilation 2: effective kernel 2*(3-1)+1=5 -> n=24, r=5, start=2
        ([nn.Conv2d(1, 1, 3, dilation=2)], [(24, 1, 5, 2.0)]),
        # stride 2, padding 1: n=(28+2-3)//2+1=14, j=2, start=1-1=0; next 3x3: r=3+2*2=7
        (
            [nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3)],
            [(14, 2, 3, 0.0), (12, 2, 7, 2.0)],
        ),
        # 5x5 'same' then avg-pool 3, stride 2, padding 1: n=(28+2-3)//2+1=14, r=5+2=7
        (
            [nn.Conv2d(1, 1, 5, padding=2), nn.AvgPool2d(3, stride=2, padding=1)],
            [(28, 1, 5, 0.0), (14, 2, 7, 0.0)],
        ),
        # padding='same' with dilation 2 -> padding 2, size kept
        ([nn.Conv2d(1, 1, 3, padding="same", dilation=2)], [(28, 1, 5, 0.0)]),
        # dilated max-pool: k=2, d=2 spans 3 pixels; n=(28-2-1)//2+1=13
        ([nn.MaxPool2d(2, stride=2, dilation=2)], [(13, 2, 3, 1.0)]),
        # stride-3 conv then 2x2 pool: j=3 then 6; r=3, then 3+1*3=6; n=9 then 4
        (
            [nn.Conv2d(1, 1, 3, stride=3), nn.MaxPool2d(2)],
            [(9, 3, 3, 1.0), (4, 6, 6, 2.5)],
        ),
    ],
)
def test_stride_padding_dilation_cases(layers: list[nn.Module], expected: list) -> None:
    model = nn.Sequential(*layers)
    rows = receptive_field_table(model, 28)
    assert [(r.size, r.jump, r.rf, r.start) for r in rows] == expected
    assert_matches_empirical(model, 28)  # includes clipped borders for the padded cases


def test_ceil_mode_pool_size_follows_pytorch() -> None:
    for n in range(5, 30):
        pooled = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)(torch.zeros(1, 1, n, n))
        assert output_size(n, 3, 2, 1, 1, ceil_mode=True) == pooled.shape[-1]
        assert receptive_field_table(nn.Sequential(nn.MaxPool2d(3, 2, 1, ceil_mode=True)), n)[
            0
        ].size == pooled.shape[-1]


def test_original19k_matches_readme_table() -> None:
    if not ORIGINAL_README.is_file():
        pytest.skip(f"original README not found at {ORIGINAL_README} (../shared is absent)")
    text = ORIGINAL_README.read_text()
    sizes = [int(m.group(1)) for m in re.finditer(r"\| 16x(\d+)x\1 \|", text)]
    params = {
        m.group(1): int(m.group(2).replace(",", ""))
        for m in re.finditer(r"`(\w+)` \| [^|]* \| ([\d,]+) \|", text)
    }
    rows = receptive_field_table(build_model("original19k"), 28)
    windows = [r for r in rows if r.type in ("Conv2d", "MaxPool2d")]
    assert [r.size for r in windows] == sizes == [28, 24, 12, 12, 8, 4]
    by_name = {r.name: r.params for r in rows}
    assert params and all(by_name[key] == count for key, count in params.items())
    # By hand: conv1 5 -> conv2 5+4=9 -> pool1 9+1=10 (jump 2) -> conv3 10+4*2=18
    # -> conv4 18+4*2=26 -> pool2 26+1*2=28 (jump 4): the last unit before GAP sees 28 px.
    conv4 = next(r for r in rows if r.name == "conv4")
    pool2 = next(r for r in rows if r.name == "pool2")
    assert (conv4.rf, conv4.jump) == (26, 2)
    assert (pool2.rf, pool2.jump) == (28, 4)


@pytest.mark.parametrize("name", available_models())
def test_params_and_macs_agree_with_torchinfo(name: str) -> None:
    model = build_model(name)
    rows = receptive_field_table(model, 28)
    assert sum(r.params for r in rows) == count_parameters(model)
    stats = summary(model, input_size=(1, 1, 28, 28), verbose=0)
    assert stats.total_params == count_parameters(model)
    info = {id(layer.module): layer for layer in stats.summary_list}
    modules = dict(model.named_modules())
    checked = 0
    for row in rows:
        module = modules[row.name]
        if isinstance(module, nn.Conv2d | nn.Linear):
            layer = info[id(module)]
            # torchinfo also counts one add per bias element and output position.
            bias = module.bias.numel() if module.bias is not None else 0
            positions = row.size**2 if row.size is not None else 1
            assert layer.macs == row.macs + bias * positions, row.name
            checked += 1
    assert checked == sum(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules())


def test_dataframe_keeps_forward_order_and_integer_columns() -> None:
    model = build_model("primary19k")
    frame = rf_dataframe(receptive_field_table(model))
    names = [n for n, m in model.named_modules() if not list(m.children())]
    assert list(frame["name"]) == names
    assert str(frame["size"].dtype) == "Int64"


def test_unsupported_layer_is_a_clear_error() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4))
    with pytest.raises(ReceptiveFieldError, match="GroupNorm"):
        receptive_field_table(model)


def test_non_square_kernel_is_a_clear_error() -> None:
    with pytest.raises(ReceptiveFieldError, match="non-square"):
        receptive_field_table(nn.Sequential(nn.Conv2d(1, 1, (3, 5))))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 1, 3, padding=1)
        self.b = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        return self.b(y + x)


def test_functional_op_between_modules_is_a_clear_error() -> None:
    with pytest.raises(ReceptiveFieldError, match="plain chain"):
        receptive_field_table(Residual())


def test_empirical_unknown_layer() -> None:
    with pytest.raises(ValueError, match="No layer named"):
        empirical_receptive_field(build_model("tiny4k"), "nope")


def test_empirical_check_table_for_original() -> None:
    table = empirical_check(build_model("original19k"), input_size=64)
    assert list(table["layer"]) == ["conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "gap"]
    assert table["match"].all()
    # away from the border the measured width is the receptive field itself
    inner = table[table["type"] != "AdaptiveAvgPool2d"]
    assert (inner["measured_rf"] == inner["rf"]).all()


def test_summary_text_is_machine_independent() -> None:
    model = build_model("tiny4k")
    text = summary_text(model)
    assert "(MB)" not in text
    assert f"Total params: {count_parameters(model):,}" in text
    assert "Total mult-adds: " in text and "Units." not in text


def test_unit_coverage_of_the_original_before_its_gap() -> None:
    """pool2's 4 units have a 28-px field but sit at 7.5/11.5/15.5/19.5: clipped to the
    image, the edge units cover 22 rows and even the middle ones 26, never all 28."""
    windows = unit_coverage(receptive_field_table(build_model("original19k"), 28), "pool2", 28)
    assert [(w.first, w.last) for w in windows] == [(0, 21), (0, 25), (2, 27), (6, 27)]
    assert [w.covered for w in windows] == [22, 26, 26, 22]
    assert {w.rf for w in windows} == {28} and windows[0].centre == 7.5


@pytest.mark.parametrize("name, layer", [("original19k", "pool2"), ("primary19k", "features.19"),
                                         ("compact8k", "features.6")])
def test_unit_coverage_matches_the_gradient_for_every_unit(name: str, layer: str) -> None:
    model = build_model(name)
    windows = unit_coverage(receptive_field_table(model, 28), layer, 28)
    for window in windows:
        rows, _ = empirical_receptive_field(model, layer, 28, unit=(window.unit, 0))
        assert rows == (window.first, window.last), f"{layer} unit {window.unit}"


def test_unit_coverage_rejects_unknown_and_flat_layers() -> None:
    rows = receptive_field_table(build_model("original19k"), 28)
    with pytest.raises(ValueError, match="No layer named 'conv9'"):
        unit_coverage(rows, "conv9", 28)
    with pytest.raises(ValueError, match="not spatial"):
        unit_coverage(rows, "fc1", 28)


def test_a_channel_gate_keeps_the_window_field_and_adds_the_whole_map() -> None:
    """The table counts the window path through a gate; the real gradient shows what the gate
    adds: the unit after it also depends on pixels outside its window field."""
    torch.manual_seed(0)
    model = build_model("sep8k_eca").double().eval()
    rows = spatial_rows(receptive_field_table(model, 64))
    gate = next(r for r in rows if r.type == "ChannelGate")
    before = rows[rows.index(gate) - 1]
    assert (gate.rf, gate.jump, gate.size) == (before.rf, before.jump, before.size)
    low, high = clipped_interval(gate, gate.size // 2, 64)
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64, requires_grad=True)
    outputs = {}
    handle = model.get_submodule(gate.name).register_forward_hook(
        lambda module, inputs, output: outputs.setdefault("gate", output))
    model(x)
    handle.remove()
    centre = outputs["gate"][0, :, gate.size // 2, gate.size // 2]
    centre[centre.argmax()].backward()  # a unit its ReLU lets through, so gradient flows
    rows_reached = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    assert rows_reached.min() < low and rows_reached.max() > high


def test_stage_summary_splits_the_weights_as_the_arithmetic_does() -> None:
    """sep1k by hand: stem 1->4->6 (9·4 + 2·4 + 9·4·6 + 2·6), a block 6->8 (9·6 + 6·8 + 2·8),
    three blocks 8->8 (9·8 + 8·8 + 2·8) at 8, 6 and 3 px, and a head 8->10 (8·10 + 10)."""
    stages = stage_summary(build_model("sep1k"))
    assert [(s["stage"], s["params"], s["size"]) for s in stages] == [
        ("stem", 272, None), ("block 1", 118, 10), ("block 2", 152, 8), ("block 3", 152, 6),
        ("block 4", 152, 3), ("head", 90, None)]
    # one stem conv, padded: the blocks work on maps 2 px larger
    assert [s["size"] for s in stage_summary(build_model("sep1k_onestem"))][1:5] == [12, 10, 8, 4]
    with pytest.raises(ReceptiveFieldError, match="pool"):
        stage_summary(build_model("mlp19k"))
