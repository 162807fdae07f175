"""Receptive fields, output sizes, parameters and MACs per layer, derived from the modules.

Nothing here is typed by hand: one forward pass with hooks on the leaf modules gives the
execution order and the shapes; each spatial layer's ``kernel_size/stride/padding/dilation``
then drives the standard recurrences (one axis; our models are square)::

    n_out = floor((n_in + 2p - d(k-1) - 1) / s) + 1      output size
    j_out = j_in * s                                      jump: input pixels between neighbours
    r_out = r_in + d(k-1) * j_in                          receptive field (pixels)
    start_out = start_in + (d(k-1)/2 - p) * j_in          centre of the first unit (input coords)

with ``n_0 = input size, j_0 = 1, r_0 = 1, start_0 = 0``. Unit ``i`` of a layer is centred on
input pixel ``start + i * jump`` and sees the ``r`` pixels around it (clipped by the image
border: padding adds zeros, not pixels).

``empirical_receptive_field`` checks the calculator independently, by back-propagating from one
output unit to the input and measuring where the gradient is non-zero.

One concern past 400 lines: the calculator, its independent gradient check and the tables
notebook 02 prints share one geometry.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torchinfo import summary

from utils.models import ChannelGate, build_model, count_parameters

IN_CHANNELS = 1  # MNIST is greyscale
# Modules that act on each position independently (in eval mode): they keep the geometry.
POINTWISE_TYPES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)
# Modules with a sliding window: their attributes drive the recurrences.
WINDOW_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
GLOBAL_POOL_TYPES: tuple[type[nn.Module], ...] = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
# Channel gates scale each channel by a number computed from its whole map: the window path, and
# so the receptive field the tables report, goes through them unchanged. The gates' whole-map
# context, like the GAP's, is not part of that field (``positive_copy`` leaves it out as well).
CHANNEL_GATE_TYPES: tuple[type[nn.Module], ...] = (ChannelGate,)


class ReceptiveFieldError(ValueError):
    """The model contains something the receptive-field calculator cannot reason about."""


@dataclass(frozen=True)
class LayerRF:
    """One executed leaf module. Spatial fields are ``None`` once the spatial part has ended
    (after ``Flatten``), where ``rf`` is then the union over the whole last map."""

    name: str
    type: str
    kernel: int | None
    stride: int | None
    padding: int | None
    dilation: int | None
    channels: int | None
    size: int | None
    jump: int
    rf: int
    start: float
    params: int
    macs: int

    def unit_interval(self, index: int) -> tuple[float, float]:
        """First and last input pixel (unclipped) that unit ``index`` (along one axis) sees."""
        if self.size is None:
            raise ValueError(f"Layer {self.name!r} is not spatial: it has no units to index.")
        centre = self.start + index * self.jump
        half = (self.rf - 1) / 2
        return centre - half, centre + half


def _square(value: int | Sequence[int], what: str, name: str) -> int:
    """Collapse a PyTorch (h, w) pair to one int; the calculator works on one axis."""
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1:
        raise ReceptiveFieldError(
            f"Layer {name!r} has a non-square {what} {values}: the calculator assumes the same "
            "geometry on both axes. Use square kernels/strides/paddings."
        )
    return int(values[0])


def _window_geometry(module: nn.Module, name: str) -> tuple[int, int, int, int, bool]:
    """(kernel, stride, padding, dilation, ceil_mode) of a Conv2d/MaxPool2d/AvgPool2d."""
    k = _square(module.kernel_size, "kernel_size", name)
    s = _square(module.stride, "stride", name)
    d = _square(getattr(module, "dilation", 1), "dilation", name)
    padding = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif (d * (k - 1)) % 2 == 0:  # 'same' with stride 1: symmetric when the total is even
            padding = d * (k - 1) // 2
        else:
            raise ReceptiveFieldError(
                f"Layer {name!r} uses padding='same' with an even kernel, which pads unevenly; "
                "give an explicit integer padding instead."
            )
    p = _square(padding, "padding", name)
    return k, s, p, d, bool(getattr(module, "ceil_mode", False))


def output_size(n_in: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's output length of a sliding window (pooling's ``ceil_mode`` rule included)."""
    span = n_in + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    n_out = math.ceil(span / s) + 1
    if (n_out - 1) * s >= n_in + p:  # the last window must start inside the input or left pad
        n_out -= 1
    return n_out


