"""Notebook parameter checks: right values pass through, wrong ones name the parameter."""

from __future__ import annotations

import pytest

from utils.course.notebook_settings import (
    require_bool,
    require_choice,
    require_int,
    require_names,
    require_number,
    require_optional_int,
    require_optional_str,
    require_str,
)


def test_valid_values_pass_through() -> None:
    assert require_int("seed", 3, minimum=0) == 3
    assert require_optional_int("train_subset", None) is None
    assert require_optional_int("train_subset", 500, minimum=1) == 500
    assert require_number("lr", 0.1, minimum=0, strict_minimum=True) == 0.1
    assert require_number("smoothing", 0, minimum=0, maximum=0.5) == 0.0
    assert require_bool("retrain", False) is False
    assert require_choice("split", "val", ["train", "val", "test"]) == "val"
    assert require_optional_str("figures_dir", None) is None
    assert require_optional_str("figures_dir", "out/figs") == "out/figs"
    assert require_str("runs_root", "results/ablations") == "results/ablations"
    assert require_names("models", ["a"], ["a", "b"]) == ["a"]


@pytest.mark.parametrize("call, message", [
    (lambda: require_int("seed", None), "seed must be an integer, got None"),
    (lambda: require_int("seed", True), "seed must be an integer, got True"),
    (lambda: require_int("seed", 1.5), "seed must be an integer, got 1.5"),
    (lambda: require_int("epochs", 0, minimum=1), "epochs must be at least 1, got 0"),
    (lambda: require_optional_int("train_subset", "10", minimum=1),
     r"train_subset must be an integer, got '10'. \(None is also accepted\)"),
    (lambda: require_number("lr", "0.1"), "lr must be a number, got '0.1'"),
    (lambda: require_number("lr", float("nan")), "lr must be a number"),
    (lambda: require_number("lr", 0, minimum=0, strict_minimum=True),
     "lr must be greater than 0, got 0"),
    (lambda: require_number("smoothing", 1.0, maximum=0.5), "smoothing must be at most 0.5"),
    (lambda: require_bool("retrain", "yes"), "retrain must be True or False, got 'yes'"),
    (lambda: require_choice("split", "tset", ["val", "test"]),
     r"split must be one of \['val', 'test'\], got 'tset'"),
    (lambda: require_optional_str("checkpoint", 3), "checkpoint must be a non-empty string or None"),
    (lambda: require_optional_str("checkpoint", " "), "checkpoint must be a non-empty string"),
    (lambda: require_str("runs_root", None), "runs_root must be a non-empty string, got None"),
    (lambda: require_int("topk", 900, maximum=784), "topk must be at most 784, got 900"),
    (lambda: require_names("models", "primary19k"), "models must be a non-empty list of names"),
    (lambda: require_names("models", ["a", "b"], ["a"]), r"models has unknown names \['b'\]"),
])
def test_wrong_values_name_the_parameter(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
