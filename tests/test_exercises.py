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


def test_05_seed_mcnemar_checker_rejects_the_pooled_count(tmp_path):
    import json

    import torch

    from utils import ablations
    from utils.exercises import check_seed_mcnemar
    from utils.stats import mcnemar_exact

    labels = torch.zeros(40, dtype=torch.long)
    # seed 0: control right on 0-29, ls0 on 0-19 and 30-33 (b = 10, c = 4); seed 1: b = 6, c = 0
    answers = {("control", 0): range(30), ("ls0", 0): [*range(20), *range(30, 34)],
               ("control", 1): range(30), ("ls0", 1): range(24)}
    for (variant, seed), right in answers.items():
        folder = ablations.run_folder(tmp_path, ablations.ARCH, seed, variant)
        folder.mkdir(parents=True)
        text = "".join("0" if i in right else "1" for i in range(40))
        (folder / ablations.PREDICTIONS_FILE).write_text(text + "\n")
        (folder / "metrics.json").write_text(json.dumps({"val_acc": len(right) / 40}))
    args = (tmp_path, "ls0", 0, [0, 1], labels)
    check_seed_mcnemar(mcnemar_exact(10, 4).p_value, *args)
    with pytest.raises(AnswerError, match="pools the discordant images of all seeds"):
        check_seed_mcnemar(mcnemar_exact(16, 4).p_value, *args)
    with pytest.raises(AnswerError, match="too large"):
        check_seed_mcnemar(0.9, *args)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_seed_mcnemar(None, *args)


SCHEDULE_DIFFS = [[-0.30, -0.64, -0.20], [-0.28, -0.46, -0.20], [-0.16, -0.36, -0.12]]
SCHEDULE_ACCS = [[99.22, 98.98, 99.36], [99.24, 99.16, 99.36], [99.36, 99.26, 99.44]]


def _pooled_n(sd: float, z: float = 1.959964 + 0.841621, effect: float = 0.1) -> float:
    return (z * sd / effect) ** 2


def test_05_seeds_needed_accepts_the_formula_and_names_each_slip(capsys):
    import math

    from utils.exercises import check_seeds_needed
    from utils.stats import pooled_sd

    sd = pooled_sd(SCHEDULE_DIFFS)
    right = math.ceil(_pooled_n(sd))  # for a 0.1-point effect, where every slip differs
    check_seeds_needed(right, SCHEDULE_DIFFS, 0.1, SCHEDULE_ACCS)
    assert "correct" in capsys.readouterr().out
    slips = {
        math.ceil(_pooled_n(pooled_sd(SCHEDULE_ACCS))): "SD of the accuracies",
        math.ceil(_pooled_n(sd) ** 0.5): "without the square",
        math.ceil(_pooled_n(sd, z=1.959964)): "power term",
        math.floor(_pooled_n(sd)): "rounded down",
    }
    assert right not in slips and len(slips) == 4  # the fixture tells every slip apart
    for answer, phrase in slips.items():
        with pytest.raises(AnswerError, match=phrase) as caught:
            check_seeds_needed(answer, SCHEDULE_DIFFS, 0.1, SCHEDULE_ACCS)
        assert str(right) not in str(caught.value)  # never the answer
    with pytest.raises(AnswerError, match="too many") as caught:
        check_seeds_needed(right + 40, SCHEDULE_DIFFS, 0.1, SCHEDULE_ACCS)
    assert str(right) not in str(caught.value).replace(str(right + 40), "")
    with pytest.raises(AnswerError, match="whole number of seeds"):
        check_seeds_needed(_pooled_n(sd), SCHEDULE_DIFFS, 0.1, SCHEDULE_ACCS)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_seeds_needed(..., SCHEDULE_DIFFS, 0.1, SCHEDULE_ACCS)