def _layer_macs(module: nn.Module, out_shape: torch.Size) -> int:
    """Weight multiply-accumulates per image (bias adds and BN's affine are not counted)."""
    if isinstance(module, nn.Conv2d):
        positions = math.prod(out_shape[1:])  # C_out * H * W
        return positions * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return math.prod(out_shape[1:]) * module.in_features
    if isinstance(module, ChannelGate):
        return out_shape[1] * module.weight.numel()  # one k-tap conv across the C channel means
    return 0


@dataclass
class _Call:
    name: str
    module: nn.Module
    in_shape: torch.Size
    out_shape: torch.Size
    chained: bool  # its input is the previous leaf's output object


def trace_leaf_calls(model: nn.Module, input_size: int = 28) -> list[_Call]:
    """Leaf modules in execution order with their shapes, from one eval-mode forward pass."""
    names = {module: name for name, module in model.named_modules()}
    calls: list[_Call] = []
    last_output: list[torch.Tensor | None] = [None]

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        first = inputs[0] if inputs else None
        calls.append(
            _Call(
                name=names[module],
                module=module,
                in_shape=first.shape if isinstance(first, torch.Tensor) else torch.Size(),
                out_shape=output.shape,
                chained=first is last_output[0],
            )
        )
        last_output[0] = output

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(1, IN_CHANNELS, input_size, input_size)
            param = next(model.parameters(), None)
            if param is not None:
                x = x.to(device=param.device, dtype=param.dtype)
            last_output[0] = x
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return calls


@dataclass
class _Geometry:
    """Where the recursion stands after a layer: map size n, jump j, receptive field r and the
    centre of the first unit's field (``start``), in input pixels."""

    n: int
    j: int = 1
    r: int = 1
    start: float = 0.0

    def window(self, kernel: int, stride: int, padding: int, dilation: int, n_out: int) -> None:
        self.start += (dilation * (kernel - 1) / 2 - padding) * self.j
        self.r += dilation * (kernel - 1) * self.j
        self.j *= stride
        self.n = n_out

    def whole_map(self) -> None:
        """Every later unit may see the whole map: its receptive field is the union."""
        self.r, self.start, self.j = (self.r + (self.n - 1) * self.j,
                                      self.start + (self.n - 1) / 2 * self.j, self.j * self.n)


def _spatial_step(module: nn.Module, name: str, geometry: _Geometry, in_shape: tuple[int, ...]
                  ) -> tuple[tuple[int | None, ...], bool]:
    """Move ``geometry`` through one module of the spatial part: its (kernel, stride, padding,
    dilation), and whether the spatial part goes on after it."""
    if isinstance(module, WINDOW_TYPES):
        kernel, stride, padding, dilation, ceil_mode = _window_geometry(module, name)
        geometry.window(kernel, stride, padding, dilation,
                        output_size(geometry.n, kernel, stride, padding, dilation, ceil_mode))
        return (kernel, stride, padding, dilation), True
    if isinstance(module, GLOBAL_POOL_TYPES):
        out = _square(module.output_size, "output_size", name)
        if out is None or geometry.n % out != 0:
            raise ReceptiveFieldError(
                f"Layer {name!r} pools {geometry.n}x{geometry.n} to {module.output_size}: only "
                "output sizes that divide the input (e.g. 1, global pooling) have fixed windows."
            )
        kernel = geometry.n // out
        geometry.window(kernel, kernel, 0, 1, out)
        return (kernel, kernel, 0, 1), True
    if isinstance(module, nn.Flatten) or (isinstance(module, nn.Linear) and len(in_shape) == 2):
        geometry.whole_map()
        return (None, None, None, None), False
    if not isinstance(module, POINTWISE_TYPES + CHANNEL_GATE_TYPES):
        raise ReceptiveFieldError(
            f"Unsupported layer {name!r} ({type(module).__name__}) in the spatial part. "
            "Supported: Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvg/MaxPool2d, Flatten, "
            f"channel gates and per-position layers "
            f"({', '.join(t.__name__ for t in POINTWISE_TYPES)})."
        )
    return (None, None, None, None), True


