"""Knowledge distillation in the engine, and the plateau schedule (notebooks 05 and 07)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.mnist_slices import first_images
from utils.data import MNISTSplits
from utils.distill import Teacher, distillation_loss, ensemble_soft_targets, soft_target_shape
from utils.recipe import TrainConfig, learning_rate_at, lr_schedule, plateau_lr
from utils.train import STATE_FILE, FitResult, fit


@pytest.fixture(scope="module")
def small(splits: MNISTSplits) -> MNISTSplits:
    return first_images(splits, 1024, 300)


def config(**overrides) -> TrainConfig:
    values = {"arch": "micro2k", "epochs": 2, "device": "cpu", "amp": "off",
              "channels_last": "off"}
    return TrainConfig(**{**values, **overrides})


def run(cfg: TrainConfig, splits: MNISTSplits, **kwargs) -> FitResult:
    return fit(cfg, splits, progress=False, log=None, **kwargs)


class Stop(Exception):
    """Raised after the first epoch, to leave a run interrupted with its last.pt."""


def stop_after_first_epoch(cfg: TrainConfig, splits: MNISTSplits, run_dir: Path) -> None:
    def stop(record: dict) -> None:
        if record["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        run(cfg, splits, run_dir=run_dir, on_epoch_end=stop)


@pytest.fixture(scope="module")
def teacher_dir(small: MNISTSplits, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("teacher")
    run(config(arch="tiny4k", epochs=1), small, run_dir=folder)
    return folder


def test_distillation_loss_is_zero_when_the_student_matches_the_teacher() -> None:
    logits = torch.randn(8, 10)
    for temperature in (1.0, 4.0):
        targets = F.softmax(logits / temperature, dim=1)
        assert distillation_loss(logits, targets, temperature).item() == pytest.approx(0, abs=1e-6)
        assert distillation_loss(-logits, targets, temperature).item() > 0.1


def test_teacher_ensemble_averages_probabilities() -> None:
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 10), torch.nn.Linear(4, 10)
    x = torch.randn(5, 4)
    targets = Teacher([a, b], temperature=2.0).soft_targets(x)
    expected = (F.softmax(a(x) / 2, 1) + F.softmax(b(x) / 2, 1)) / 2
    assert torch.allclose(targets, expected)
    assert torch.allclose(targets.sum(1), torch.ones(5))


def test_soft_target_shape_tells_a_label_smoothed_teacher_from_an_informative_one() -> None:
    labels = torch.tensor([4, 4])
    smoothed = torch.full((2, 10), 0.5 / 100).log()  # every wrong class equal, as smoothing asks
    smoothed[:, 4] = math.log(0.955)
    informative = smoothed.clone()
    informative[:, 9] = math.log(0.03)  # a 4 that looks like a 9
    flat = soft_target_shape(ensemble_soft_targets([smoothed], 1.0), labels)
    assert flat == {"true class (%)": 95.5, "largest wrong class (%)": 0.5,
                    "each other wrong class (%)": 0.5, "largest / other wrong (median)": 1.0}
    shaped = soft_target_shape(ensemble_soft_targets([informative], 1.0), labels)
    assert shaped["largest / other wrong (median)"] > 5 and shaped["largest wrong class (%)"] > 2
    # a higher temperature flattens the same teacher towards equal wrong classes
    hot = soft_target_shape(ensemble_soft_targets([informative], 4.0), labels)
    assert 1 < hot["largest / other wrong (median)"] < shaped["largest / other wrong (median)"]
    # an ensemble averages its members' probabilities, as the teacher of a run does
    teacher = Teacher([lambda x: smoothed, lambda x: informative], 2.0)
    assert torch.allclose(teacher.soft_targets(torch.zeros(2, 1)),
                          ensemble_soft_targets([smoothed, informative], 2.0))


def test_distilled_run_is_deterministic_resumable_and_differs_from_plain(small, teacher_dir,
                                                                          tmp_path) -> None:
    cfg = config(teacher=(str(teacher_dir),), distill_weight=0.5)
    first = run(cfg, small, run_dir=tmp_path / "a")
    again = run(cfg, small)
    plain = run(config(), small)
    assert [r["train_loss"] for r in first.history] == [r["train_loss"] for r in again.history]
    assert [r["train_loss"] for r in first.history] != [r["train_loss"] for r in plain.history]

    stop_after_first_epoch(cfg, small, tmp_path / "b")
    assert (tmp_path / "b" / STATE_FILE).is_file()
    resumed = run(cfg, small, run_dir=tmp_path / "b", resume=True)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    saved = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    assert TrainConfig.from_dict(saved["metadata"]["config"]).teacher == (str(teacher_dir),)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"teacher": ("no/such/run",), "distill_weight": 0.5}, "Teacher 'no/such/run' has no model.pt"),
    ({"distill_weight": 0.5}, "needs both a teacher and distill_weight"),
    ({"distill_weight": 1.5}, "distill_weight must be in"),
    ({"distill_temperature": 0.0}, "distill_temperature must be > 0"),
])
def test_bad_distillation_settings_fail_before_work(small, tmp_path, overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        run(config(**overrides), small, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_teacher_with_other_normalisation_is_refused(small, teacher_dir) -> None:
    shifted = replace(small, train_images=(small.train_images // 2).clone())
    with pytest.raises(ValueError, match="normalisation"):
        run(config(teacher=(str(teacher_dir),), distill_weight=0.5), shifted)


def test_plateau_matches_torch_reduce_on_plateau() -> None:
    accs = [0.90, 0.95, 0.95, 0.94, 0.95, 0.95, 0.96, 0.96, 0.96, 0.96, 0.96, 0.955, 0.96, 0.96]
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5,
                                                           patience=3)
    for epoch, acc in enumerate(accs, start=1):
        scheduler.step(acc)
        assert plateau_lr(0.003, accs[:epoch]) == pytest.approx(optimizer.param_groups[0]["lr"])
    assert plateau_lr(0.003, accs) < 0.003  # it did reduce in this history


def test_plateau_schedule_needs_the_validation_history() -> None:
    cfg = config(schedule="plateau", lr=0.003, optimizer="adam")
    assert learning_rate_at(cfg, 25, 10, [0.9, 0.91]) == 0.003
    with pytest.raises(ValueError, match="pass val_accs"):
        learning_rate_at(cfg, 0, 10)
    with pytest.raises(ValueError, match="decided during training"):
        lr_schedule(cfg, 10)


def test_a_distilled_run_records_its_teachers_and_resumes_only_with_them(small, teacher_dir,
                                                                         tmp_path) -> None:
    """A teacher retrained under the same path between two halves of one run would give it two
    teachers; the run records each teacher's sha256 and a resume checks them."""
    import shutil

    from utils.checkpoints import CheckpointError
    from utils.distill import file_sha256

    teacher = tmp_path / "teacher"
    shutil.copytree(teacher_dir, teacher)
    cfg = config(teacher=(str(teacher),), distill_weight=0.5)

    stop_after_first_epoch(cfg, small, tmp_path / "b")
    sha = file_sha256(teacher / "model.pt")
    assert torch.load(tmp_path / "b" / STATE_FILE, weights_only=True)["teachers"] == [
        {"path": str(teacher), "sha256": sha}]
    run(config(arch="tiny4k", epochs=1, seed=9), small, run_dir=teacher)  # retrained in place
    with pytest.raises(CheckpointError, match="learnt from teacher checkpoints with sha256"):
        run(cfg, small, run_dir=tmp_path / "b", resume=True)
    finished = run(cfg, small, run_dir=tmp_path / "c")
    saved = torch.load(tmp_path / "c" / "model.pt", weights_only=True)
    assert saved["metadata"]["teachers"] == [
        {"path": str(teacher), "sha256": file_sha256(teacher / "model.pt")}]
    assert finished.history
