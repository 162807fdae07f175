"""The parameter-validation cell right after each `parameters` cell (notebooks 01-04, 06):
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
    ({"seed": -1}, "seed must be >= 0, got -1"),
    ({"samples_per_class": 0}, "samples_per_class must be >= 1, got 0"),
    ({"samples_per_class": True}, "samples_per_class must be an integer, got True"),
    ({"ink_sample": 2.5}, "ink_sample must be an integer, got 2.5"),
    ({"augment_strength": "2"}, "augment_strength must be a number, got '2'"),
    ({"augment_strength": -1}, "augment_strength must be >= 0, got -1"),
    ({"figures_dir": 3}, "figures_dir must be None or a folder path"),
])
def test_notebook01_rejects_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message):
        run_parameters("01_data_exploration.ipynb", **overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"models": "primary19k"}, "models must be a list of names"),
    ({"models": []}, "models must be a list of names"),
    ({"models": ["primary19k", 3]}, "models must be a list of names"),
    ({"input_size": 0}, "input_size must be an integer >= 28"),
    ({"input_size": 28.0}, "input_size must be an integer >= 28"),
    ({"mnist_root": 1}, "mnist_root must be None or a folder path"),
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


@pytest.mark.parametrize("notebook", ["01_data_exploration.ipynb", "02_architecture_design.ipynb",
                                      "03_training.ipynb", "04_error_analysis.ipynb",
                                      "06_inside_the_model.ipynb"])
def test_defaults_pass(notebook):
    run_parameters(notebook)
