"""The baselines without convolutions: their models, the command that trains them through the
sweep, and the committed runs and tables that notebook 02b reads."""

from __future__ import annotations

import json

import pytest

from utils.experiments.baselines import (
    BASELINE_CSV,
    BASELINE_RUNS,
    BASELINE_VARIANTS_CSV,
    DEFAULT_SEEDS,
    VARIANTS,
    chosen_by_validation,
    hardware,
    plot_baseline_frontier,
    read_baselines,
    sweep_arguments,
)
from utils.experiments.frontier import read_sweep_csv
from utils.experiments.sweep import CONTROL, plan_runs, run_folder
from utils.models import BASELINE_MODELS, build_model, count_parameters
from utils.paths import RESULTS_DIR
from utils.recipe import TrainConfig

# The specification (not read from the code under test): logistic regression is 784*10 + 10.
PARAMETERS = {"logreg8k": 7_850, "mlp19k": 19_090}


@pytest.mark.parametrize("name", BASELINE_MODELS)
def test_baselines_have_their_parameter_counts_and_no_convolution(name: str) -> None:
    model = build_model(name)
    assert count_parameters(model) == PARAMETERS[name]
    assert not any("Conv" in type(m).__name__ for m in model.modules())


def test_sweep_arguments_change_only_models_seeds_variant_and_root(tmp_path) -> None:
    argv = sweep_arguments([0, 4], tmp_path, None, tables_only=False, variant="noaug")
    assert argv == ["--models", *BASELINE_MODELS, "--seeds", "0", "4", "--variant", "noaug",
                    "--runs-root", str(tmp_path), "--no-progress"]
    assert sweep_arguments([1], tmp_path, "/data", True)[-3:] == ["--mnist-root", "/data",
                                                                  "--tables-only"]


@pytest.mark.parametrize(("path", "variant"), [(BASELINE_CSV, CONTROL),
                                                (BASELINE_VARIANTS_CSV, "noaug")])
def test_committed_tables_hold_every_baseline_over_the_default_seeds(path, variant) -> None:
    rows = read_baselines(path)
    assert sorted(row["model"] for row in rows) == sorted(BASELINE_MODELS)
    for row in rows:
        assert row["variant"] == variant
        assert row["seeds"] == len(DEFAULT_SEEDS) and row["epochs"] == 15
        assert row["params"] == PARAMETERS[row["model"]]
        assert row["test_min"] <= row["test_mean"] <= row["test_max"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("arch", BASELINE_MODELS)
@pytest.mark.parametrize("seed", DEFAULT_SEEDS)
def test_committed_runs_were_made_by_the_sweeps_recipe(arch: str, seed: int, variant: str) -> None:
    """Each committed run's settings are those the sweep plans for it: the CNNs' recipe."""
    folder = run_folder(BASELINE_RUNS, arch, seed, variant)
    made = TrainConfig.from_dict(json.loads((folder / "run.json").read_text())["config"])
    (planned,) = plan_runs([arch], [seed], variant, None, "auto")
    assert made == planned.config
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["arch"], metrics["seed"], metrics["variant"]) == (arch, seed, variant)


def test_reading_the_cnns_table_as_baselines_is_refused() -> None:
    with pytest.raises(ValueError, match="not baselines"):
        read_baselines(RESULTS_DIR / "sweep.csv")


def test_the_recipe_is_chosen_on_validation_never_on_test() -> None:
    control = {"model": "mlp19k", "arch": "mlp19k", "val_mean": 96.0, "test_mean": 96.0}
    noaug = {"model": "mlp19k", "arch": "mlp19k-noaug", "val_mean": 95.0, "test_mean": 97.0}
    assert chosen_by_validation([noaug, control])["mlp19k"] is control


def test_hardware_names_the_device_cpu_and_numeric_path() -> None:
    text = hardware(BASELINE_RUNS, "logreg8k")
    assert text.startswith("cpu (") and "forward pass" in text


def test_frontier_draws_every_cnn_and_baseline_row() -> None:
    import matplotlib.pyplot as plt

    cnn_rows = read_sweep_csv(RESULTS_DIR / "sweep.csv")
    rows = read_baselines(BASELINE_CSV) + read_baselines(BASELINE_VARIANTS_CSV)
    fig = plot_baseline_frontier(cnn_rows, rows, chosen_by_validation(rows))
    try:
        (ax,) = fig.axes
        assert len(ax.containers) == len(cnn_rows) + len(rows)  # one error bar per row
        labels = {text.get_text().split()[0] for text in ax.texts}
        assert labels == {row["arch"] for row in cnn_rows + rows}
    finally:
        plt.close(fig)
