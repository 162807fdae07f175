"""Notebook 02b's checkers accept a right implementation and reject the common wrong ones, each
with a message that names the mistake and gives away no expected value."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

import utils.course.checkers.nb02b  # noqa: F401  (registers 02b.*)
from utils.course.checkers.core import AnswerError, check

Tensor = torch.Tensor


# ---------------------------------------------------------------- convolution
def corr2d(x: Tensor, k: Tensor) -> Tensor:
    kh, kw = k.shape
    out = torch.zeros(x.shape[0] - kh + 1, x.shape[1] - kw + 1, dtype=x.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i : i + kh, j : j + kw] * k).sum()
    return out


def corr2d_flipped(x: Tensor, k: Tensor) -> Tensor:
    return corr2d(x, k.flip(0, 1))


def corr2d_too_small(x: Tensor, k: Tensor) -> Tensor:
    return corr2d(x, k)[:-1]


def conv_loops(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
               padding: int = 0, flip: bool = False, use_bias: bool = True,
               pad: Callable[[Tensor, int], Tensor] | None = None) -> Tensor:
    """Right by default; the keyword switches make the wrong versions."""
    x = (pad or (lambda t, p: F.pad(t, (p, p, p, p))))(x, padding)
    weight = weight.flip(-1, -2) if flip else weight
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    out = torch.zeros(n, c_out, (h - kh) // stride + 1, (w - kw) // stride + 1, dtype=x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = torch.einsum("nchw,ochw->no", patch, weight)
    if bias is not None and use_bias:
        out += bias.view(1, -1, 1, 1)
    return out


def conv_im2col(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                padding: int = 0) -> Tensor:
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # N x (C*kh*kw) x L
    out = weight.reshape(c_out, -1) @ cols
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(n, c_out, (h + 2 * padding - kh) // stride + 1,
                    (w + 2 * padding - kw) // stride + 1)


def pad_one_side(x: Tensor, p: int) -> Tensor:
    return F.pad(x, (0, 2 * p, 0, 2 * p))


def pad_with_ones(x: Tensor, p: int) -> Tensor:
    return F.pad(x, (p, p, p, p), value=1.0)


def conv_calls_torch(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                     padding: int = 0) -> Tensor:
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)


WRONG_CONVS = {
    "flipped": (lambda *a, **k: conv_loops(*a, **k, flip=True), "flips the kernel"),
    "no bias": (lambda *a, **k: conv_loops(*a, **k, use_bias=False), "bias is missing"),
    "no padding": (lambda x, w, b=None, stride=1, padding=0: conv_loops(x, w, b, stride, 0),
                   "output has shape"),
    "padding on one side": (lambda *a, **k: conv_loops(*a, **k, pad=pad_one_side),
                            "pad the input with"),
    "padding with ones": (lambda *a, **k: conv_loops(*a, **k, pad=pad_with_ones),
                          "pad the input with"),
    "stride ignored": (lambda x, w, b=None, stride=1, padding=0: conv_loops(x, w, b, 1, padding),
                       "output has shape"),
    "calls F.conv2d": (conv_calls_torch, "calls torch's conv2d"),
}


def assert_rejected(exercise_id: str, answer: object, message: str) -> str:
    with pytest.raises(AnswerError, match=re.escape(message)) as caught:
        check(exercise_id, answer)
    return str(caught.value)


def test_corr2d_right_passes(capsys: pytest.CaptureFixture[str]) -> None:
    check("02b.1", corr2d)
    assert "Exercise 02b.1: correct" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "message"), [
    (corr2d_flipped, "flips the kernel"),
    (corr2d_too_small, "H - kh + 1"),
    (lambda x, k: F.conv2d(x[None, None], k[None, None])[0, 0], "calls torch's conv2d"),
    (lambda x, k: corr2d(x, k) + 1e-3, "values differ"),
    (corr2d(torch.ones(3, 3), torch.ones(2, 2)), "give the function itself"),
])
def test_corr2d_wrong_is_rejected(answer: object, message: str) -> None:
    assert_rejected("02b.1", answer, message)


@pytest.mark.parametrize("exercise_id", ["02b.2", "02b.3"])
@pytest.mark.parametrize("answer", [conv_loops, conv_im2col], ids=["loops", "im2col"])
def test_conv_right_passes(exercise_id: str, answer: Callable[..., Tensor],
                           capsys: pytest.CaptureFixture[str]) -> None:
    check(exercise_id, answer)
    assert f"Exercise {exercise_id}: correct" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", ["02b.2", "02b.3"])
@pytest.mark.parametrize("wrong", sorted(WRONG_CONVS))
def test_conv_wrong_is_rejected_naming_the_mistake(exercise_id: str, wrong: str) -> None:
    answer, message = WRONG_CONVS[wrong]
    text = assert_rejected(exercise_id, answer, message)
    assert "tensor(" not in text and not re.search(r"\d\.\d{3}", text), text


def test_conv_that_changes_its_input_is_rejected() -> None:
    def in_place(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                 padding: int = 0) -> Tensor:
        out = conv_loops(x, weight, bias, stride, padding)
        x.zero_()
        return out

    assert_rejected("02b.2", in_place, "changed its input x")


def test_unanswered_conv_says_no_answer_yet() -> None:
    assert_rejected("02b.2", ..., "no answer yet")


# ---------------------------------------------------------------- BatchNorm
def batch_norm2d(x: Tensor, gamma: Tensor, beta: Tensor, running_mean: Tensor,
                 running_var: Tensor, training: bool, momentum: float = 0.1, eps: float = 1e-5,
                 normalise_unbiased: bool = False, running_biased: bool = False,
                 eval_batch_stats: bool = False, momentum_reversed: bool = False,
                 update: bool = True) -> Tensor:
    """Right by default; the keyword switches make the wrong versions."""
    dims, shape = (0, 2, 3), (1, -1, 1, 1)
    if training or eval_batch_stats:
        mean = x.mean(dims)
        var = x.var(dims, unbiased=normalise_unbiased)
        if training and update:
            new = (1 - momentum, momentum) if not momentum_reversed else (momentum, 1 - momentum)
            running_var_batch = x.var(dims, unbiased=not running_biased)
            running_mean.mul_(new[0]).add_(new[1] * mean)
            running_var.mul_(new[0]).add_(new[1] * running_var_batch)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    return gamma.view(shape) * x_hat + beta.view(shape)


def with_switch(**switch: bool) -> Callable[..., Tensor]:
    return lambda *args, **kwargs: batch_norm2d(*args, **kwargs, **switch)


WRONG_NORMS = {
    "eval with batch statistics": (with_switch(eval_batch_stats=True),
                                   "eval mode normalised with the batch's statistics"),
    "unbiased variance in the normalisation": (with_switch(normalise_unbiased=True),
                                               "normalised with the unbiased variance"),
    "running variance from the biased variance": (with_switch(running_biased=True),
                                                  "updated with the biased batch variance"),
    "momentum reversed": (with_switch(momentum_reversed=True), "momentum is the weight"),
    "no running update": (with_switch(update=False), "running_mean was not updated"),
    "training with running statistics": (
        lambda x, g, b, m, v, training, momentum=0.1, eps=1e-5:
        batch_norm2d(x, g, b, m, v, False, momentum, eps),
        "training mode normalised with the running statistics"),
    "calls F.batch_norm": (
        lambda x, g, b, m, v, training, momentum=0.1, eps=1e-5:
        F.batch_norm(x, m, v, g, b, training, momentum, eps), "calls torch's batch_norm"),
    "fixed eps": (lambda x, g, b, m, v, training, momentum=0.1, eps=1e-5:
                  batch_norm2d(x, g, b, m, v, training, momentum), "differs from nn.BatchNorm2d"),
}


def test_batch_norm_right_passes(capsys: pytest.CaptureFixture[str]) -> None:
    check("02b.4", batch_norm2d)
    assert "Exercise 02b.4: correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", sorted(WRONG_NORMS))
def test_batch_norm_wrong_is_rejected_naming_the_mistake(wrong: str) -> None:
    answer, message = WRONG_NORMS[wrong]
    text = assert_rejected("02b.4", answer, message)
    assert "tensor(" not in text, text


def test_eval_that_changes_the_running_statistics_is_rejected() -> None:
    def updates_in_eval(x: Tensor, gamma: Tensor, beta: Tensor, running_mean: Tensor,
                        running_var: Tensor, training: bool, momentum: float = 0.1,
                        eps: float = 1e-5) -> Tensor:
        out = batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum, eps)
        if not training:
            running_mean.add_(1.0)
        return out

    assert_rejected("02b.4", updates_in_eval, "changed the running statistics")


# ---------------------------------------------------------------- gradient check
def central(f: Callable[[Tensor], Tensor], x: Tensor, h: float = 1e-6) -> Tensor:
    grad = torch.zeros_like(x)
    flat, out = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        saved = flat[i].item()
        flat[i] = saved + h
        up = float(f(x))
        flat[i] = saved - h
        down = float(f(x))
        flat[i] = saved
        out[i] = (up - down) / (2 * h)
    return grad


def forward(f: Callable[[Tensor], Tensor], x: Tensor, h: float = 1e-4) -> Tensor:
    grad, base = torch.zeros_like(x), float(f(x))
    flat, out = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        saved = flat[i].item()
        flat[i] = saved + h
        out[i] = (float(f(x)) - base) / h
        flat[i] = saved
    return grad


def not_restored(f: Callable[[Tensor], Tensor], x: Tensor, h: float = 1e-6) -> Tensor:
    grad = central(f, x, h)
    x.view(-1)[0] += h
    return grad


def uses_autograd(f: Callable[[Tensor], Tensor], x: Tensor, h: float = 1e-6) -> Tensor:
    leaf = x.clone().requires_grad_(True)
    f(leaf).backward()
    return leaf.grad


def test_central_differences_pass(capsys: pytest.CaptureFixture[str]) -> None:
    check("02b.5", central)
    assert "Exercise 02b.5: correct" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "message"), [
    (forward, "one-sided (forward) difference"),
    (lambda f, x: forward(f, x, h=1e-2), "one-sided (forward) difference"),
    (lambda f, x: central(f, x, h=1e-1), "differs from autograd"),
    (lambda f, x: central(f, x, h=1e-13), "differs from autograd"),
    (lambda f, x: central(f, x).flatten(), "has shape"),
    (not_restored, "x is not the same"),
    (uses_autograd, "calls autograd"),
])
def test_wrong_numerical_gradient_is_rejected(answer: object, message: str) -> None:
    assert_rejected("02b.5", answer, message)
