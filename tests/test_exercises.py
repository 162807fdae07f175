"""The shared answer checkers: right answers pass, wrong ones say where without leaking."""

from __future__ import annotations

import pytest

from utils.exercises import AnswerError, check_choice, check_number, check_table

TABLE = [{"layer": "conv1", "rf": 3, "jump": 1}, {"layer": "pool", "rf": 4, "jump": 2},
         {"layer": "conv2", "rf": 8, "jump": 2}]


@pytest.mark.parametrize("placeholder", [None, ...])
def test_an_unanswered_exercise_says_so(placeholder):
    with pytest.raises(AnswerError, match="no answer yet"):
        check_number(placeholder, 3, "Exercise 1", "the output size")


def test_check_number_says_too_large_or_small_without_the_answer(capsys):
    with pytest.raises(AnswerError, match="is too large") as caught:
        check_number(13, 12, "Exercise 1", "the output size")
    assert "12" not in str(caught.value)
    with pytest.raises(AnswerError, match="is too small"):
        check_number(11, 12, "Exercise 1", "the output size")
    with pytest.raises(AnswerError, match="should be a number"):
        check_number("12", 12, "Exercise 1", "the output size")
    check_number(12.0004, 12, "Exercise 1", "the output size", abs_tol=1e-3)
    assert "correct" in capsys.readouterr().out


def test_check_choice_never_names_the_right_option():
    with pytest.raises(AnswerError, match="not one of the options"):
        check_choice("d", "b", "Q", ["a", "b", "c"])
    with pytest.raises(AnswerError) as caught:
        check_choice("a", "b", "Q", ["a", "b", "c"])
    assert "'b'" not in str(caught.value)
    check_choice("b", "b", "Q", ["a", "b", "c"])


def test_check_table_reports_the_first_wrong_cell_and_a_count():
    given = [dict(r) for r in TABLE]
    given[1]["rf"], given[2]["jump"] = 5, 4
    with pytest.raises(AnswerError) as caught:
        check_table(given, TABLE, "Ex", key="layer", columns=("rf", "jump"))
    message = str(caught.value)
    assert "row 1 (pool), 'rf': you gave 5, expected 4" in message
    assert "1 more wrong" in message and "conv2" not in message
    with pytest.raises(AnswerError, match="2 rows given"):
        check_table(given[:2], TABLE, "Ex", key="layer", columns=("rf",))
    with pytest.raises(AnswerError, match="not filled in"):
        check_table([{**TABLE[0], "rf": None}, *TABLE[1:]], TABLE, "Ex", key="layer",
                    columns=("rf",))
    check_table([dict(r) for r in TABLE], TABLE, "Ex", key="layer", columns=("rf", "jump"))


# ---- notebook 01: data exploration ----------------------------------------------------------
import torch  # noqa: E402
from torch import nn  # noqa: E402

from utils.augment import AugmentConfig  # noqa: E402
from utils.exercises import (  # noqa: E402
    check_augment_design,
    check_conv_bn_params,
    check_costliest_layer,
    check_median_width,
    check_normalisation_reason,
    check_normalized_pixel,
    check_output_size,
    check_rf_table,
    check_rotated_box,
    check_small_design,
    rf_table_expected,
)


