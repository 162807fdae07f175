"""Every checker through ``check(id, answer)``: its right answer passes, and each wrong answer a
student is likely to give (a slip of convention, the wrong split, a number copied from an
earlier output, a degenerate design) raises ``AnswerError`` without printing the answer."""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import train
from utils.augment import AugmentConfig
from utils.course.checkers import (
    AnswerError,
    UnknownExerciseError,
    check,
    core,
    known_ids,
    nb01,
    nb03,
    register,
)
from utils.experiments.design_challenge import load_reference_run
from utils.models import GapNet, ShiftBatchNorm2d, build_model, conv_bn_relu, separable_bn_relu
from utils.recipe import TrainConfig
from utils.train import FitResult


# ---------------------------------------------------------------- the registry
def test_every_notebook_registers_its_checkers():
    ids = known_ids()
    for notebook in ("01", "02", "03", "04", "05", "06", "07"):
        assert known_ids(notebook), f"no checker for notebook {notebook}"
    assert ids == sorted(set(ids), key=ids.index)


def test_every_notebook_module_in_the_package_is_imported():
    """A new ``nb*.py`` registers its checkers without an edit to ``__init__``."""
    import utils.course.checkers as package  # the package object itself, for its folder

    folder = Path(package.__file__).parent
    assert package.NOTEBOOK_MODULES == sorted(p.stem for p in folder.glob("nb*.py"))


def test_an_unknown_id_lists_that_notebooks_exercises():
    with pytest.raises(UnknownExerciseError, match=r"'03\.9'.*notebook 03 are \['03\.1'"):
        check("03.9", 1)
    with pytest.raises(UnknownExerciseError, match="known ids"):
        check("99.1", 1)


def test_register_refuses_bad_ids_and_a_second_checker():
    with pytest.raises(ValueError, match="NN.k"):
        register("3.2")
    with pytest.raises(ValueError, match="already has a checker"):
        register("01.1")(lambda answer: None)


@pytest.mark.parametrize("exercise_id", known_ids())
@pytest.mark.parametrize("placeholder", [None, ...])
def test_an_unanswered_exercise_says_so(exercise_id, placeholder):
    if exercise_id == "06.3" and placeholder is None:
        return  # None is a valid answer there ("never falls below")
    if exercise_id == "03.1":
        placeholder = (placeholder, placeholder)
    with pytest.raises(AnswerError, match="no answer yet"):
        check(exercise_id, placeholder)


def test_keys_of_choices_are_salted_digests_not_plain_text():
    assert core.matches_digest("01.5", "b", nb01.NORMALISATION_DIGEST)
    assert core.matches_digest("03.6", "c", nb03.FIT_EXTRA_DIGEST)
    assert core.answer_digest("01.5", "b") != core.answer_digest("03.6", "b")  # salted per id


def test_table_messages_never_print_the_expected_value():
    table = [{"layer": "a", "rf": 3}, {"layer": "b", "rf": 5}]
    with pytest.raises(AnswerError) as caught:
        core.check_table([{"layer": "a", "rf": 3}, {"layer": "b", "rf": 6}], table, "00.1",
                         key="layer", columns=("rf",))
    assert "too large" in str(caught.value) and "5" not in str(caught.value)


# ---------------------------------------------------------------- designs
def block(c_in: int, c_out: int, padding: int = 0, relu: bool = True) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False), nn.BatchNorm2d(c_out),
            *([nn.ReLU()] if relu else [])]


