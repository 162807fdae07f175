"""The parameter-validation cell right after each `parameters` cell (notebooks 01-07):
a wrong value fails there, before any work, with a message naming the parameter.

The two cells are run as plain Python (no kernel, no torch), exactly as committed.
"""

from __future__ import annotations

import nbformat
import pytest

from utils.paths import REPO_ROOT


def run_parameters(notebook: str, **overrides: object) -> None:
    nb = nbformat.read(REPO_ROOT / "notebooks" / notebook, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(nb.cells[index].source, namespace)
    namespace.update(overrides)
    exec(nb.cells[index + 1].source, namespace)


@pytest.mark.parametrize("overrides, message", [
    ({"seed": None}, "seed must be an integer, got None"),
    ({"seed": -1}, "seed must be at least 0, got -1"),
    ({"samples_per_class": 0}, "samples_per_class must be at least 1, got 0"),
    ({"samples_per_class": True}, "samples_per_class must be an integer, got True"),
    ({"ink_sample": 2.5}, "ink_sample must be an integer, got 2.5"),
    ({"augment_strength": "2"}, "augment_strength must be a number, got '2'"),
    ({"augment_strength": -1}, "augment_strength must be at least 0, got -1"),
    ({"figures_dir": 3}, "figures_dir must be a non-empty string or None"),
])
def test_notebook01_rejects_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("01_data_exploration.ipynb", **overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"models": "primary19k"}, "models must be a non-empty list of names"),
    ({"models": []}, "models must be a non-empty list of names"),
    ({"models": ["primary19k", 3]}, "models must be a non-empty list of names"),
    ({"input_size": 0}, "input_size must be at least 28, got 0"),
    ({"input_size": 28.0}, "input_size must be an integer, got 28.0"),
    ({"mnist_root": 1}, "mnist_root must be a non-empty string or None"),
])
def test_notebook02_rejects_bad_parameters_before_torch(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("02_architecture_design.ipynb", **overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"seed": None}, "seed must be an integer, got None"),
    ({"arch": "primary20k"}, "arch must be one of"),
    ({"epochs": 0}, "epochs must be at least 1, got 0"),
    ({"lr": 0}, "lr must be greater than 0"),
    ({"train_subset": 0}, "train_subset must be at least 1"),
    ({"retrain": "yes"}, "retrain must be True or False"),
    ({"output_dir": 5}, "output_dir must be a non-empty string or None"),
])
def test_notebook03_rejects_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("03_training.ipynb", **overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"split": "tset"}, "split must be one of"),
    ({"split": "test"}, "split must be one of"),  # the test split is reported once, in section 8
    ({"arch": "nope"}, "arch must be one of"),
    ({"grid_size": 0}, "grid_size must be at least 1"),
    ({"checkpoint": 3}, "checkpoint must be a non-empty string or None"),
])
def test_notebook04_rejects_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("04_error_analysis.ipynb", **overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"curves_model": "tiny4k"}, "curves_model must be one of"),
    ({"curves_seed": -1}, "curves_seed must be at least 0, got -1"),
    ({"teacher_digit": 1.5}, "teacher_digit must be an integer"),
    ({"recompute": "no"}, "recompute must be True or False"),
    ({"recompute_models": "sep4k"}, "recompute_models must be a non-empty list"),
    ({"recompute_models": ["sep5k"]}, "recompute_models entry must be one of"),
    ({"recompute_variants": ["noaug"]}, "recompute_variants entry must be one of"),
    ({"recompute_seeds": []}, "recompute_seeds must be a non-empty list"),
    ({"recompute_seeds": [0, 0]}, "recompute_seeds repeats a seed"),
    ({"recompute_seeds": [-1]}, "recompute_seeds entry must be at least 0"),
    ({"results_dir": ""}, "results_dir must be a folder path"),
    ({"figures_dir": 3}, "figures_dir must be a non-empty string or None"),
])
def test_notebook07_rejects_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("07_how_small.ipynb", **overrides)


@pytest.mark.parametrize("notebook", ["01_data_exploration.ipynb", "02_architecture_design.ipynb",
                                      "03_training.ipynb", "04_error_analysis.ipynb",
                                      "05_ablations.ipynb", "06_inside_the_model.ipynb",
                                      "07_how_small.ipynb"])
def test_defaults_pass(notebook):
    run_parameters(notebook)


@pytest.mark.parametrize("overrides, message", [
    ({"runs_root": None}, "runs_root must be a non-empty string, got None"),
    ({"live_variant": "nobn"}, "live_variant must be one of"),
    ({"live_seed": -1}, "live_seed must be at least 0, got -1"),
    ({"live_epochs": 0}, "live_epochs must be at least 1"),
    ({"live_train_subset": "5000"}, "live_train_subset must be an integer"),
    ({"device": "gpu"}, "device must be one of"),
    ({"figures_dir": 3}, "figures_dir must be a non-empty string or None"),
])
def test_notebook05_rejects_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("05_ablations.ipynb", **overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"checkpoint": None}, "checkpoint must be a non-empty string, got None"),
    ({"split": "test"}, r"split must be one of \['val', 'train'\], got 'test'"),
    ({"show_test_mistakes": 1}, "show_test_mistakes must be True or False"),
    ({"erf_images": 0}, "erf_images must be at least 1, got 0"),
    ({"topk": 785}, "topk must be at most 784, got 785"),
    ({"robustness_models": ["primary19k", "resnet"]}, r"robustness_models has unknown names \['resnet'\]"),
    ({"robustness_models": []}, "robustness_models must be a non-empty list of names"),
    ({"recompute": "no"}, "recompute must be True or False"),
])
def test_notebook06_rejects_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("06_inside_the_model.ipynb", **overrides)
