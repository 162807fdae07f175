"""Robustness transforms are exact and deterministic; curves, breaking points and files."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from utils.checkpoints import EvaluationModel
from utils.experiments.robustness import (
    COLUMNS,
    add_noise,
    apply_transform,
    breaking_point,
    breaking_table,
    change_thickness,
    markdown_report,
    merge_results,
    parse_arguments,
    robustness_curves,
    rotate,
    scale,
    shift,
    transformed_accuracy,
    write_results,
)


def lit_pixel(row: int, col: int, n: int = 1) -> torch.Tensor:
    images = torch.zeros(n, 1, 28, 28)
    images[:, 0, row, col] = 1.0
    return images


class BrightestQuadrant(nn.Module):
    """A fixed 'model' whose class is where the ink is: 0 top half, 1 bottom half (+ 8 dummies)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = x[:, 0, :14].sum((1, 2)), x[:, 0, 14:].sum((1, 2))
        return torch.stack([top, bottom, *[torch.full_like(top, -1e9)] * 8], 1)


def fixed_model() -> EvaluationModel:
    model = BrightestQuadrant()
    model.dummy = nn.Linear(1, 1)  # predict_logits finds the device through a parameter
    return EvaluationModel(model, "test", 0.0, 1.0, "test", {})


@pytest.mark.parametrize("k", [1, 3, 6])
def test_shift_moves_a_lit_pixel_by_k_in_four_directions(k: int) -> None:
    moved = shift(lit_pixel(10, 12, n=4), k)
    where = [tuple((moved[i, 0] > 0.5).nonzero()[0].tolist()) for i in range(4)]
    assert where == [(10, 12 + k), (10 + k, 12), (10, 12 - k), (10 - k, 12)]
    assert torch.allclose(moved.sum((1, 2, 3)), torch.ones(4), atol=1e-5)


def test_rotation_by_90_degrees_turns_a_square_top_to_the_right() -> None:
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 5:9, 12:16] = 1.0  # centred on column 13.5 (the image centre), above it
    turned = rotate(image, 90)[0, 0] > 0.5
    assert turned.nonzero()[:, 0].unique().tolist() == [12, 13, 14, 15]
    assert turned.nonzero()[:, 1].unique().tolist() == [19, 20, 21, 22]
    # a centred disc is symmetric: any rotation keeps it (up to interpolation at the rim)
    rows = torch.arange(28.0)[:, None] - 13.5
    cols = torch.arange(28.0)[None, :] - 13.5
    disc = ((rows**2 + cols**2) <= 36).float()[None, None]
    assert torch.equal(rotate(disc, 90) > 0.5, disc > 0.5)


def test_identity_levels_return_the_images_unchanged() -> None:
    images = torch.rand(3, 1, 28, 28)
    for transform, level in [("rotation", 0), ("shift", 0), ("scale", 1.0), ("noise", 0.0),
                             ("thickness", 0)]:
        assert torch.equal(apply_transform(images, transform, level), images)


def test_scale_two_doubles_the_distance_from_the_centre() -> None:
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 5:9, 12:16] = 1.0  # rows 4.5-8.5 are 9 to 5 px above the centre 13.5
    enlarged = scale(image, 2.0)[0, 0] > 0.5
    assert enlarged.nonzero()[:, 0].unique().tolist() == [0, 1, 2, 3]  # 18 to 10 px above
    with pytest.raises(ValueError, match="scale factor must be > 0"):
        scale(image, 0)


def test_noise_is_seeded_clipped_and_its_std_is_the_requested_one() -> None:
    images = torch.full((8, 1, 28, 28), 0.5)
    first, second = add_noise(images, 0.1, seed=3), add_noise(images, 0.1, seed=3)
    assert torch.equal(first, second)
    assert not torch.equal(first, add_noise(images, 0.1, seed=4))
    assert abs(float((first - images).std()) - 0.1) < 0.005
    assert float(add_noise(images, 5.0).max()) <= 1 and float(add_noise(images, 5.0).min()) >= 0
    with pytest.raises(ValueError, match="noise std must be >= 0"):
        add_noise(images, -0.1)


def test_dilation_never_decreases_ink_and_erosion_undoes_a_single_dilation_of_a_pixel() -> None:
    images = torch.rand(4, 1, 28, 28) * (torch.rand(4, 1, 28, 28) > 0.8)
    thick = change_thickness(images, 1)
    assert bool((thick >= images).all())
    assert bool((change_thickness(images, -1) <= images).all())
    pixel = lit_pixel(10, 10)
    assert int((change_thickness(pixel, 1) > 0).sum()) == 9
    assert torch.equal(change_thickness(change_thickness(pixel, 1), -1), pixel)
    with pytest.raises(ValueError, match="whole number"):
        change_thickness(images, 0.5)


def test_unknown_transform_is_named() -> None:
    with pytest.raises(ValueError, match="Unknown transform 'blur'"):
        apply_transform(torch.zeros(1, 1, 28, 28), "blur", 1)