def design_8k(relu: bool = True) -> nn.Module:
    return nn.Sequential(
        *block(1, 8, relu=relu), *block(8, 12, relu=relu), nn.MaxPool2d(2),
        nn.Conv2d(12, 8, 1, bias=False), *block(8, 12, relu=relu), *block(12, 12, relu=relu),
        *block(12, 16, relu=relu), *block(16, 16, padding=1, relu=relu),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def dilated(c: int = 16, dilation: int = 19) -> nn.Module:
    """A field of dilation + 3 px on paper whose units see a few pixels: a dilated 2x2 kernel."""
    return nn.Sequential(nn.Conv2d(1, c, 2, dilation=dilation), nn.ReLU(), nn.Conv2d(c, c, 3, padding=4),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


def design_1k() -> nn.Module:
    return GapNet(conv_bn_relu(1, 4) + conv_bn_relu(4, 7) + [nn.MaxPool2d(2)]
                  + separable_bn_relu(7, 8) + separable_bn_relu(8, 8) + separable_bn_relu(8, 8)
                  + [nn.MaxPool2d(2)] + separable_bn_relu(8, 8, padding=1), 8, "tiny")


def linear_1k() -> nn.Module:
    layers = [m for m in design_1k().features if not isinstance(m, nn.ReLU)]
    return GapNet(layers, 8, "no activation")


def design_run() -> FitResult:
    """07.7's right answer: the committed reference run (sep8k's layers), as fit returns it."""
    return load_reference_run("sep8k")


def design_run_with(model: nn.Module | None = None, **config: object) -> FitResult:
    """The reference run with another model or other settings: what 07.7 must refuse."""
    run = design_run()
    return replace(run, model=run.model if model is None else model,
                   config=replace(run.config, **config))


# ---------------------------------------------------------------- right answers
def rf_table_02() -> list[dict]:
    rows = [("features.0", 26, 1, 3, 1.0), ("features.3", 24, 1, 5, 2.0),
            ("features.6", 12, 2, 7, 2.0), ("features.7", 12, 2, 7, 2.0),
            ("features.10", 10, 2, 11, 4.0), ("features.13", 8, 2, 15, 6.0),
            ("features.16", 6, 2, 19, 8.0)]
    return [dict(zip(("layer", "size", "jump", "rf", "start"), r, strict=True)) for r in rows]


def printed_compact_table() -> list[dict]:
    """compact8k's own table (printed in notebook 02), the copy 02.1 must reject."""
    rows = [("features.0", 26, 1, 3, 1.0), ("features.3", 24, 1, 5, 2.0),
            ("features.6", 12, 2, 6, 2.5), ("features.7", 12, 2, 6, 2.5),
            ("features.10", 10, 2, 10, 4.5), ("features.13", 8, 2, 14, 6.5),
            ("features.16", 6, 2, 18, 8.5)]
    return [dict(zip(("layer", "size", "jump", "rf", "start"), r, strict=True)) for r in rows]


def written_step(net, opt, x, y, lr, label_smoothing):
    """Exercise 03.7 as a student writes it: the engine's five steps, in plain PyTorch."""
    for group in opt.param_groups:
        group["lr"] = lr
    loss = F.cross_entropy(net(x), y, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def step_returning_nothing(net, opt, x, y, lr, label_smoothing):
    written_step(net, opt, x, y, lr, label_smoothing)


def fold_scale(conv, norm, depthwise, *, flip_sign=True, flip_mean=True, in_place=False,
               scale_conv=False, keep_scale=False):
    """Exercise 07.10 as a student writes it, and, through the flags, its common slips."""
    if keep_scale:
        return tuple(copy.deepcopy(m) for m in (conv, norm, depthwise))
    gamma = norm.weight.detach().clone()
    sign = gamma.sign() if flip_sign else torch.ones_like(gamma)
    size = gamma * sign
    if not in_place:
        conv, depthwise = copy.deepcopy(conv), copy.deepcopy(depthwise)
    shift = ShiftBatchNorm2d(norm.num_features)
    with torch.no_grad():
        conv.weight.mul_((size if scale_conv else sign)[:, None, None, None])
        if not scale_conv:
            depthwise.weight.mul_(size[:, None, None, None])
        shift.bias.copy_(norm.bias / size)
        shift.running_mean.copy_(norm.running_mean * (sign if flip_mean else 1))
        shift.running_var.copy_(norm.running_var)
        if in_place:
            norm.weight.fill_(1.0)
    return conv, shift, depthwise


RIGHT = {
    "01.1": 1.205, "01.2": 28.28, "01.4": 9.34, "01.5": "b",
    "01.6": AugmentConfig(rotation_deg=10.0, translate_px=1.0, scale=0.05),
    "02.1": rf_table_02(), "02.2": 7, "02.3": 4672, "02.4": 75.6, "02.6": design_8k(),
    "03.1": (215, 3225), "03.2": 0.028, "03.3": 0.5003, "03.4": 3242, "03.6": "c",
    "03.7": written_step,
    "04.1": 0.146, "04.2": 0.2141, "04.3": 4, "04.5": 0.773, "04.6": 0.461,
    "05.1": -4.7274, "05.2": 4.932, "05.3": 0.26493089646101, "05.4": 0.03, "05.7": 6,
    "05.8": 0.296440489432703,
    "06.1": 13, "06.2": "compact8k", "06.3": -20.0, "06.4": 0.3, "06.5": -2,
    "07.1": 576, "07.2": 22, "07.3": "tiny4k", "07.4": -0.0667, "07.5": design_1k(),
    "07.6": "sep4k_eca-kdls0", "07.7": design_run(), "07.8": 2772,
    "07.9": 0.5, "07.10": fold_scale,
}

WRONG: dict[str, list[tuple[object, str]]] = {
    "01.1": [(1.199, "divides by 256"), (1.21, "too large"), (0.1144, "multiplies"),
             (0.371, "not divided"), (1.2, "too small")],
    "01.2": [(23.17, "10° frame"), (27.52, "radians"), (28.2, "too small"), (20, "too small")],
    "01.4": [(9.38, "validation split"), (9.01, "test split"), (8.0, "too small"),
             (20.0, "height")],
    "01.5": [("a", "not right"), ("c", "not right"), ("e", "not one of the options")],
    "01.6": [(AugmentConfig(), "target is at least 97%"),
             (AugmentConfig(rotation_deg=10.0, translate_px=0.0, scale=0.05), "keep every kind"),
             (AugmentConfig(rotation_deg=2.0, translate_px=1.0, scale=0.05), "keep every kind"),
             ({"rotation_deg": 10}, "give an AugmentConfig")],
    "02.1": [(printed_compact_table(), r"row 2 \(features.6\), 'rf' = 6 is too small"),
             (rf_table_02()[:6], "6 rows given"), ("table", "list of rows")],
    "02.2": [(6, "one side only"), (5, "padding is missing"), (8, "rounds up"),
             (14, "stride is missing"), (7.5, "whole number")],
    "02.3": [(4608, "scale and shift are missing"), (4640, "two numbers per channel"),
             (4704, "no bias"), (4736, "buffers")],
    "02.4": [(24.1, "parameters"), (73.7, "primary19k"), (0.756, "percentage"),
             (24.4, "every other layer")],
    "02.6": [(design_8k(relu=False), "no activation"), (dilated(), "sees every pixel"),
             (nn.Sequential(*block(1, 8), *block(8, 16), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(16, 10)), "at least 20 px"),
             (nn.Sequential(*block(1, 64), *block(64, 64), *block(64, 64), nn.MaxPool2d(2),
                            *block(64, 64), *block(64, 64), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(64, 10)), "budget"),
             (nn.Sequential(*block(1, 8), nn.Flatten(), nn.Linear(8 * 26 * 26, 12)),
              "ten logits")],
    "03.1": [((214, 3210), "last, smaller batch"), ((430, 6450), "batch size"),
             ((215, 3210), "too small"), ((215.0, 3225), "whole number"), (215, "pair")],
    "03.2": [(0.036, "linear warm-up"), (0.052, "step 645"), (0.025, "not at 0"),
             (0.0325, "peak / 25"), (0.0279, "step 429"), (0.0277, "too small")],
    "03.3": [(0.2824, "0.05"), (0.5448, "9 other classes"), (0.7218, "bits")],
    "03.4": [(3251, "linear ramps"), (2580, "warm-up"), (662, "annealing"), (3241, "too small")],
    "03.6": [("a", "not right"), ("d", "not right"), ("C", "not one of the options")],
    "03.7": [(nb03._step_without_lr, "initial rate"), (nb03._step_without_zero_grad, "zero_grad"),
             (nb03._step_without_smoothing, "label_smoothing"),
             (nb03._step_before_backward, "backward first"),
             (step_returning_nothing, "return the batch's loss"),
             (train.training_step, "write your own"), ("written_step", "function itself")],
    "04.1": [(0.073, "one-sided"), (0.0833, "chi-square approximation;"),
             (0.1489, "continuity"), (0.144, "too small")],
    "04.2": [(0.2184, "z = 2"), (0.1092, "one standard deviation"), (0.002141, "points"),
             (0.1514, "n = 10,000"), (0.1237, "test set's half-width"), (0.2173, "Wilson"),
             (0.2150, "too large")],
    "04.3": [(2, "model A's"), (9, "lowest recall"), (0, "not the one"), (10, "not a digit"),
             ("4", "int")],
    "04.5": [(0.999999, "a lower threshold"), (0.0, "the target is at least"),
             (1.0, "in \\[0, 1\\)")],
    "04.6": [(0.520, "model A"), (2.169, "1 / T"), (0.47, "too large")],
    "05.1": [(4.7274, "sign is flipped"), (-5.0538, "divides by n"), (-1.6714, "standard error"),
             (-7.0, "against the control"), (-3.5, "too large")],
    "05.2": [(0.2028, "inverse"), (4.923, "rounded seconds"), (8.0, "steps"),
             (4.9, "too small")],
    "05.3": [(1.0, "same network"), (1.567935449468343e-07, "pools"), (0.296206368599087, "seed 0"),
             (0.265, "rounded"), (0.27, "too large")],
    "05.4": [(0.1, "prefers the smallest"), (0.4, "prefers the smallest"),
             (0.05, "more than 0.05 points"), (0.3, "choose one of")],
    "05.7": [(5, "rounded down"), (6.0, "whole number")],
    "05.8": [(0.03731905279892896, "pools nobn-lr0.3 too"), (0.2110678531701891, "one tail"),
             (0.7729692995729912, "second column holds totals"), (0.07692307692307693, "0.1 alone"),
             (0.6, "too large")],
    "06.1": [(22, "with the max-pool"), (12, "too small"), (14, "too large")],
    "06.2": [("primary19k", "not right"), ("original-published", "not right"),
             ("resnet", "not one of the options")],
    "06.3": [(-15.0, "below 99%"), (-30.0, "below 95%"), (20.0, "other one"),
             (None, "not right"), (-10.0, "too large")],
    "06.4": [(3.0, "count"), (0.4, "too large"), (0.2, "too small")],
    "06.5": [(0, "another choice does"), (-1, "another choice does"), (2, "choose a whole"),
             (-1.0, "choose a whole")],
    "07.1": [(3504, "full 3x3"), (616, "no bias"), (528, "scale and shift are missing"),
             (624, "running statistics"), (726, "too large")],
    "07.2": [(28, "with both pools"), (18, "too small")],
    "07.3": [("micro2k", "not right"), ("sep4k", "not one of")],
    "07.4": [(0.0667, "sign"), (-0.052, "table's means"), (-0.0007, "fraction"),
             (0.05, "too large"), (-0.11, "too small")],
    "07.5": [(linear_1k(), "no activation"), (design_8k(), "budget"),
             (dilated(8, dilation=25), "sees every pixel")],
    "07.6": [("sep4k_eca-e20", "more than 0.15"), ("sep4k-e20", "more than 0.15"), ("sep2k-e20", "more than 0.15"),
             ("sep8k-e30", "a smaller run"), ("primary19k", "budget"), ("sep3k", "not a run")],
    "07.7": [(design_run_with(build_model("primary19k")), "budget"),
             (design_run_with(epochs=4), "at most 3"),
             (design_run_with(train_subset=5_000), "train_subset"),
             (design_run_with(teacher=("results/runs/primary19k/seed0",), distill_weight=0.5),
              "teacher"),
             (design_run_with(linear_1k()), "no activation"),
             (design_run_with(build_model("sep8k")), "below the bar"),
             (design_run().model, "FitResult")],
    "07.8": [(693, "one gate"), (2592, "biases"), (1332, "squeeze alone"), (10368, "not C"),
             (12, "ECA gates cost"), (2771, "too small"), ("2772", "number")],
    "07.9": [(2.0, "divides the scale out"), (1.0, "loss is unchanged"),
             (0.25, "relative to the weight"), (0.52, "too large"), (0.48, "too small"),
             ("0.5", "number")],
    "07.10": [(functools.partial(fold_scale, in_place=True), "changed the modules it was given"),
              (functools.partial(fold_scale, keep_scale=True), "still has a scale"),
              (functools.partial(fold_scale, flip_sign=False), "not with a negative γ"),
              (functools.partial(fold_scale, flip_mean=False), "eval mode does not"),
              (functools.partial(fold_scale, scale_conv=True), "with every γ > 0"),
              (lambda *modules: list(fold_scale(*modules)), "as a tuple"),
              ("fold_scale", "give the function itself")],
}


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
def test_the_right_answer_passes(exercise_id, capsys):
    check(exercise_id, RIGHT[exercise_id])
    assert f"Exercise {exercise_id}: correct" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id, answer, why",
                         [(e, a, w) for e, cases in WRONG.items() for a, w in cases],
                         ids=lambda v: v if isinstance(v, str) and re.match(r"\d\d\.", v) else "")
def test_a_known_wrong_answer_is_rejected(exercise_id, answer, why):
    with pytest.raises(AnswerError, match=why) as caught:
        check(exercise_id, answer)
    right = RIGHT[exercise_id]
    if isinstance(right, float) and len(repr(right)) >= 4 and "choose" not in str(caught.value):
        assert repr(right) not in str(caught.value)


def test_every_checker_has_a_right_answer_and_wrong_ones():
    graded = set(known_ids()) - {i for i in known_ids() if not re.match(r"0\d\.", i)}
    assert graded - {"03.5"} == set(RIGHT) == set(WRONG)


def one_epoch(config: TrainConfig) -> FitResult:
    return FitResult(nn.Identity(), [], config, None, (0.1307, 0.3081))


@pytest.mark.parametrize("config, why", [
    (TrainConfig(arch="compact8k", epochs=1, train_subset=2048), "arch='compact8k'"),
    (TrainConfig(arch="primary19k", epochs=2, train_subset=2048), "epochs=2"),
    (TrainConfig(arch="primary19k", epochs=1, train_subset=4096), "train_subset=4096"),
    (TrainConfig(arch="primary19k", epochs=1, train_subset=None), "train_subset=None"),
])
def test_one_epoch_design_keeps_its_budget(config, why):
    with pytest.raises(AnswerError, match=f"keep the budget.*{re.escape(why)}"):
        check("03.5", one_epoch(config))
    with pytest.raises(AnswerError, match="give the result of fit"):
        check("03.5", config)


def test_one_epoch_design_is_scored_on_validation(capsys):
    from utils.course.checkers import reference
    from utils.train import fit  # trains one short epoch: only this test needs it

    config = TrainConfig(arch="primary19k", epochs=1, train_subset=2048, batch_size=32,
                         device="cpu", amp="off", channels_last="off")
    untrained = FitResult(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), [], config, None,
                          (0.1307, 0.3081))
    torch.manual_seed(0)
    with pytest.raises(AnswerError, match="the target is at least 90%"):
        check("03.5", untrained)
    check("03.5", fit(config, reference.splits(), progress=False, log=None))
    assert "Exercise 03.5: correct" in capsys.readouterr().out


def test_design_challenge_registers_a_design_and_loads_only_its_own_layers(monkeypatch):
    """07.7's registry helper replaces a design of the same name (a cell run twice) but never a
    model of the repository; the committed run loads only into a design with its layers."""
    from utils import models
    from utils.checkpoints import CheckpointError
    from utils.experiments import design_challenge

    monkeypatch.setattr(models, "MODEL_REGISTRY", dict(models.MODEL_REGISTRY))
    monkeypatch.setattr(design_challenge, "MODEL_REGISTRY", models.MODEL_REGISTRY)
    monkeypatch.setattr(design_challenge, "_STUDENT_NAMES", set())
    with pytest.raises(ValueError, match="repository's models"):
        design_challenge.register_design("sep8k", design_1k)
    design_challenge.register_design("mine", design_1k)
    design_challenge.register_design("mine", models.sep8k)  # the cell, run again
    assert load_reference_run("mine").config.arch == "mine"
    design_challenge.register_design("mine", design_1k)
    with pytest.raises(CheckpointError, match="does not fit architecture 'mine'"):
        load_reference_run("mine")


def test_shipping_choice_rejects_a_larger_run_when_a_smaller_one_is_close_enough(tmp_path):
    """07.6 on a table of its own, so the "smaller run" slip is checked whatever runs are
    committed."""
    header = ("arch,params,epochs,seeds,test_mean,test_std,test_min,test_max,val_mean,"
              "train_seconds_mean,device\n")
    (tmp_path / "sweep.csv").write_text(
        header + "compact8k,7442,15,5,99.4,0.04,99.3,99.5,99.30,300,cpu\n"
        "tiny4k,3746,15,5,99.3,0.04,99.2,99.4,99.20,200,cpu\n")
    (tmp_path / "sweep_variants.csv").write_text(
        header + "tiny4k-kd,3746,20,3,99.0,0.04,98.9,99.1,98.90,200,cpu\n")
    check("07.6", "tiny4k", results_dir=tmp_path)  # 0.10 below the best, and smaller
    with pytest.raises(AnswerError, match="smaller run"):
        check("07.6", "compact8k", results_dir=tmp_path)
