"""Error-analysis helpers on tiny synthetic predictions whose answers were worked out by hand."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from utils.checkpoints import load_evaluation_model, save_model_checkpoint  # noqa: E402
from utils.error_analysis import (  # noqa: E402
    compare_mistakes,
    confusion_matrix,
    misclassified_examples,
    most_confused_pairs,
    per_class_metrics,
    predict,
    predictions_from_logits,
    row_normalize,
)
from utils.evaluate import predict_logits  # noqa: E402
from utils.models import ORIGINAL_NORMALIZATION, build_model  # noqa: E402
from utils.paths import REPO_ROOT, resolve_repo_path  # noqa: E402
from utils.plots.error_analysis import plot_digit_grid, plot_misclassified_grid  # noqa: E402
from utils.stats import calibration_bins, expected_calibration_error, wilson_interval  # noqa: E402

# A 3-class toy problem, worked on paper:
#   true 0: predicted 0, 0, 1      -> row [2, 1, 0]
#   true 1: predicted 1, 1         -> row [0, 2, 0]
#   true 2: predicted 2, 2, 0, 0   -> row [2, 0, 2]
# Column totals (how often each class is predicted): [4, 3, 2].
TOY_LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
TOY_PREDICTED = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 0])


def test_confusion_matrix_matches_hand_count() -> None:
    matrix = confusion_matrix(TOY_LABELS, TOY_PREDICTED, num_classes=3)
    assert matrix.tolist() == [[2, 1, 0], [0, 2, 0], [2, 0, 2]]
    assert matrix.dtype == torch.int64


def test_row_normalize_gives_fractions_of_each_true_class() -> None:
    matrix = torch.tensor([[2, 1, 0], [0, 0, 0], [2, 0, 2]])
    normalized = row_normalize(matrix)
    expected = [[2 / 3, 1 / 3, 0], [0, 0, 0], [0.5, 0, 0.5]]  # an empty row stays zeros, not NaN
    assert torch.allclose(normalized, torch.tensor(expected, dtype=torch.float64))


def test_per_class_metrics_match_hand_computation() -> None:
    table = per_class_metrics(TOY_LABELS, TOY_PREDICTED, num_classes=3)
    # precision = diagonal / column total, recall = diagonal / row total
    assert table["precision"].tolist() == pytest.approx([2 / 4, 2 / 3, 2 / 2])
    assert table["recall"].tolist() == pytest.approx([2 / 3, 2 / 2, 2 / 4])
    assert table["f1"].tolist() == pytest.approx([4 / 7, 4 / 5, 2 / 3])
    assert table["support"].tolist() == [3, 2, 4]
    assert table.index.name == "digit"


def test_class_never_predicted_scores_zero_not_nan() -> None:
    # Class 2 is never predicted (precision 0/0) and class 3 never occurs at all.
    table = per_class_metrics(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]), num_classes=4)
    assert not table.isna().any().any()
    assert table.loc[2, ["precision", "recall", "f1"]].tolist() == [0.0, 0.0, 0.0]
    assert table.loc[3].tolist() == [0.0, 0.0, 0.0, 0]
    assert table.loc[1, "precision"] == pytest.approx(0.5)


def test_most_confused_pairs_sorted_by_count_then_class() -> None:
    matrix = torch.tensor([[5, 1, 3], [3, 4, 0], [0, 1, 9]])
    pairs = most_confused_pairs(matrix)
    assert pairs.values.tolist() == [[0, 2, 3], [1, 0, 3], [0, 1, 1], [2, 1, 1]]
    assert list(pairs.columns) == ["true", "predicted", "count"]
    assert most_confused_pairs(matrix, top=2)["count"].tolist() == [3, 3]


def test_predictions_from_logits_and_log_softmax_agree() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 4.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    preds = predictions_from_logits(logits, labels)
    assert preds.predicted.tolist() == [0, 2, 1]
    assert preds.correct.tolist() == [True, False, True]
    assert preds.num_errors == 1
    assert torch.allclose(preds.probabilities.sum(1), torch.ones(3))
    expected_first = math.exp(2) / (math.exp(2) + math.exp(1) + 1)
    assert float(preds.confidence[0]) == pytest.approx(expected_first, rel=1e-6)
    # original19k outputs log-softmax: softmax of log-probabilities gives the same probabilities
    from_log = predictions_from_logits(torch.log_softmax(logits, 1), labels)
    assert torch.allclose(from_log.probabilities, preds.probabilities, atol=1e-6)
    assert preds.accuracy_ci().correct == 2


def test_predict_runs_the_model_with_normalisation() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    images = torch.randint(0, 256, (7, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (7,))
    preds = predict(model, images, labels, mean=0.1, std=0.3, batch_size=3)
    logits = predict_logits(model, images, 0.1, 0.3)
    assert preds.predicted.tolist() == logits.argmax(1).tolist()
    with pytest.raises(ValueError, match=r"\[N, 28, 28\]"):
        predict(model, images.reshape(7, 784), labels, 0.1, 0.3)
    with pytest.raises(ValueError, match="images has 7.*labels has 6"):
        predict(model, images, labels[:6], 0.1, 0.3)


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    # 4 answers at 0.75 with 3 right, 20 at 0.95 with 19 right: each bin is right as often as it claims.
    confidence = torch.tensor([0.75] * 4 + [0.95] * 20)
    correct = torch.tensor([True, True, True, False] + [True] * 19 + [False])
    assert expected_calibration_error(confidence, correct, n_bins=10) == pytest.approx(0, abs=1e-6)


def test_ece_matches_hand_computation() -> None:
    # bins of width 0.1: (0.9,1] holds 0.95 (right) and 0.95 (wrong): gap 0.45, weight 2/4
    # (0.8,0.9] holds 0.85 (right): gap 0.15, weight 1/4; (0.5,0.6] holds 0.55 (right): gap 0.45
    confidence = torch.tensor([0.95, 0.95, 0.85, 0.55])
    correct = torch.tensor([True, False, True, True])
    expected = 0.5 * 0.45 + 0.25 * 0.15 + 0.25 * 0.45
    assert expected_calibration_error(confidence, correct, n_bins=10) == pytest.approx(expected)


def test_calibration_bins_report_count_confidence_accuracy() -> None:
    confidence = torch.tensor([0.0, 0.5, 0.45, 1.0, 0.99])
    correct = torch.tensor([False, True, False, True, False])
    bins = calibration_bins(confidence, correct, n_bins=4)  # edges 0, .25, .5, .75, 1
    assert bins["count"].tolist() == [1, 2, 0, 2]  # 0.5 sits in (0.25, 0.5]; 1.0 in the last bin
    assert bins.loc[1, "mean_confidence"] == pytest.approx(0.475)
    assert bins.loc[1, "accuracy"] == pytest.approx(0.5)
    assert bins.loc[3, "accuracy"] == pytest.approx(0.5)
    assert math.isnan(bins.loc[2, "accuracy"]) and math.isnan(bins.loc[2, "mean_confidence"])
    assert bins["bin_low"].tolist() == pytest.approx([0, 0.25, 0.5, 0.75])


def test_ece_is_small_when_correctness_is_drawn_from_the_confidence() -> None:
    generator = torch.Generator().manual_seed(0)
    confidence = 0.5 + 0.5 * torch.rand(200_000, generator=generator)
    correct = torch.rand(200_000, generator=generator) < confidence
    assert expected_calibration_error(confidence, correct, n_bins=10) < 0.01
    overconfident = expected_calibration_error(confidence.clamp(max=0.9) + 0.1, correct)
    assert overconfident > 0.05


def test_misclassified_examples_most_confident_first() -> None:
    probabilities = torch.tensor(
        [
            [0.9, 0.1, 0.0],  # right
            [0.2, 0.7, 0.1],  # wrong (true 0), confidence 0.7
            [0.05, 0.05, 0.9],  # wrong (true 1), confidence 0.9
            [0.6, 0.3, 0.1],  # wrong (true 2), confidence 0.6
            [0.2, 0.1, 0.7],  # wrong (true 0), confidence 0.7: tie with row 1, larger index
        ]
    )
    labels = torch.tensor([0, 0, 1, 2, 0])
    table = misclassified_examples(labels, probabilities.argmax(1), probabilities)
    assert table["index"].tolist() == [2, 1, 4, 3]
    assert table["confidence"].tolist() == pytest.approx([0.9, 0.7, 0.7, 0.6])
    assert table["true"].tolist() == [1, 0, 0, 2]
    assert table["predicted"].tolist() == [2, 1, 2, 0]
    assert table["true_probability"].tolist() == pytest.approx([0.05, 0.2, 0.2, 0.1])


def test_compare_mistakes_splits_shared_and_own_errors() -> None:
    correct_a = torch.tensor([True, False, False, True, False])
    correct_b = torch.tensor([True, False, True, False, False])
    comparison = compare_mistakes(correct_a, correct_b)
    assert comparison.both_wrong.tolist() == [1, 4]
    assert comparison.only_a_wrong.tolist() == [2]
    assert comparison.only_b_wrong.tolist() == [3]
    assert comparison.counts() == {"both wrong": 2, "only A wrong": 1, "only B wrong": 1}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1, 1])),
         "labels has 2.*predicted has 3"),
        (lambda: confusion_matrix(torch.tensor([[0, 1]]), torch.tensor([0, 1])), "1-D"),
        (lambda: confusion_matrix(torch.tensor([0, 10]), torch.tensor([0, 1])), "0..9"),
        (lambda: confusion_matrix(torch.tensor([0.0, 1.0]), torch.tensor([0, 1])), "integer"),
        (lambda: predictions_from_logits(torch.zeros(4), torch.zeros(4, dtype=torch.long)),
         r"2-D tensor \[N, classes\]"),
        (lambda: predictions_from_logits(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long)),
         "logits has 4.*labels has 5"),
        (lambda: expected_calibration_error(torch.tensor([0.5, 2.0]), torch.tensor([True, True])),
         "probabilities, not logits"),
        (lambda: expected_calibration_error(torch.tensor([0.5]), torch.tensor([1])), "boolean"),
        (lambda: calibration_bins(torch.tensor([0.5]), torch.tensor([True, False])),
         "confidence has 1.*correct has 2"),
        (lambda: calibration_bins(torch.tensor([0.5]), torch.tensor([True]), n_bins=0), "n_bins"),
        (lambda: compare_mistakes(torch.tensor([True]), torch.tensor([True, False])),
         "correct_a has 1.*correct_b has 2"),
        (lambda: misclassified_examples(torch.tensor([0]), torch.tensor([0]), torch.zeros(3)),
         r"\[N, classes\]"),
        (lambda: most_confused_pairs(torch.zeros(2, 3)), "square"),
        (lambda: row_normalize(torch.zeros(3)), "square"),
    ],
)
def test_invalid_inputs_raise_clear_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_wilson_interval_sanity() -> None:
    for correct, total in [(0, 10), (3, 10), (10, 10), (9939, 10000)]:
        ci = wilson_interval(correct, total)
        assert 0.0 <= ci.low <= ci.accuracy <= ci.high <= 1.0
        assert ci.errors == total - correct
    small, large = wilson_interval(99, 100), wilson_interval(9900, 10000)
    assert (large.high - large.low) < (small.high - small.low)
    # symmetric: k successes out of n mirror n - k successes
    ci, mirror = wilson_interval(7, 50), wilson_interval(43, 50)
    assert ci.low == pytest.approx(1 - mirror.high) and ci.high == pytest.approx(1 - mirror.low)
    with pytest.raises(ValueError, match="total must be positive"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="between 0 and 5"):
        wilson_interval(6, 5)


def test_resolve_repo_path_from_repo_root_and_notebooks(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_repo_path("utils/evaluate.py") == REPO_ROOT / "utils" / "evaluate.py"
    monkeypatch.chdir(REPO_ROOT / "utils")
    assert resolve_repo_path("../utils/evaluate.py") == REPO_ROOT / "utils" / "evaluate.py"
    assert resolve_repo_path(tmp_path / "x.pt") == tmp_path / "x.pt"


def test_load_evaluation_model_ours_and_bare(tmp_path) -> None:
    model = build_model("micro2k")
    ours = tmp_path / "run" / "model.pt"
    save_model_checkpoint(ours, model, "micro2k", {"normalization": {"mean": 0.2, "std": 0.4}})
    loaded = load_evaluation_model(ours)
    assert (loaded.arch, loaded.mean, loaded.std) == ("micro2k", 0.2, 0.4)
    assert "run" in loaded.label and not loaded.model.training

    bare = tmp_path / "bare.pth"
    torch.save(model.state_dict(), bare)
    loaded_bare = load_evaluation_model(bare, arch="micro2k")
    assert (loaded_bare.mean, loaded_bare.std) == ORIGINAL_NORMALIZATION
    assert loaded_bare.label == "micro2k (bare.pth)"
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_evaluation_model(tmp_path / "missing.pt")


def test_misclassified_grid_draws_one_panel_per_mistake() -> None:
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    probabilities = torch.softmax(torch.randn(5, 10, generator=torch.Generator().manual_seed(1)), 1)
    labels = (probabilities.argmax(1) + torch.tensor([1, 0, 1, 1, 0])) % 10  # 3 mistakes
    table = misclassified_examples(labels, probabilities.argmax(1), probabilities)
    fig = plot_misclassified_grid(images, table, limit=24, ncols=2)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 3
    assert drawn[0].get_title().startswith(f"#{table['index'][0]} true {table['true'][0]}")
    plt.close(fig)
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plot_digit_grid(images[:2], ["a"])
