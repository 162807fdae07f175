"""The command-line flags the experiment commands share: one spelling, default and help each."""

from __future__ import annotations

import argparse

from utils.numeric_path import SWITCHES
from utils.run_files import FLOAT32


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_mnist_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mnist-root", default=None,
                        help="folder holding MNIST/raw/ (default: $MNIST_ROOT, else ./data)")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="'auto' (CUDA when present, else CPU), 'cpu' or 'cuda[:N]'")


def add_amp(parser: argparse.ArgumentParser, default: str = "auto", why: str = "") -> None:
    """``--amp``, the numeric-path switch (``TrainConfig.amp``); ``why`` explains a default."""
    parser.add_argument("--amp", default=default, choices=SWITCHES,
                        help="bfloat16 autocast of the forward pass (TrainConfig.amp; see "
                             "utils.numeric_path)" + (f"; {why}" if why else ""))


def amp_flag(forward: str) -> str:
    """The ``--amp`` option that asks for a run whose forward pass was ``forward``."""
    return "--amp off" if forward == FLOAT32 else "--amp on"


def add_seeds(parser: argparse.ArgumentParser, default: list[int], what: str) -> None:
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, default=default,
                        metavar="K", help=f"{what} (default {' '.join(map(str, default))})")


def add_no_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no per-batch progress bars")