def digits_top_and_bottom(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    labels = torch.arange(n) % 2
    for i in range(n):
        rows = slice(6, 10) if labels[i] == 0 else slice(18, 22)
        images[i, rows, 10:18] = 255
    return images, labels


def test_rotation_of_zero_reproduces_the_plain_accuracy_and_180_flips_every_answer() -> None:
    images, labels = digits_top_and_bottom()
    model = fixed_model()
    assert transformed_accuracy(model, images, labels, "rotation", 0) == len(labels)
    assert transformed_accuracy(model, images, labels, "rotation", 180) == 0
    frame = robustness_curves({"m": model}, images, labels,
                              levels={"rotation": (-180, 0, 180), "shift": (0, 2)})
    assert list(frame.columns) == COLUMNS
    assert frame["accuracy"].tolist() == [0.0, 1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="Unknown transform"):
        robustness_curves({"m": model}, images, labels, levels={"warp": (1,)})


def curves() -> pd.DataFrame:
    rows = [("a", "rotation", level, acc) for level, acc in
            [(-30, 0.90), (-10, 0.985), (0, 0.995), (10, 0.992), (30, 0.96)]]
    rows += [("a", "scale", level, acc) for level, acc in [(0.8, 0.97), (1.0, 0.995), (1.2, 0.985)]]
    return pd.DataFrame([{"model": m, "transform": t, "level": float(lv), "correct": int(a * 1000),
                          "total": 1000, "accuracy": a} for m, t, lv, a in rows])


def test_breaking_point_takes_the_nearest_failing_level_on_either_side() -> None:
    frame = curves()
    assert breaking_point(frame, "a", "rotation", 0.99) == -10
    assert breaking_point(frame, "a", "rotation", 0.95) == -30
    assert breaking_point(frame, "a", "rotation", 0.80) is None
    assert breaking_point(frame, "a", "scale", 0.99) == 1.2  # |log 1.2| < |log 0.8|
    table = breaking_table(frame)
    assert table.loc[table["transform"] == "rotation", "below 95%"].item() == "-30"
    with pytest.raises(ValueError, match="No rows for model 'b'"):
        breaking_point(frame, "b", "rotation", 0.99)


def test_write_results_merges_by_model_and_writes_the_markdown(tmp_path) -> None:
    path = tmp_path / "robustness.csv"
    frame = curves()
    write_results(frame, path)
    other = frame.assign(model="b")
    merged = write_results(other, path)
    assert sorted(merged["model"].unique()) == ["a", "b"]
    again = merge_results(frame.assign(accuracy=0.5), path)
    assert len(again) == len(merged)
    assert set(again.loc[again["model"] == "a", "accuracy"]) == {0.5}
    report = (tmp_path / "robustness.md").read_text()
    assert "| a | 99.50 |" in report and report == markdown_report(pd.read_csv(path))


@pytest.mark.parametrize("argv, message", [
    (["--models", "nope"], "unknown model"),
    (["--limit", "0"], "--limit must be a positive"),
    (["--csv", "out.txt"], "--csv must name a .csv"),
])
def test_bad_arguments_fail_before_any_work(argv, message, capsys) -> None:
    with pytest.raises(SystemExit):
        parse_arguments(["--models", "primary19k", *argv] if argv[0] != "--models" else argv)
    assert message in capsys.readouterr().err


def test_a_missing_checkpoint_is_skipped_by_the_notebook_and_refused_by_the_cli(monkeypatch, capsys):
    from utils.experiments import robustness

    monkeypatch.setitem(robustness.MODEL_SOURCES, "gone", ("../nowhere/model.pth", "original19k"))
    present, absent = robustness.available_models(["primary19k", "gone"])
    assert present == ["primary19k"] and absent == ["gone"]
    with pytest.raises(FileNotFoundError, match="gone"):
        robustness.load_models(["gone"])
    with pytest.raises(SystemExit):
        parse_arguments(["--models", "gone"])
    assert "checkpoint(s) not found: gone" in capsys.readouterr().err


def test_the_original_checkpoint_is_read_only_from_a_path_given_explicitly(tmp_path, capsys):
    """It is not shipped: without its path it is absent for the notebook and refused by the CLI,
    with the option that supplies it; a given path is checked like any checkpoint."""
    from utils.experiments import robustness

    present, absent = robustness.available_models(["primary19k", robustness.ORIGINAL])
    assert present == ["primary19k"] and absent == [robustness.ORIGINAL]
    with pytest.raises(ValueError, match="--original-checkpoint"):
        robustness.load_models([robustness.ORIGINAL])
    with pytest.raises(SystemExit):
        parse_arguments(["--models", robustness.ORIGINAL])
    assert "--original-checkpoint" in capsys.readouterr().err
    nowhere = str(tmp_path / "best_cnn_model.pth")
    with pytest.raises(SystemExit):
        parse_arguments(["--original-checkpoint", nowhere])  # default models + the original
    assert f"checkpoint(s) not found: {robustness.ORIGINAL} ({nowhere})" in capsys.readouterr().err
    assert parse_arguments([]).models == robustness.DEFAULT_MODELS


def test_pipeline_accuracy_applies_the_steps_in_order() -> None:
    from utils.experiments.robustness import pipeline_accuracy

    images, labels = digits_top_and_bottom()
    model = fixed_model()
    assert pipeline_accuracy(model, images, labels, []) == 1.0
    assert pipeline_accuracy(model, images, labels, [("rotation", 180)]) == 0.0
    assert pipeline_accuracy(model, images, labels, [("rotation", 90), ("rotation", 90)]) == 0.0


def test_the_command_line_writes_csv_and_markdown(tmp_path, splits) -> None:
    from utils.experiments.robustness import DEFAULT_LEVELS, main

    path = tmp_path / "rob.csv"
    frame = main(["--models", "compact8k", "--limit", "20", "--csv", str(path)])
    assert len(frame) == sum(len(levels) for levels in DEFAULT_LEVELS.values())
    assert set(frame["total"]) == {20}
    assert pd.read_csv(path)["model"].unique().tolist() == ["compact8k"]
    assert (tmp_path / "rob.md").read_text().startswith("# Robustness")