def test_05_seeds_needed_names_both_slips_when_they_give_the_same_count():
    import math

    from utils.exercises import check_seeds_needed
    from utils.stats import pooled_sd

    sd = pooled_sd(SCHEDULE_DIFFS)  # at 0.2 points no square and no power term both give 3
    assert math.ceil(_pooled_n(sd, effect=0.2) ** 0.5) == math.ceil(
        _pooled_n(sd, z=1.959964, effect=0.2)) == 3
    with pytest.raises(AnswerError, match="without the square.*or it leaves out the power"):
        check_seeds_needed(3, SCHEDULE_DIFFS, 0.2, SCHEDULE_ACCS)


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
# ---- notebook 03: training ------------------------------------------------------------------
def test_03_steps_by_hand(capsys):
    from utils.exercises import check_steps

    check_steps(215, 3225, n_images=55_000, batch_size=256, epochs=15)  # ceil(214.8) = 215
    assert capsys.readouterr().out.count("correct") == 1
    with pytest.raises(AnswerError, match="steps per epoch = 214 is too small"):
        check_steps(214, 3210, n_images=55_000, batch_size=256, epochs=15)
    with pytest.raises(AnswerError, match="steps of the 15-epoch run = 3000 is too small"):
        check_steps(215, 3000, n_images=55_000, batch_size=256, epochs=15)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_steps(215, ..., n_images=55_000, batch_size=256, epochs=15)


def test_03_lr_at_step_and_the_smoothing_floor():
    from utils.exercises import check_lr_at_step, check_smoothing_floor, label_smoothing_floor

    check_lr_at_step(0.052, step=645)  # midway through the cosine warm-up from 0.004 to 0.1
    with pytest.raises(AnswerError, match="learning rate at step 645 = 0.1 is too large") as err:
        check_lr_at_step(0.1, step=645)
    assert "0.052" not in str(err.value)
    # entropy of (0.955, 9 x 0.005) and of (0.91, 9 x 0.01), worked by hand
    assert label_smoothing_floor(0.05) == pytest.approx(0.28240, abs=1e-5)
    assert label_smoothing_floor(0.1) == pytest.approx(0.50029, abs=1e-5)
    assert label_smoothing_floor(0.0) == pytest.approx(0.0, abs=1e-12)
    check_smoothing_floor(0.5003, 0.1)
    with pytest.raises(AnswerError, match="is too small"):
        check_smoothing_floor(0.2824, 0.1)


def test_03_steps_above_half_counts_the_schedule():
    from utils.exercises import check_steps_above
    from utils.train import TrainConfig, lr_schedule

    rates = lr_schedule(TrainConfig(epochs=2), 10)
    expected = sum(r >= 0.05 for r in rates)
    assert 0 < expected < len(rates)
    check_steps_above(expected, 0.5, epochs=2, steps_per_epoch=10)
    with pytest.raises(AnswerError, match="is too large"):
        check_steps_above(len(rates), 0.5, epochs=2, steps_per_epoch=10)


def test_03_fit_extra_choice():
    from utils.exercises import check_fit_extra

    check_fit_extra("c")
    with pytest.raises(AnswerError, match="'a' is not right"):
        check_fit_extra("a")


def test_03_one_epoch_design_checks_budget_and_scores_on_the_images_given():
    from utils.exercises import check_one_epoch_design
    from utils.train import FitResult, TrainConfig

    class Constant(nn.Module):
        def __init__(self, digit: int):
            super().__init__()
            self.digit = digit
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            logits = torch.zeros(len(x), 10)
            logits[:, self.digit] = 1
            return logits + 0 * self.dummy

    images = torch.zeros(10, 28, 28, dtype=torch.uint8)
    labels = torch.tensor([3] * 9 + [1])
    config = TrainConfig(arch="primary19k", epochs=1, train_subset=2048)
    good = FitResult(Constant(3), [], config, None, (0.1307, 0.3081))
    check_one_epoch_design(good, images, labels, min_val_acc=0.9)
    bad = FitResult(Constant(1), [], config, None, (0.1307, 0.3081))
    with pytest.raises(AnswerError, match=r"10.00% on validation; the target is at least 90%"):
        check_one_epoch_design(bad, images, labels, min_val_acc=0.9)
    longer = FitResult(Constant(3), [], TrainConfig(epochs=3, train_subset=2048), None, (0, 1))
    with pytest.raises(AnswerError, match=r"keep the budget: epochs=3 \(the budget is 1\)"):
        check_one_epoch_design(longer, images, labels)
    with pytest.raises(AnswerError, match="give the result of fit"):
        check_one_epoch_design(Constant(3), images, labels)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_one_epoch_design(..., images, labels)