def receptive_field_table(
    model: nn.Module, input_size: int = 28
) -> list[LayerRF]:
    """Per executed leaf module, in forward order: geometry, receptive field, params, MACs.

    Raises ``ReceptiveFieldError`` for a module the calculator does not know (e.g. GroupNorm,
    which mixes positions), for non-square geometry, or when the forward pass is not a plain
    chain of modules in the spatial part (a functional op between modules would be invisible).
    """
    geometry = _Geometry(input_size)
    spatial = True
    seen: set[int] = set()
    rows: list[LayerRF] = []
    previous: str = "the input"
    for call in trace_leaf_calls(model, input_size):
        module, name = call.module, call.name
        params = 0
        if id(module) not in seen:  # shared modules count their parameters once
            params = sum(p.numel() for p in module.parameters(recurse=False))
            seen.add(id(module))
        window: tuple[int | None, ...] = (None, None, None, None)
        if spatial and not call.chained:
            if len(call.in_shape) == 4:
                raise ReceptiveFieldError(
                    f"The input of {name!r} is not the output of {previous}: the forward pass "
                    "does something between modules (a functional op, a branch or a residual). "
                    "The calculator needs a plain chain; wrap such ops in nn.Modules."
                )
            geometry.whole_map()  # e.g. torch.flatten(x, 1) in forward: the spatial part ends
            spatial = False
        if not spatial:
            if isinstance(module, WINDOW_TYPES + GLOBAL_POOL_TYPES):
                raise ReceptiveFieldError(
                    f"Spatial layer {name!r} ({type(module).__name__}) comes after the spatial "
                    "part ended (Flatten/Linear): the calculator cannot place it."
                )
        else:
            window, spatial = _spatial_step(module, name, geometry, call.in_shape)
        n = geometry.n
        if spatial and tuple(call.out_shape[2:]) != (n, n):
            raise ReceptiveFieldError(
                f"Layer {name!r}: the formula gives {n}x{n} but the forward pass gave "
                f"{tuple(call.out_shape[2:])}; its geometry is not what the calculator assumes."
            )
        kernel, stride, padding, dilation = window
        rows.append(LayerRF(
            name=name, type=type(module).__name__, kernel=kernel, stride=stride, padding=padding,
            dilation=dilation, channels=int(call.out_shape[1]) if spatial else None,
            size=n if spatial else None, jump=geometry.j, rf=geometry.r, start=geometry.start,
            params=params, macs=_layer_macs(module, call.out_shape)))
        previous = repr(name)
    return rows


def rf_dataframe(rows: Sequence[LayerRF], key_layers_only: bool = False) -> pd.DataFrame:
    """The table as a DataFrame with nullable integer columns.

    ``key_layers_only`` keeps the rows that change the geometry or hold parameters (convs,
    pools, BatchNorm, Linear) and drops ReLU/Dropout/Flatten, which repeat the row above.
    """
    if key_layers_only:
        rows = [row for row in rows if row.kernel is not None or row.params > 0]
    frame = pd.DataFrame([asdict(row) for row in rows])
    for column in ("kernel", "stride", "padding", "dilation", "channels", "size"):
        frame[column] = frame[column].astype("Int64")
    return frame


def spatial_rows(rows: Sequence[LayerRF], windows_only: bool = False) -> list[LayerRF]:
    """Rows that still have a spatial map (optionally only those that change the geometry)."""
    kept = [row for row in rows if row.size is not None]
    if windows_only:
        kept = [row for row in kept if row.kernel is not None]
    return kept


@dataclass(frozen=True)
class UnitWindow:
    """What one unit of a layer covers along one axis: its field (``rf`` px, centred on
    ``centre``) clipped to the image, ``first``-``last`` inclusive (``covered`` pixels)."""

    unit: int
    centre: float
    first: int
    last: int
    covered: int
    rf: int


