"""Notebook 06's figures: right panels, and the inputs they refuse."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from utils.plots.interpretation import (  # noqa: E402
    plot_channel_statistics,
    plot_effective_receptive_fields,
    plot_feature_maps,
    plot_filters,
    plot_maps_over_digits,
    plot_robustness_curves,
    plot_transform_examples,
)


def visible_axes(fig) -> int:
    return sum(ax.axison for ax in fig.axes)


def test_filter_and_feature_map_grids_have_one_panel_per_kernel_and_channel():
    fig = plot_filters(torch.randn(10, 1, 3, 3))
    assert visible_axes(fig) == 10
    maps = {"a": torch.rand(4, 26, 26), "b": torch.rand(2, 6, 6)}
    fig = plot_feature_maps(torch.zeros(28, 28), maps, channels=3)
    assert visible_axes(fig) == 1 + 3 + 2  # input, 3 channels of a, 2 of b
    plt.close("all")


def test_digit_maps_erf_transforms_and_stats_figures():
    images = torch.zeros(3, 28, 28, dtype=torch.uint8)
    fig = plot_maps_over_digits(images, {"x": torch.randn(3, 28, 28), "y": torch.rand(3, 28, 28)},
                                ["a", "b", "c"], signed=["x"])
    assert len(fig.axes) == 9
    erf = torch.rand(28, 28, dtype=torch.float64)
    fig = plot_effective_receptive_fields({"t": erf, "r": erf}, ((4, 25), (4, 25)), (14.5, 14.5))
    assert len(fig.axes) == 3 and len(fig.axes[0].patches) == 1
    fig = plot_transform_examples({"rotation": [("0", torch.zeros(28, 28))] * 3,
                                   "noise": [("0", torch.zeros(28, 28))] * 2})
    assert visible_axes(fig) == 5
    stats = pd.DataFrame({"layer": ["a", "b"], "size": [26, 6], "fraction_active": [0.5, 0.3],
                          "dead_channels": [0, 2], "channels": [16, 16]})
    assert len(plot_channel_statistics(stats).axes) == 2
    plt.close("all")


def test_robustness_curves_draw_one_line_per_model_and_a_legend_panel():
    rows = [{"model": m, "transform": t, "level": lv, "accuracy": 0.99}
            for m in ("a", "b") for t in ("rotation", "noise") for lv in (0.0, 1.0)]
    fig = plot_robustness_curves(pd.DataFrame(rows), {"rotation": "degrees"},
                                 {"rotation": (-10.0, 10.0)}, (0.99, 0.95))
    assert len(fig.axes[0].lines) == 2 + 2  # two models + two threshold lines
    assert fig.axes[2].get_legend() is not None
    plt.close("all")
