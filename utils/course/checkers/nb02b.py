"""Checkers of notebook 02b: convolution, BatchNorm and a gradient check, built from scratch.

Each checker runs the student's function on seeded random float64 inputs and compares it with
PyTorch itself (``F.conv2d``, ``nn.BatchNorm2d``, autograd), never with a stored solution. When
the answer differs, the checker first tries the common wrong implementations (a flipped kernel,
a missing bias, unbiased variance in the normalisation...) and names the one that matches, so
the message says what is wrong without giving the expected values. Torch's own conv2d and
batch_norm are disabled while the student's function runs: the point is to build them.

Past 400 lines because each of its five checkers carries the catalogue of wrong
implementations it recognises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from utils.course.checkers.core import passed, register, require_answer, wrong

CONV_TOLERANCE = 1e-5  # float64 inputs; loose enough for an output buffer made in float32
BN_TOLERANCE = 1e-5
GRAD_TOLERANCE = 1e-6  # relative to the gradient's largest entry; central differences reach ~1e-9


class _ForbiddenCall(RuntimeError):
    """The student's function called the torch operation it is meant to build."""


@contextmanager
def forbidden(names: tuple[str, ...]) -> Iterator[None]:
    """Replace ``torch.<name>`` and ``torch.nn.functional.<name>`` by a function that raises,
    for the duration of the student's call."""
    saved = [(module, name, getattr(module, name)) for module in (torch, F) for name in names
             if hasattr(module, name)]

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise _ForbiddenCall

    try:
        for module, name, _ in saved:
            setattr(module, name, refuse)
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def run_student(exercise_id: str, function: Callable[..., Any], names: tuple[str, ...],
                *args: Any, **kwargs: Any) -> Any:
    """Call the student's function with torch's ``names`` disabled; refuse a non-callable."""
    if not callable(function):
        raise wrong(exercise_id, f"give the function itself (e.g. my_function, without "
                                 f"parentheses), got {type(function).__name__}.")
    try:
        with forbidden(names):
            return function(*args, **kwargs)
    except _ForbiddenCall:
        raise wrong(exercise_id, f"your function calls torch's {' / '.join(names)}: build it "
                                 "from plain tensor operations instead.") from None


def require_tensor(exercise_id: str, given: Any, what: str) -> torch.Tensor:
    if not isinstance(given, torch.Tensor):
        raise wrong(exercise_id, f"{what} should be a torch.Tensor, got {type(given).__name__}.")
    if not given.is_floating_point():
        raise wrong(exercise_id, f"{what} has dtype {given.dtype}: keep a floating-point dtype.")
    return given


def matches(given: torch.Tensor, expected: torch.Tensor, tolerance: float) -> bool:
    """Same shape and equal within ``tolerance`` (absolute and relative), compared in float64."""
    return given.shape == expected.shape and torch.allclose(
        given.detach().double(), expected.double(), rtol=tolerance, atol=tolerance)