def unit_coverage(rows: Sequence[LayerRF], layer: str, input_size: int) -> list[UnitWindow]:
    """Each unit's input window along one axis, clipped to ``[0, input_size - 1]``.

    The receptive field is the size of one unit's window; where a unit sits decides how much
    of the *image* that window holds. Units near the border have part of their field on zero
    padding (or beyond the image), so they cover fewer pixels than ``rf``; a layer "sees the
    whole image" only if its units' clipped windows span every pixel.
    """
    matches = [row for row in rows if row.name == layer]
    if not matches:
        raise ValueError(f"No layer named {layer!r} in the table; names: "
                         f"{[row.name for row in rows]}.")
    row = matches[-1]
    if row.size is None:
        raise ValueError(f"Layer {layer!r} is not spatial (after Flatten/Linear): no units.")
    windows = []
    for index in range(row.size):
        low, high = row.unit_interval(index)
        first, last = max(0, math.ceil(low)), min(input_size - 1, math.floor(high))
        windows.append(UnitWindow(unit=index, centre=row.start + index * row.jump, first=first,
                                  last=last, covered=max(0, last - first + 1), rf=row.rf))
    return windows


def family_summary(names: Sequence[str], input_size: int = 28) -> pd.DataFrame:
    """One line per registered model: parameters, MACs per image, final RF and map size."""
    records = []
    for name in names:
        model = build_model(name)
        rows = receptive_field_table(model, input_size)
        last = spatial_rows(rows, windows_only=True)
        before_head = [row for row in last if row.type not in ("AdaptiveAvgPool2d",)]
        records.append(
            {
                "model": name,
                "params": count_parameters(model),
                "macs": sum(row.macs for row in rows),
                "convs": sum(row.type == "Conv2d" for row in rows),
                "last_map": before_head[-1].size if before_head else None,
                "rf_before_gap": before_head[-1].rf if before_head else None,
            }
        )
    return pd.DataFrame(records)


def stage_summary(model: nn.Module, input_size: int = 28) -> list[dict[str, int | str | None]]:
    """Where a model's parameters go, stage by stage, so that two allocations of one budget can be
    set side by side (notebook 07): the stem (up to and including the first pool), one block per
    conv with a window wider than 1 px after it (a separable block starts at its depthwise conv),
    and the head (from the global pool on). A block's ``size`` is the map it works at."""
    rows = receptive_field_table(model, input_size)
    window_pools = {t.__name__ for t in WINDOW_TYPES if t is not nn.Conv2d}
    global_pools = {t.__name__ for t in GLOBAL_POOL_TYPES}
    first_pool = next((i for i, row in enumerate(rows) if row.type in window_pools), None)
    if first_pool is None:
        raise ReceptiveFieldError("stage_summary needs a pool that ends the stem; this model has none.")
    stages: list[dict[str, int | str | None]] = [{"stage": "stem", "params": 0, "size": None}]
    for i, row in enumerate(rows):
        if row.type in global_pools and stages[-1]["stage"] != "head":
            stages.append({"stage": "head", "params": 0, "size": None})
        elif i > first_pool and row.type == "Conv2d" and row.kernel > 1 and stages[-1]["stage"] != "head":
            blocks = sum(str(stage["stage"]).startswith("block") for stage in stages)
            stages.append({"stage": f"block {blocks + 1}", "params": 0, "size": row.size})
        stages[-1]["params"] = int(stages[-1]["params"] or 0) + row.params
    return stages


# --- Empirical check -------------------------------------------------------------------------


class _StopForward(Exception):
    def __init__(self, output: torch.Tensor):
        super().__init__("stop")
        self.output = output


class _PoolAsAverage(nn.Module):
    """A max-pool's window geometry with a dense gradient (mean over the window).

    Max-pool sends gradient only to the arg-max of each window, so one backward pass sees a
    sparse subset of the pixels that *can* influence the unit; the average has the same
    windows and gives every pixel in them a positive gradient.
    """

    def __init__(self, pool: nn.MaxPool2d):
        super().__init__()
        self.k, self.s, self.p, self.d, self.ceil = _window_geometry(pool, "max-pool")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.d == 1:
            return F.avg_pool2d(x, self.k, self.s, self.p, ceil_mode=self.ceil)
        if self.ceil:
            raise ReceptiveFieldError("Dilated max-pool with ceil_mode is not supported here.")
        weight = x.new_full((x.shape[1], 1, self.k, self.k), 1.0 / self.k**2)
        return F.conv2d(x, weight, None, self.s, self.p, self.d, groups=x.shape[1])