def _squares(sides: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred squares of the given widths (label = index % 2)."""
    images = torch.zeros(len(sides), 28, 28, dtype=torch.uint8)
    for i, side in enumerate(sides):
        lo = 14 - side // 2
        images[i, 10:18, lo : lo + side] = 255
    return images, torch.arange(len(sides)) % 2


@pytest.mark.parametrize("placeholder", [None, ...])
def test_notebook01_checkers_say_unanswered(placeholder):
    images, labels = _squares([4, 6])
    for check in (lambda g: check_normalized_pixel(g, 128, 0.1307, 0.3081),
                  lambda g: check_rotated_box(g, 20, 45),
                  lambda g: check_median_width(g, images, labels, 0),
                  check_normalisation_reason,
                  lambda g: check_augment_design(g, images)):
        with pytest.raises(AnswerError, match="no answer yet"):
            check(placeholder)


def test_notebook01_number_checkers(capsys):
    check_normalized_pixel(1.21, 128, 0.1307, 0.3081)  # (128/255 - 0.1307) / 0.3081 = 1.2050
    with pytest.raises(AnswerError, match="grey level 128 = 0.5 is too small"):
        check_normalized_pixel(0.5, 128, 0.1307, 0.3081)
    check_rotated_box(28.28, 20, 45)
    with pytest.raises(AnswerError, match="45 degree rotation = 20 is too small"):
        check_rotated_box(20, 20, 45)
    images, labels = _squares([4, 6, 8, 10, 12])  # class 0: widths 4, 8, 12 -> median 8
    check_median_width(8, images, labels, 0)
    with pytest.raises(AnswerError, match="median width of the 0s = 10 is too large"):
        check_median_width(10, images, labels, 0)
    check_normalisation_reason("b")
    with pytest.raises(AnswerError, match="'a' is not right"):
        check_normalisation_reason("a")
    assert capsys.readouterr().out.count("correct") == 4


def test_notebook01_augment_design_is_scored_on_the_images_given():
    centred, _ = _squares([4, 4, 4, 4])
    check_augment_design(AugmentConfig(10, 1, 0.05), centred)
    edge = torch.zeros(4, 28, 28, dtype=torch.uint8)
    edge[:, 10:18, 0:4] = 255  # ink on the left border: most shifts cut some off
    with pytest.raises(AnswerError, match=r"% of validation digits keep all their ink; the "
                                          r"target is at least 97%"):
        check_augment_design(AugmentConfig(10, 1, 0.05), edge)
    with pytest.raises(AnswerError, match="keep every kind of augmentation on"):
        check_augment_design(AugmentConfig(0, 1, 0.05), centred)
    with pytest.raises(AnswerError, match="give an AugmentConfig, got dict"):
        check_augment_design({"rotation_deg": 10}, centred)


# ---- notebook 02: architecture design -------------------------------------------------------
def _block(c_in: int, c_out: int, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU()]


def test_rf_table_checker_uses_the_calculator():
    expected = rf_table_expected("compact8k")
    assert [row["rf"] for row in expected] == [3, 5, 6, 6, 10, 14, 18]  # by hand, notebook 02
    check_rf_table([dict(row) for row in expected])
    wrong = [dict(row) for row in expected]
    wrong[2]["start"] = 3.0
    with pytest.raises(AnswerError, match=r"row 2 \(features.6\), 'start': you gave 3.0"):
        check_rf_table(wrong)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_rf_table(None)


@pytest.mark.parametrize("placeholder", [None, ...])
def test_notebook02_checkers_say_unanswered(placeholder):
    for check in (lambda g: check_output_size(g, 12, 3, 2, 1),
                  lambda g: check_conv_bn_params(g, 16, 32, 3),
                  check_costliest_layer, check_small_design):
        with pytest.raises(AnswerError, match="no answer yet"):
            check(placeholder)


def test_notebook02_number_and_choice_checkers():
    check_output_size(6, 12, 3, 2, 1)
    with pytest.raises(AnswerError, match="the output size = 5 is too small"):
        check_output_size(5, 12, 3, 2, 1)
    check_conv_bn_params(4672, 16, 32, 3)  # 16*32*9 weights + 2*32 BatchNorm
    with pytest.raises(AnswerError, match="the parameter count = 4608 is too small"):
        check_conv_bn_params(4608, 16, 32, 3)
    check_costliest_layer("features.3")
    with pytest.raises(AnswerError, match="'features.0' is not right"):
        check_costliest_layer("features.0")
    with pytest.raises(AnswerError, match="'conv2' is not one of the options"):
        check_costliest_layer("conv2")


def test_small_design_is_checked_on_structure():
    good = nn.Sequential(*_block(1, 8), *_block(8, 12), nn.MaxPool2d(2),
                         nn.Conv2d(12, 8, 1, bias=False), *_block(8, 12), *_block(12, 12),
                         *_block(12, 16), *_block(16, 16, 1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(16, 10))
    check_small_design(good)
    shallow = nn.Sequential(*_block(1, 8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(8, 10))
    with pytest.raises(AnswerError, match="receptive field before the global pool is 3 px"):
        check_small_design(shallow)
    big = nn.Sequential(*_block(1, 64), *_block(64, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(64, 10))
    with pytest.raises(AnswerError, match="38,346 parameters; the budget is under 8,000"):
        check_small_design(big)
    nine = nn.Sequential(*_block(1, 8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 9))
    with pytest.raises(AnswerError, match=r"output shape \(2, 9\)"):
        check_small_design(nine)
    with pytest.raises(AnswerError, match="give an nn.Module"):
        check_small_design([nn.Conv2d(1, 8, 3)])
# ---- notebook 06: look inside the trained model
def _curves():
    import pandas as pd

    rows = [("a", "rotation", 0.0, 0.995), ("a", "rotation", 30.0, 0.90), ("a", "rotation", -30.0, 0.97),
            ("b", "rotation", 0.0, 0.993), ("b", "rotation", 30.0, 0.95), ("b", "rotation", -30.0, 0.98)]
    return pd.DataFrame([{"model": m, "transform": t, "level": lv, "correct": int(a * 100),
                          "total": 100, "accuracy": a} for m, t, lv, a in rows])


def test_06_cam_cell_field(capsys):
    from utils.exercises import check_cam_cell_field

    check_cam_cell_field(22)  # primary19k: RF 22 before GAP (notebook 02's calculator)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AnswerError, match="Exercise 06.1: .* = 6 is too small"):
        check_cam_cell_field(6)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_cam_cell_field(None)


def test_06_most_robust_reads_the_curves():
    from utils.exercises import check_most_robust

    check_most_robust("b", _curves(), "rotation", 30.0)
    with pytest.raises(AnswerError, match="'a' is not right"):
        check_most_robust("a", _curves(), "rotation", 30.0)
    with pytest.raises(AnswerError, match="not one of the options"):
        check_most_robust("c", _curves(), "rotation", 30.0)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_most_robust(..., _curves(), "rotation", 30.0)


def test_06_breaking_point_accepts_none_when_the_model_never_breaks():
    from utils.exercises import check_breaking_point

    check_breaking_point(30.0, _curves(), "a", "rotation", 0.95)
    check_breaking_point(None, _curves(), "b", "rotation", 0.90)
    with pytest.raises(AnswerError, match="is too small"):
        check_breaking_point(-30.0, _curves(), "a", "rotation", 0.95)
    with pytest.raises(AnswerError, match="None is not right"):
        check_breaking_point(None, _curves(), "a", "rotation", 0.95)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_breaking_point(..., _curves(), "a", "rotation", 0.95)


def test_06_topk_overlap():
    import torch

    from utils.exercises import check_topk_overlap

    a = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    b = torch.tensor([[4.0, 1.0], [3.0, 2.0]])
    check_topk_overlap(0.5, a, b, 2)
    with pytest.raises(AnswerError, match="top-2 overlap = 1.0 is too large"):
        check_topk_overlap(1.0, a, b, 2)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_topk_overlap(None, a, b, 2)


def test_06_thickness_repair_is_judged_on_the_given_images():
    import torch
    from torch import nn

    from utils.checkpoints import EvaluationModel
    from utils.exercises import check_thickness_repair

    class InkCounter(nn.Module):
        """Class 1 when a digit has at most 20 lit pixels (thin), else class 0."""

        def __init__(self):
            super().__init__()
            self.dummy = nn.Linear(1, 1)

        def forward(self, x):
            thin = ((x[:, 0] > 0.5).sum((1, 2)) <= 20).float()
            return torch.stack([1 - thin, thin, *[thin * 0 - 1] * 8], 1)

    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    images[:, 14, 10:18] = 255  # an 8-pixel stroke, thin: label 1
    labels = torch.ones(4, dtype=torch.long)
    model = EvaluationModel(InkCounter(), "x", 0.0, 1.0, "x", {})
    accuracies = check_thickness_repair(-2, model, images, labels, damage=2, candidates=[-2, -1, 0])
    assert accuracies[-2] == 1.0 and accuracies[0] == 0.0
    with pytest.raises(AnswerError, match="another choice does 100.00 points better"):
        check_thickness_repair(0, model, images, labels, damage=2, candidates=[-2, -1, 0])
    with pytest.raises(AnswerError, match="choose a whole number of steps"):
        check_thickness_repair(5, model, images, labels, damage=2, candidates=[-2, -1, 0])
    with pytest.raises(AnswerError, match="no answer yet"):
        check_thickness_repair(None, model, images, labels, damage=2, candidates=[-2, -1, 0])


# ---- notebook 05
def test_05_paired_t_checker(capsys):
    from utils.exercises import check_paired_t

    diffs = [-0.16, -0.24, -0.16]  # mean -0.1867, sd 0.0462: t = -7.0
    check_paired_t(-7.0, diffs)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AnswerError, match="too large"):
        check_paired_t(7.0, diffs)  # the sign matters
    with pytest.raises(AnswerError, match="no answer yet"):
        check_paired_t(None, diffs)


def test_05_speedup_and_peak_lr_read_the_rows():
    from utils.exercises import check_peak_lr_choice, check_speedup

    rows = [{"variant": "control", "train_seconds": 30.0, "val_acc": 0.9957},
            {"variant": "control", "train_seconds": 34.0, "val_acc": 0.9955},
            {"variant": "bs512", "train_seconds": 12.0, "val_acc": 0.9947},
            {"variant": "lr0.03", "train_seconds": 30.0, "val_acc": 0.9954},
            {"variant": "lr0.05", "train_seconds": 30.0, "val_acc": 0.9940}]
    check_speedup(32.0 / 12.0, rows, slow="control", fast="bs512")
    with pytest.raises(AnswerError, match="too small"):
        check_speedup(2.0, rows, slow="control", fast="bs512")
    peak = {"lr0.03": 0.03, "lr0.05": 0.05, "control": 0.1}
    check_peak_lr_choice(0.03, rows, peak)  # 99.54 vs best 99.56: within 0.05
    check_peak_lr_choice(0.1, rows, peak)
    with pytest.raises(AnswerError, match="another candidate does 0.16 points better"):
        check_peak_lr_choice(0.05, rows, peak)
    with pytest.raises(AnswerError, match="choose one of the measured peak LRs"):
        check_peak_lr_choice(0.3, rows, peak)


def test_05_pooled_mcnemar_checker():
    from utils.exercises import check_pooled_mcnemar
    from utils.stats import mcnemar_exact

    expected = mcnemar_exact(3, 12).p_value
    check_pooled_mcnemar(expected, expected)
    with pytest.raises(AnswerError, match="too large"):
        check_pooled_mcnemar(0.5, expected)
# ---- notebook 07: how small can it go
def _runs(tmp_path, accuracies):
    import json

    for name, accs in accuracies.items():
        for seed, acc in enumerate(accs):
            folder = tmp_path / name / f"seed{seed}"
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(json.dumps({"seed": seed, "val_acc": acc,
                                                             "test_acc": 1 - acc}))
    return tmp_path


def test_07_separable_params_are_counted_on_modules(capsys):
    from utils.exercises import check_separable_params

    check_separable_params(9 * 22 + 22 * 22 + 2 * 22)  # depthwise + pointwise + BatchNorm
    assert "Exercise 07.1: correct" in capsys.readouterr().out
    with pytest.raises(AnswerError, match="is too large") as caught:
        check_separable_params(9 * 22 * 22)  # a full 3x3 conv's count
    assert "726" not in str(caught.value)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_separable_params(...)


def test_07_rf_without_the_second_pool():
    from utils.exercises import check_rf_without_second_pool, rf_without_second_pool

    assert rf_without_second_pool("sep4k") == 22  # 18 after the 6x6 blocks, + 2 * 2
    check_rf_without_second_pool(22)
    with pytest.raises(AnswerError, match="= 28 is too large"):
        check_rf_without_second_pool(28)
    with pytest.raises(ValueError, match="fewer than two max-pools"):
        rf_without_second_pool("tiny4k")


def test_07_bigger_lever_and_kd_gain_read_validation_only(tmp_path):
    from utils.exercises import check_bigger_lever, check_kd_gain

    # kd helps sep2k by 0.3 points; the separable design by 0.1: distillation is bigger here
    root = _runs(tmp_path, {"sep2k-kd": [0.990, 0.992], "sep2k-e20": [0.987, 0.989],
                            "micro2k-kd": [0.989, 0.991]})
    gains = check_bigger_lever("distillation", runs_root=root)
    assert gains == pytest.approx({"distillation": 0.3, "separable design": 0.1})
    with pytest.raises(AnswerError, match="is not right"):
        check_bigger_lever("separable design", runs_root=root)
    with pytest.raises(AnswerError, match="not one of the options"):
        check_bigger_lever("epochs", runs_root=root)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_bigger_lever(None, runs_root=root)
    check_kd_gain(0.3, "sep2k", runs_root=root)
    with pytest.raises(AnswerError, match="too small"):
        check_kd_gain(-0.3, "sep2k", runs_root=root)


def test_07_kd_gain_on_the_committed_runs(capsys):
    from utils.exercises import check_kd_gain
    from utils.frontier import per_seed_differences

    diffs = [r["difference"] for r in per_seed_differences("sep8k-kd", "sep8k-e20")]
    check_kd_gain(sum(diffs) / len(diffs))
    assert "correct" in capsys.readouterr().out


def test_07_tiny_design_needs_budget_and_field():
    from utils.exercises import check_tiny_design
    from utils.models import build_model

    check_tiny_design(build_model("sep1k"))  # 936 params, RF 28
    with pytest.raises(AnswerError, match="Exercise 07.5: .*budget is under 1,000"):
        check_tiny_design(build_model("micro2k"))
    small = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 10))
    with pytest.raises(AnswerError, match="receptive field before the global pool is 3 px"):
        check_tiny_design(small)


def test_07_shipping_choice_is_judged_on_validation():
    from utils.exercises import check_shipping_choice

    rows = [{"arch": "a", "params": 3_800, "val_mean": 99.36, "test_mean": 99.30},
            {"arch": "b", "params": 3_700, "val_mean": 99.30, "test_mean": 99.45},
            {"arch": "big", "params": 7_000, "val_mean": 99.50, "test_mean": 99.50}]
    check_shipping_choice("a", rows)
    with pytest.raises(AnswerError, match="not the best run under 4,000") as caught:
        check_shipping_choice("b", rows)  # best on test, not on validation
    assert "'a'" not in str(caught.value) and " a " not in str(caught.value)
    with pytest.raises(AnswerError, match="budget is under 4,000"):
        check_shipping_choice("big", rows)
    with pytest.raises(AnswerError, match="not a run of the table"):
        check_shipping_choice("c", rows)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_shipping_choice(..., rows)
