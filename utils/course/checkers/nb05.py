"""Notebook 05 (ablations): references from the committed ablation runs (validation only)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import torch

from utils.course.checkers import reference
from utils.course.checkers.core import (
    check_number,
    passed,
    register,
    require_answer,
    require_int,
    require_number,
    wrong,
)
from utils.experiments.ablations import checked_predictions, learned, on_shared_seeds
from utils.stats import fisher_exact, mcnemar_exact, paired_t_statistic, pooled_sd


def val_by_seed(rows: Sequence[dict[str, Any]], variant: str) -> dict[int, float]:
    """Validation accuracy (points) of each seed of ``variant``."""
    found = {int(r["seed"]): 100 * float(r["val_acc"]) for r in rows if r["variant"] == variant}
    if not found:
        raise ValueError(f"No finished runs of {variant!r} in the ablation table.")
    return found


def paired_diffs(rows: Sequence[dict[str, Any]], a: str, b: str) -> list[float]:
    """``a`` minus ``b`` per seed both ran, in seed order."""
    va, vb = val_by_seed(rows, a), val_by_seed(rows, b)
    return [va[s] - vb[s] for s in sorted(set(va) & set(vb))]


T_PAIR = ("aug2", "aug0.5")  # not compared with each other anywhere in the notebook


@register("05.1")
def paired_t(given: Any, runs_root: Any = None) -> None:
    """Paired t statistic of aug2 − aug0.5 over seeds, to 0.05."""
    rows = reference.ablation_rows(runs_root)
    diffs = paired_diffs(rows, *T_PAIR)
    expected = paired_t_statistic(diffs)
    mean, n = statistics.fmean(diffs), len(diffs)
    va = list(val_by_seed(rows, T_PAIR[0]).values())
    vb = list(val_by_seed(rows, T_PAIR[1]).values())
    welch = (statistics.fmean(va) - statistics.fmean(vb)) / math.sqrt(
        statistics.variance(va) / len(va) + statistics.variance(vb) / len(vb))
    slips = [
        (-expected, "the sign is flipped: the question asks for aug2 minus aug0.5."),
        (mean / (statistics.pstdev(diffs) / math.sqrt(n)), "the sd divides by n; a sample sd "
                                                           "divides by n − 1."),
        (mean / statistics.stdev(diffs), "that is mean / sd: divide by the standard error, "
                                         "sd / √n."),
        (welch, "that is an unpaired (Welch) t; pair the runs by seed."),
        (paired_t_statistic(paired_diffs(rows, T_PAIR[0], "control")),
         "that is aug2 against the control, printed in section 4."),
    ]
    check_number(require_number(given, "05.1", "the t statistic"), expected, "05.1",
                 "the paired t statistic", abs_tol=0.05, slips=slips)


def mean_seconds(rows: Sequence[dict[str, Any]], variant: str) -> float:
    seconds = [float(r["train_seconds"]) for r in rows if r["variant"] == variant]
    if not seconds:
        raise ValueError(f"No finished runs of {variant!r} in the ablation table.")
    return statistics.fmean(seconds)


SLOW, FAST = "bs64", "bs512"


@register("05.2")
def speedup(given: Any, runs_root: Any = None) -> None:
    """How many times faster per run bs512 was than bs64, to 0.5% (the table's seconds are
    rounded to whole seconds, which moves the ratio by more)."""
    rows = reference.ablation_rows(runs_root)
    slow, fast = mean_seconds(rows, SLOW), mean_seconds(rows, FAST)
    slips = [
        (fast / slow, "that is the inverse: how much slower, not how many times faster."),
        (round(slow) / round(fast), "that uses the rounded seconds printed in the tables; "
                                    "compute from rows."),
        (mean_seconds(rows, "control") / fast, "that is bs512 against the control (batch 128); "
                                               "the question asks about batch 64."),
        (512 / 64, "that is the ratio of the steps; measure the time."),
    ]
    check_number(require_number(given, "05.2", "the speed-up"), slow / fast, "05.2",
                 f"the speed-up of {FAST} over {SLOW}", rel_tol=0.001, slips=slips)


MCNEMAR_PAIR, MCNEMAR_SEED = ("aug0", "aug2"), 2


def pair_p(runs_root: Any, a: str, b: str, seeds: Sequence[int],
           val_labels: torch.Tensor) -> float:
    """Exact McNemar p of ``a`` against ``b``, counting discordant images over ``seeds``."""
    only_a = only_b = 0
    for seed in seeds:
        right_a = checked_predictions(runs_root, a, seed, val_labels) == val_labels
        right_b = checked_predictions(runs_root, b, seed, val_labels) == val_labels
        only_a += int((right_a & ~right_b).sum())
        only_b += int((~right_a & right_b).sum())
    return mcnemar_exact(only_a, only_b).p_value


@register("05.3")
def seed_mcnemar(given: Any, runs_root: Any = None, mnist_root: Any = None) -> None:
    """Exact McNemar p-value of two fixed networks, aug0 and aug2 of seed 2, on the same
    validation images."""
    root = reference.ablation_root(runs_root)
    labels = reference.splits(mnist_root).val_labels
    a, b = MCNEMAR_PAIR
    rows = reference.ablation_rows(runs_root)
    seeds = sorted(set(val_by_seed(rows, a)) & set(val_by_seed(rows, b)))  # both finished
    expected = pair_p(root, a, b, [MCNEMAR_SEED], labels)
    value = require_number(given, "05.3", "the p-value")
    slips = [
        (1.0, "p = 1 means no discordant difference at all: are both predictions from the "
              "same network?"),
        (pair_p(root, a, b, seeds, labels), "that pools the discordant images of all seeds: "
                                            "count them for one seed only (two fixed networks)."),
        *[(pair_p(root, a, b, [s], labels), f"that is seed {s}; the question asks about "
                                            f"seed {MCNEMAR_SEED}.")
          for s in seeds if s != MCNEMAR_SEED],
        *[(pair_p(root, "control", v, [MCNEMAR_SEED], labels), f"that compares {v} with the "
                                                               "control; compare aug0 with aug2.")
          for v in MCNEMAR_PAIR],
        (round(expected, 2 - int(math.floor(math.log10(abs(expected))))),
         "that is rounded; give the p-value as computed."),
    ]
    check_number(value, expected, "05.3", f"the McNemar p-value of seed {MCNEMAR_SEED}",
                 rel_tol=1e-6, abs_tol=1e-12, slips=slips)


PEAK_LRS = {"lr0.03": 0.03, "lr0.05": 0.05, "control": 0.1, "lr0.2": 0.2, "lr0.4": 0.4}
WITHIN_PP = 0.05


@register("05.4")
def peak_lr_choice(given: Any, runs_root: Any = None) -> None:
    """The smallest peak LR whose mean validation accuracy, over the seeds every rate ran, is
    within 0.05 points of the best."""
    require_answer(given, "05.4")
    rows = on_shared_seeds(reference.ablation_rows(runs_root), PEAK_LRS)
    means = {lr: statistics.fmean(val_by_seed(rows, v).values()) for v, lr in PEAK_LRS.items()}
    if not isinstance(given, int | float) or isinstance(given, bool) or given not in means:
        raise wrong("05.4", f"choose one of the measured peak LRs {sorted(means)}, "
                            f"got {given!r}.")
    best = max(means.values())
    good = [lr for lr, mean in means.items() if best - mean <= WITHIN_PP]
    if given not in good:
        raise wrong("05.4", f"peak LR {given} is more than {WITHIN_PP} points below the best "
                            "mean validation accuracy.")
    if given != min(good):
        raise wrong("05.4", f"peak LR {given} is within {WITHIN_PP} points of the best, but a "
                            "smaller rate is too: the exercise prefers the smallest.")
    passed("05.4", f"{means[given]:.2f}% mean validation accuracy")


SCHEDULE = ("constant-lr0.1", "constant-lr0.02", "adam-plateau")
PLANNING_SEEDS = (0, 1, 2)  # the seeds that existed when the extra seeds were planned
EFFECT = 0.2
Z_ALPHA, Z_POWER = 1.959964, 0.841621


def seeds_formula(sd: float, effect: float, square: bool = True, power_term: bool = True) -> float:
    """((1.96 + 0.84) * sd / effect)**2 and the two usual slips (no square, no power term)."""
    ratio = (Z_ALPHA + (Z_POWER if power_term else 0.0)) * sd / effect
    return ratio * ratio if square else ratio


@register("05.7")
def seeds_needed(given: Any, runs_root: Any = None) -> None:
    """Seeds per variant to detect 0.2 points with 80% power at 5%, from the pooled SD of the
    schedule variants' paired differences over the planning seeds; names the usual slip
    without the count."""
    value = require_int(given, "05.7", "the number of seeds")
    rows = [r for r in reference.ablation_rows(runs_root) if int(r["seed"]) in PLANNING_SEEDS]
    sd = pooled_sd([paired_diffs(rows, v, "control") for v in SCHEDULE])
    exact = seeds_formula(sd, EFFECT)
    if value == math.ceil(exact):
        passed("05.7")
        return
    accuracy_sd = pooled_sd([list(val_by_seed(rows, v).values()) for v in SCHEDULE])
    slips = [
        (math.ceil(seeds_formula(accuracy_sd, EFFECT)),
         "uses the seed-to-seed SD of the accuracies; the paired test works on the "
         "differences (variant − control on the same seed), whose SD is what matters"),
        (math.ceil(seeds_formula(sd, EFFECT, square=False)),
         "looks like (z-sum · sd / effect) without the square: n grows with its square"),
        (math.ceil(seeds_formula(sd, EFFECT, power_term=False)),
         "leaves out the power term (0.84 for 80%): that n detects the effect only about "
         "half of the time"),
        (math.floor(exact), "is rounded down: round up, or the design falls short of 80%"),
    ]
    matching = [why for slip, why in slips if slip == value]
    if matching:
        raise wrong("05.7", f"{value} {'; or it '.join(matching)}.")
    raise wrong("05.7", f"{value} seeds is too {'many' if value > exact else 'few'}.")


NOBN_RATES = ("nobn-lr0.1", "nobn-lr0.03", "nobn-lr0.01")  # the rates below the one that never learns


def learned_counts(rows: Sequence[dict[str, Any]], variants: Sequence[str]) -> list[int]:
    """[runs that learned, runs that did not] over every seed of ``variants``."""
    runs = [r for r in rows if r["variant"] in variants]
    if not runs:
        raise ValueError(f"No finished runs of {', '.join(variants)} in the ablation table.")
    k = sum(1 for r in runs if learned(float(r["val_acc"])))
    return [k, len(runs) - k]


def one_tail(table: list[list[int]]) -> float:
    """P(as few or fewer runs of the first row learn), margins fixed: the one-sided slip."""
    (a, b), (c, d) = table
    row1, col1, n = a + b, a + c, a + b + c + d
    lowest = max(0, row1 + col1 - n)
    return sum(math.comb(col1, x) * math.comb(n - col1, row1 - x)
               for x in range(lowest, a + 1)) / math.comb(n, row1)


@register("05.8")
def learned_by_batchnorm(given: Any, runs_root: Any = None) -> None:
    """Two-sided Fisher p of learned-or-not: every control run against every no-BatchNorm run
    at the three lower rates pooled (all seeds, both machines)."""
    rows = reference.ablation_rows(runs_root)
    control, plain = learned_counts(rows, ("control",)), learned_counts(rows, NOBN_RATES)
    expected = fisher_exact([control, plain])
    with_top = learned_counts(rows, (*NOBN_RATES, "nobn-lr0.3"))
    slips = [
        (fisher_exact([control, with_top]), "that pools nobn-lr0.3 too; the question asks for "
                                            "the three lower rates, where a run can learn."),
        (one_tail([plain, control]), "that is one tail; the question asks for the two-sided p."),
        (fisher_exact([[control[0], sum(control)], [plain[0], sum(plain)]]),
         "the table's second column holds totals; it must count the runs that did not learn."),
        (fisher_exact([control, learned_counts(rows, NOBN_RATES[:1])]),
         "that is peak rate 0.1 alone; pool the three lower rates."),
    ]
    check_number(require_number(given, "05.8", "the p-value"), expected, "05.8",
                 "Fisher's two-sided p", rel_tol=1e-6, abs_tol=1e-12, slips=slips)
