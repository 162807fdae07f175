"""The numeric path of the forward pass: float32 or bfloat16 autocast, NCHW or channels_last.

One idea, one name. Two switches of ``TrainConfig`` choose the path, each ``"auto"``, ``"on"``
or ``"off"``: ``amp`` (torch's name for autocast: bfloat16 in the forward pass) and
``channels_last`` (the memory format). :func:`resolve_numeric_path` turns them into the
:class:`NumericPath` a run takes on this machine; weights, loss and optimiser state always stay
float32. A run records the path it took: ``run.json`` under ``numeric_path``, and the checkpoint's
metadata under ``precision`` (the key committed checkpoints were written with; same fields).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from utils.run_files import BF16_AUTOCAST, FLOAT32

SWITCHES = ("auto", "on", "off")


def cpu_supports_bf16() -> bool:
    """Whether oneDNN has native bfloat16 kernels on this CPU (AVX-512 BF16 / AMX): asked of
    the library that will run them, not guessed from the CPU's name."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@dataclass(frozen=True)
class NumericPath:
    """How the forward pass runs on this machine."""

    bf16_autocast: bool
    channels_last: bool

    @property
    def forward(self) -> str:
        return BF16_AUTOCAST if self.bf16_autocast else FLOAT32

    def describe(self) -> str:
        return ", ".join(["bf16 autocast" if self.bf16_autocast else "fp32",
                          "channels_last" if self.channels_last else "NCHW"])


def resolve_numeric_path(amp: str, channels_last: str, device: torch.device) -> NumericPath:
    """``"auto"``: bf16 autocast + channels_last on CPUs whose oneDNN has bf16 kernels (where
    both together were measured fastest, about 2.5x fp32 at batch 128); fp32 NCHW elsewhere,
    CUDA included: these models are too small for bf16 to pay on a GPU, where each step waits
    on kernel launches (results/bench_cuda.md: bf16 0.9x fp32 on an H200).
    ``"on"``/``"off"`` force a switch (tests use this to run every path on any machine)."""
    pick = {"on": True, "off": False}
    bf16_kernels = device.type == "cpu" and cpu_supports_bf16()
    bf16_autocast = pick.get(amp, bf16_kernels)
    # channels_last pays with bf16 kernels; in float32 "auto" keeps NCHW, so amp="off" is the
    # very path of the float32 runs, on every CPU.
    return NumericPath(bf16_autocast=bf16_autocast,
                       channels_last=pick.get(channels_last, bf16_autocast and bf16_kernels))