def random_tensor(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def require_unchanged(exercise_id: str, before: dict[str, torch.Tensor],
                      after: dict[str, torch.Tensor]) -> None:
    for name, value in before.items():
        if not torch.equal(value, after[name]):
            raise wrong(exercise_id, f"your function changed its input {name}; work on copies "
                                     "or new tensors instead (no in-place changes).")


# ---------------------------------------------------------------- convolution
@dataclass(frozen=True)
class ConvCase:
    """One random test: shapes, stride and padding, and whether a bias is passed."""

    batch: int
    in_channels: int
    out_channels: int
    size: tuple[int, int]
    kernel: tuple[int, int]
    stride: int = 1
    padding: int = 0
    bias: bool = True

    def describe(self) -> str:
        return (f"input {self.batch}x{self.in_channels}x{self.size[0]}x{self.size[1]}, weight "
                f"{self.out_channels}x{self.in_channels}x{self.kernel[0]}x{self.kernel[1]}, "
                f"{'with' if self.bias else 'without'} bias, stride {self.stride}, "
                f"padding {self.padding}")

    def tensors(self, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        generator = torch.Generator().manual_seed(seed)
        x = random_tensor(generator, self.batch, self.in_channels, *self.size)
        weight = random_tensor(generator, self.out_channels, self.in_channels, *self.kernel)
        bias = random_tensor(generator, self.out_channels) if self.bias else None
        return x, weight, bias


CONV_CASES = (
    ConvCase(1, 1, 1, (5, 6), (3, 3)),
    ConvCase(2, 3, 4, (6, 7), (3, 2)),  # channels summed, one bias per output channel
    ConvCase(2, 3, 4, (7, 7), (3, 3), bias=False),
    ConvCase(2, 3, 4, (7, 8), (3, 3), stride=2),
    ConvCase(2, 2, 3, (6, 5), (3, 3), padding=1),
    ConvCase(1, 2, 3, (7, 8), (3, 2), stride=2, padding=2),
)
CONV_NAMES = ("conv2d", "convolution", "conv_transpose2d")


def conv_slip(given: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
              bias: torch.Tensor | None, case: ConvCase) -> str | None:
    """The common mistake that reproduces ``given``, if one does."""
    def reference(w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return F.conv2d(x, w, b, stride=case.stride, padding=case.padding)

    flipped = weight.flip(-1, -2)
    slips: list[tuple[torch.Tensor, str]] = [
        (reference(flipped, bias), "your function flips the kernel (a true convolution). Deep "
         "learning's 'convolution' is cross-correlation: output[i, j] = sum of "
         "input[i + a, j + b] * kernel[a, b], with no flip"),
        (reference(weight, None), "the bias is missing: add bias[o] to every output position "
         "of output channel o"),
        (reference(flipped, None), "the kernel is flipped (true convolution instead of "
         "cross-correlation) and the bias is missing"),
    ]
    if bias is None:
        slips = slips[:1]
    pad = case.padding
    for sides, where in (((0, 2 * pad, 0, 2 * pad), "bottom and right"),
                         ((2 * pad, 0, 2 * pad, 0), "top and left")):
        if pad:
            shifted = F.conv2d(F.pad(x, sides), weight, bias, stride=case.stride)
            slips.append((shifted, f"the padding went to the {where} only: pad the input with "
                                   f"{pad} zero(s) on every side (top, bottom, left and right)"))
    for candidate, why in slips:
        if matches(given, candidate, CONV_TOLERANCE):
            return why
    return None


def inside(output: torch.Tensor, margin: int) -> torch.Tensor:
    """The output without a ``margin``-wide border: the positions whose window may avoid the
    padding (exactly so at stride 1)."""
    return output[..., margin:-margin, margin:-margin]


def output_shape_hint(case: ConvCase) -> str:
    return (f"for {case.describe()}, the output is N x C_out x ((H + 2*padding - kh) // stride "
            "+ 1) x ((W + 2*padding - kw) // stride + 1)")


def check_conv_case(exercise_id: str, function: Callable[..., Any], case: ConvCase,
                    seed: int) -> None:
    x, weight, bias = case.tensors(seed)
    before = {"x": x.clone(), "weight": weight.clone()}
    given = run_student(exercise_id, function, CONV_NAMES, x, weight, bias,
                        stride=case.stride, padding=case.padding)
    given = require_tensor(exercise_id, given, "the output")
    require_unchanged(exercise_id, before, {"x": x, "weight": weight})
    expected = F.conv2d(x, weight, bias, stride=case.stride, padding=case.padding)
    if given.shape != expected.shape:
        raise wrong(exercise_id, f"the output has shape {tuple(given.shape)}, which is wrong: "
                                 f"{output_shape_hint(case)}.")
    if matches(given, expected, CONV_TOLERANCE):
        return
    slip = conv_slip(given, x, weight, bias, case)
    if slip is None and case.padding and matches(inside(given, case.padding),
                                                 inside(expected, case.padding), CONV_TOLERANCE):
        slip = (f"the border of the output is wrong, its inside right: pad the input with "
                f"{case.padding} zero(s) on every side (top, bottom, left and right)")
    if slip is None:
        slip = ("the values differ from torch's conv2d. Check the window each output reads "
                "(rows i*stride ... i*stride + kh - 1 of the padded input) and the sum over "
                "input channels")
    raise wrong(exercise_id, f"on {case.describe()}: {slip}.")


def check_conv2d(exercise_id: str, function: Any, cases: tuple[ConvCase, ...]) -> None:
    require_answer(function, exercise_id)
    for index, case in enumerate(cases):
        check_conv_case(exercise_id, function, case, seed=100 + index)
    passed(exercise_id, f"matches torch's conv2d on {len(cases)} random cases")


@register("02b.1")
def check_corr2d(answer: Any) -> None:
    """Single-channel cross-correlation ``corr2d(x, k)`` of an H x W map with a kh x kw kernel,
    no padding, stride 1."""
    require_answer(answer, "02b.1")
    cases = (((5, 6), (3, 3)), ((6, 5), (2, 3)), ((4, 4), (4, 4)))
    generator = torch.Generator().manual_seed(21)
    for size, kernel in cases:
        x, k = random_tensor(generator, *size), random_tensor(generator, *kernel)
        before = {"x": x.clone(), "k": k.clone()}
        given = require_tensor("02b.1", run_student("02b.1", answer, CONV_NAMES, x, k),
                               "the output")
        require_unchanged("02b.1", before, {"x": x, "k": k})
        expected = F.conv2d(x[None, None], k[None, None])[0, 0]
        what = f"a {size[0]}x{size[1]} input and a {kernel[0]}x{kernel[1]} kernel"
        if given.shape != expected.shape:
            raise wrong("02b.1", f"for {what} the output has shape {tuple(given.shape)}: a "
                                 "kernel fits H - kh + 1 times down and W - kw + 1 times across.")
        if matches(given, expected, CONV_TOLERANCE):
            continue
        flipped = F.conv2d(x[None, None], k.flip(0, 1)[None, None])[0, 0]
        if matches(given, flipped, CONV_TOLERANCE):
            raise wrong("02b.1", f"for {what}: your function flips the kernel (a true "
                                 "convolution). Deep learning's 'convolution' is cross-"
                                 "correlation: out[i, j] = sum over a, b of x[i + a, j + b] * "
                                 "k[a, b], with no flip.")
        raise wrong("02b.1", f"for {what} the values differ from torch's conv2d: out[i, j] is "
                             "the sum of the kh x kw window starting at x[i, j], times k.")
    passed("02b.1", f"matches torch's conv2d on {len(cases)} random cases")


@register("02b.2")
def check_conv2d_loops(answer: Any) -> None:
    """``conv2d(x, weight, bias, stride=, padding=)`` with loops: channels, bias, stride,
    padding."""
    check_conv2d("02b.2", answer, CONV_CASES)


@register("02b.3")
def check_conv2d_im2col(answer: Any) -> None:
    """The same conv2d as one matrix product over unfolded patches (im2col)."""
    check_conv2d("02b.3", answer, CONV_CASES + (ConvCase(4, 8, 16, (12, 12), (3, 3), 1, 1),))


# ---------------------------------------------------------------- BatchNorm
@dataclass(frozen=True)
class NormCase:
    shape: tuple[int, int, int, int]
    momentum: float = 0.1
    eps: float = 1e-5

    def describe(self, training: bool) -> str:
        n, c, h, w = self.shape
        return (f"{'training' if training else 'eval'} mode on a {n}x{c}x{h}x{w} batch "
                f"(momentum {self.momentum}, eps {self.eps})")

    def tensors(self, seed: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        channels = self.shape[1]
        return {
            "x": 3 * random_tensor(generator, *self.shape) + 1.5,
            "gamma": 1 + 0.5 * random_tensor(generator, channels),
            "beta": random_tensor(generator, channels),
            "running_mean": random_tensor(generator, channels),
            "running_var": 0.5 + torch.rand(channels, generator=generator, dtype=torch.float64),
        }


NORM_CASES = (NormCase((4, 3, 5, 5)), NormCase((2, 2, 3, 4), momentum=0.3, eps=1e-3))
NORM_NAMES = ("batch_norm", "instance_norm", "layer_norm", "group_norm")


def torch_batch_norm(t: dict[str, torch.Tensor], case: NormCase,
                     training: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """nn.BatchNorm2d's output and running statistics after one forward pass."""
    bn = nn.BatchNorm2d(case.shape[1], eps=case.eps, momentum=case.momentum).double()
    with torch.no_grad():
        bn.weight.copy_(t["gamma"])
        bn.bias.copy_(t["beta"])
        bn.running_mean.copy_(t["running_mean"])
        bn.running_var.copy_(t["running_var"])
    bn.train(training)
    with torch.no_grad():
        out = bn(t["x"])
    return out, bn.running_mean.clone(), bn.running_var.clone()


def normalised(t: dict[str, torch.Tensor], mean: torch.Tensor, var: torch.Tensor,
               eps: float) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    x_hat = (t["x"] - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    return t["gamma"].view(shape) * x_hat + t["beta"].view(shape)


def batch_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel mean, biased and unbiased variance over N, H and W."""
    dims = (0, 2, 3)
    return x.mean(dims), x.var(dims, unbiased=False), x.var(dims, unbiased=True)


def output_slip(given: torch.Tensor, t: dict[str, torch.Tensor], case: NormCase,
                training: bool) -> str:
    mean, biased, unbiased = batch_statistics(t["x"])
    if training:
        slips = [
            (normalised(t, mean, unbiased, case.eps), "the batch is normalised with the "
             "unbiased variance (dividing by n - 1); normalising uses the biased one (divide "
             "by n = N*H*W)"),
            (normalised(t, t["running_mean"], t["running_var"], case.eps), "training mode "
             "normalised with the running statistics; it must use the batch's own mean and "
             "variance"),
        ]
    else:
        slips = [
            (normalised(t, mean, biased, case.eps), "eval mode normalised with the batch's "
             "statistics; it must use running_mean and running_var, so that an image's output "
             "does not depend on the rest of its batch"),
            (normalised(t, mean, unbiased, case.eps), "eval mode normalised with the batch's "
             "statistics; it must use running_mean and running_var"),
        ]
    for candidate, why in slips:
        if matches(given, candidate, BN_TOLERANCE):
            return why
    return ("the output differs from nn.BatchNorm2d's: statistics are per channel, over the "
            "batch and both spatial axes (N, H, W); then gamma * (x - mean) / sqrt(var + eps) "
            "+ beta")


def running_slip(t: dict[str, torch.Tensor], after: dict[str, torch.Tensor],
                 expected: tuple[torch.Tensor, torch.Tensor], case: NormCase) -> str | None:
    """What is wrong with the running statistics after a training step, or None."""
    mean, biased, _ = batch_statistics(t["x"])
    m = case.momentum
    for name, want, batch_value in (("running_mean", expected[0], mean),
                                    ("running_var", expected[1], None)):
        got = after[name]
        if matches(got, want, BN_TOLERANCE):
            continue
        if torch.equal(got, t[name]):
            return (f"{name} was not updated: in training mode update the tensor passed in, in "
                    f"place (e.g. {name}.mul_(...).add_(...)), as nn.BatchNorm2d does")
        if name == "running_var" and matches(got, (1 - m) * t[name] + m * biased, BN_TOLERANCE):
            return ("running_var was updated with the biased batch variance; the running "
                    "estimate uses the unbiased one (divide by n - 1), as PyTorch does")
        reference = batch_value if batch_value is not None else (want - (1 - m) * t[name]) / m
        if matches(got, m * t[name] + (1 - m) * reference, BN_TOLERANCE):
            return (f"{name}: momentum is the weight of the new batch statistic: running = "
                    "(1 - momentum) * running + momentum * batch")
        return f"{name} is not updated as nn.BatchNorm2d updates it"
    return None


def check_norm_mode(exercise_id: str, function: Callable[..., Any], case: NormCase,
                    seed: int, training: bool) -> None:
    t = case.tensors(seed)
    inputs = {name: value.clone() for name, value in t.items()}
    given = run_student(exercise_id, function, NORM_NAMES, inputs["x"], inputs["gamma"],
                        inputs["beta"], inputs["running_mean"], inputs["running_var"],
                        training=training, momentum=case.momentum, eps=case.eps)
    given = require_tensor(exercise_id, given, "the output")
    require_unchanged(exercise_id, {k: t[k] for k in ("x", "gamma", "beta")}, inputs)
    expected, running_mean, running_var = torch_batch_norm(t, case, training)
    where = case.describe(training)
    if given.shape != expected.shape:
        raise wrong(exercise_id, f"in {where} the output has shape {tuple(given.shape)}; "
                                 "BatchNorm keeps the input's shape.")
    if not matches(given, expected, BN_TOLERANCE):
        raise wrong(exercise_id, f"in {where}: {output_slip(given, t, case, training)}.")
    if training:
        slip = running_slip(t, inputs, (running_mean, running_var), case)
        if slip is not None:
            raise wrong(exercise_id, f"in {where}: {slip}.")
    elif not (torch.equal(inputs["running_mean"], t["running_mean"])
              and torch.equal(inputs["running_var"], t["running_var"])):
        raise wrong(exercise_id, f"in {where}: eval mode changed the running statistics; it "
                                 "must only read them.")


@register("02b.4")
def check_batch_norm(answer: Any) -> None:
    """``batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum, eps)`` in
    both modes, against nn.BatchNorm2d."""
    require_answer(answer, "02b.4")
    for index, case in enumerate(NORM_CASES):
        for training in (True, False):
            check_norm_mode("02b.4", answer, case, seed=40 + index, training=training)
    passed("02b.4", f"matches nn.BatchNorm2d in training and eval mode on {len(NORM_CASES)} "
                    "random cases, running statistics included")


# ---------------------------------------------------------------- gradient check
class CountedFunction:
    """A scalar function of a tensor that counts its calls and refuses autograd: a numerical
    gradient only evaluates the function."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]):
        self.function = function
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        with torch.no_grad():
            return self.function(x)


def quadratic(a: torch.Tensor, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: (a * x**2).sum() + (b * x).sum()


def smooth_conv_loss(weight: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.tanh(F.conv2d(x, weight)).pow(2).sum() + 0.1 * x.pow(3).sum()


def gradient_cases() -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor], torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    a = 0.5 + torch.rand(3, 4, generator=generator, dtype=torch.float64)
    b = random_tensor(generator, 3, 4)
    weight = random_tensor(generator, 2, 1, 3, 3)
    return [
        ("a quadratic of a 3x4 tensor", quadratic(a, b), random_tensor(generator, 3, 4)),
        ("tanh(conv2d(x))^2 summed, plus a cubic, of a 1x1x5x5 tensor",
         smooth_conv_loss(weight), random_tensor(generator, 1, 1, 5, 5)),
    ]


def autograd_gradient(function: Callable[[torch.Tensor], torch.Tensor],
                      x: torch.Tensor) -> torch.Tensor:
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(function(leaf), leaf)
    return grad


def gradient_slip(calls: int, x: torch.Tensor) -> str:
    if calls == x.numel() + 1:
        return ("it evaluates f once per entry plus once at x: a one-sided (forward) "
                "difference, whose error grows with h. Use the central difference "
                "(f(x + h) - f(x - h)) / (2h), whose error shrinks with h squared")
    return ("it differs from autograd by more than the tolerance. Use central differences in "
            "float64 with h around 1e-6: a larger step adds truncation error, a much smaller "
            "one rounding error")


@register("02b.5")
def check_numerical_gradient(answer: Any) -> None:
    """``numerical_gradient(f, x)``: central finite differences of a scalar ``f`` at ``x``
    (float64), compared with autograd."""
    require_answer(answer, "02b.5")
    for what, function, x in gradient_cases():
        counted, before = CountedFunction(function), x.clone()
        try:
            given = run_student("02b.5", answer, (), counted, x)
        except RuntimeError as error:
            if "does not require grad" in str(error) or "grad_fn" in str(error):
                raise wrong("02b.5", "your function calls autograd (backward or grad); a "
                                     "numerical gradient only evaluates f.") from None
            raise
        given = require_tensor("02b.5", given, "the gradient")
        if not torch.equal(x, before):
            raise wrong("02b.5", "x is not the same after your function: restore each entry "
                                 "after perturbing it (or perturb a copy).")
        expected = autograd_gradient(function, x)
        if given.shape != x.shape:
            raise wrong("02b.5", f"for {what} the gradient has shape {tuple(given.shape)}; it "
                                 "has one entry per entry of x, in x's shape.")
        scale = max(1.0, float(expected.abs().max()))
        if not matches(given, expected, GRAD_TOLERANCE * scale):
            raise wrong("02b.5", f"for {what}: {gradient_slip(counted.calls, x)}.")
    passed("02b.5", "central differences agree with autograd on two functions")