# ---- notebook 04: error analysis ------------------------------------------------------------
def test_04_mcnemar_p_and_half_width_by_hand(capsys):
    from utils.exercises import check_half_width, check_mcnemar_p

    check_mcnemar_p(0.146, 3, 9)  # 2 * (1 + 12 + 66 + 220) / 2**12 = 598 / 4096 = 0.1460
    with pytest.raises(AnswerError, match="p-value for b=3, c=9 = 0.073 is too small"):
        check_mcnemar_p(0.073, 3, 9)  # the one-sided value
    check_half_width(0.124, 0.996, 10_000)  # 1.96 * sqrt(0.996 * 0.004 / 10000) = 0.00124
    with pytest.raises(AnswerError, match="is too small"):
        check_half_width(0.0124, 0.996, 10_000)  # a fraction, not points
    assert capsys.readouterr().out.count("correct") == 2


def test_04_lowest_recall_accepts_any_tied_digit():
    from utils.exercises import check_lowest_recall

    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predicted = torch.tensor([0, 1, 1, 0, 2, 2])  # recall: 0 -> 0.5, 1 -> 0.5, 2 -> 1
    check_lowest_recall(0, labels, predicted)
    check_lowest_recall(1, labels, predicted)
    with pytest.raises(AnswerError, match="digit 2 is not the one with the lowest recall"):
        check_lowest_recall(2, labels, predicted)
    with pytest.raises(AnswerError, match="not one of the digits"):
        check_lowest_recall(7, labels, predicted)


def test_04_abstention_threshold_is_judged_on_the_given_predictions():
    from utils.exercises import best_coverage, check_abstention_threshold

    confidence = torch.tensor([0.99, 0.98, 0.97, 0.96, 0.90, 0.80, 0.70, 0.60])
    correct = torch.tensor([True, True, True, True, True, False, True, False])
    assert best_coverage(confidence, correct, 1.0) == 5 / 8  # stop before the first mistake
    assert best_coverage(confidence, correct, 0.8) == 7 / 8  # all 8: 6/8 < 0.8; first 7: 6/7
    check_abstention_threshold(0.85, confidence, correct, min_accuracy=1.0)
    with pytest.raises(AnswerError, match=r"answers 87.50% of validation images at 85.714%; the target is at least 100%"):
        check_abstention_threshold(0.65, confidence, correct, min_accuracy=1.0)
    with pytest.raises(AnswerError, match="a lower threshold answers 25.00 points more"):
        check_abstention_threshold(0.965, confidence, correct, min_accuracy=1.0)
    with pytest.raises(AnswerError, match=r"threshold in \[0, 1\)"):
        check_abstention_threshold(1.5, confidence, correct)


def test_04_temperature_is_fitted_on_the_logits_given():
    from utils.exercises import check_temperature
    from utils.stats import fit_temperature

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 10, generator=generator)
    labels = logits.argmax(1)
    labels[:40] = torch.randint(0, 10, (40,), generator=generator)
    fitted = fit_temperature(logits, labels)
    check_temperature(fitted * 1.005, logits, labels)
    with pytest.raises(AnswerError, match="the temperature = .* is too large"):
        check_temperature(fitted * 1.5, logits, labels)
    with pytest.raises(AnswerError, match="no answer yet"):
        check_temperature(None, logits, labels)