def positive_copy(model: nn.Module) -> nn.Module:
    """A float64 eval-mode copy whose gradients cannot cancel: positive weights, zero biases,
    identity BatchNorm, max-pools as averages, channel gates as identities (the window path
    only, as the calculator counts it). With a positive input every activation is positive, so
    every ReLU passes gradient and every path contributes a positive amount."""
    probe = copy.deepcopy(model).double().eval()
    for name, module in list(probe.named_modules()):
        if isinstance(module, nn.Conv2d | nn.Linear):
            fan_in = module.weight[0].numel()
            nn.init.constant_(module.weight, 1.0 / fan_in)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()  # weight 1, bias 0, running mean 0, running var 1
        elif isinstance(module, nn.MaxPool2d):
            _replace_module(probe, name, _PoolAsAverage(module))
        elif isinstance(module, CHANNEL_GATE_TYPES):
            _replace_module(probe, name, nn.Identity())
    return probe


def _replace_module(model: nn.Module, name: str, replacement: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, replacement)


def empirical_receptive_field(
    model: nn.Module,
    layer: str,
    input_size: int = 64,
    unit: tuple[int, int] | None = None,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Input rows and columns ``((top, bottom), (left, right))`` whose gradient is non-zero
    for one unit (default: the centre unit) of the named layer's output, channel 0.

    The result is clipped by the image border (padding adds no pixels), so compare it with the
    theoretical interval clipped to ``[0, input_size - 1]``, or use a large ``input_size``
    and the centre unit so that the whole theoretical field fits inside the image.
    """
    probe = positive_copy(model)
    try:
        target = probe.get_submodule(layer)
    except AttributeError as exc:
        raise ValueError(f"No layer named {layer!r} in the model.") from exc

    def stop(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        raise _StopForward(output)

    handle = target.register_forward_hook(stop)
    x = torch.ones(1, IN_CHANNELS, input_size, input_size, dtype=torch.float64, requires_grad=True)
    try:
        probe(x)
        raise ValueError(f"Layer {layer!r} was not called in the forward pass.")
    except _StopForward as stopped:
        output = stopped.output
    finally:
        handle.remove()
    if output.dim() != 4:
        raise ValueError(f"Layer {layer!r} has no spatial output (shape {tuple(output.shape)}).")
    height, width = output.shape[2:]
    row, col = unit if unit is not None else (height // 2, width // 2)
    (grad,) = torch.autograd.grad(output[0, 0, row, col], x)
    active = grad[0].abs().sum(0) > 0
    rows = active.any(1).nonzero().flatten()
    cols = active.any(0).nonzero().flatten()
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def empirical_check(model: nn.Module, input_size: int = 64) -> pd.DataFrame:
    """Theoretical vs measured field of the centre unit of every conv/pool layer.

    ``input_size`` defaults to 64 so that the centre unit's field lies inside the image and
    the measurement is not cut by the border (GAP's field is always cut: it spans the map).
    """
    records = []
    for row in spatial_rows(receptive_field_table(model, input_size), windows_only=True):
        centre = row.size // 2
        low, high = row.unit_interval(centre)
        clipped = (max(0, int(low)), min(input_size - 1, int(high)))
        measured, _ = empirical_receptive_field(model, row.name, input_size, (centre, centre))
        records.append(
            {
                "layer": row.name,
                "type": row.type,
                "rf": row.rf,
                "theory_px": f"{clipped[0]}-{clipped[1]}",
                "measured_px": f"{measured[0]}-{measured[1]}",
                "measured_rf": measured[1] - measured[0] + 1,
                "match": measured == clipped,
            }
        )
    return pd.DataFrame(records)


def summary_text(model: nn.Module, input_size: int = 28) -> str:
    """torchinfo's layer table as plain text, without the memory-estimate lines (MB), which
    depend on dtype and torchinfo version rather than on the architecture, and with the
    total mult-adds as an exact integer (torchinfo counts bias adds and BatchNorm too)."""
    stats = summary(
        model,
        input_size=(1, IN_CHANNELS, input_size, input_size),
        col_names=("output_size", "num_params", "mult_adds"),
        depth=3,
        device="cpu",
        verbose=0,
    )
    lines = []
    for line in str(stats).splitlines():
        if "(MB)" in line:
            continue
        if line.startswith("Total mult-adds"):  # its unit label varies across versions
            line = f"Total mult-adds: {stats.total_mult_adds:,}"
        if lines and line == lines[-1]:  # a separator left doubled by a dropped block
            continue
        lines.append(line)
    return "\n".join(lines)
