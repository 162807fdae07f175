"""Paired comparison (exact McNemar), proper scores and temperature scaling, against cases
computed by hand or constructed so that the right answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from utils.stats import (
    brier_score,
    fisher_exact,
    fit_temperature,
    mcnemar_exact,
    mcnemar_from_correct,
    negative_log_likelihood,
    paired_table,
    sign_test,
    wilson_interval,
)


def binomial_two_sided(b: int, c: int) -> float:
    """The textbook formula, written independently: 2 * sum_{i<=min} C(n, i) / 2^n, capped at 1."""
    n = b + c
    return min(1.0, 2 * math.fsum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)


def hypergeometric_two_sided(a: int, b: int, c: int, d: int) -> float:
    """Fisher's test from its textbook definition, in floats, written independently."""
    row1, col1, n = a + b, a + c, a + b + c + d

    def prob(x: int) -> float:
        return math.comb(col1, x) * math.comb(n - col1, row1 - x) / math.comb(n, row1)

    lo, hi = max(0, row1 + col1 - n), min(row1, col1)
    return min(1.0, math.fsum(prob(x) for x in range(lo, hi + 1) if prob(x) <= prob(a) * (1 + 1e-9)))


def test_fisher_exact_hand_computed_cases() -> None:
    # the lady tasting tea, 3 of 4 cups right each way: 2 * (16 + 1) / 70
    assert fisher_exact([[3, 1], [1, 3]]) == pytest.approx(34 / 70)
    assert fisher_exact([[4, 0], [0, 4]]) == pytest.approx(2 / 70)
    # 9 of 9 runs learned on one machine, 1 of 4 on the other: 10 of the C(13, 9) = 715
    # equally likely tables are this one, and no other is as unlikely
    assert fisher_exact([[9, 0], [1, 3]]) == pytest.approx(hypergeometric_two_sided(9, 0, 1, 3))
    assert fisher_exact([[9, 0], [1, 3]]) == pytest.approx(4 / 286)
    for table in ([[5, 2], [3, 6]], [[0, 7], [6, 1]], [[10, 10], [10, 10]], [[1, 0], [0, 0]]):
        assert fisher_exact(table) == pytest.approx(hypergeometric_two_sided(*table[0], *table[1]))
    assert fisher_exact([[0, 0], [0, 0]]) == 1.0
    for bad in ([[1, 2, 3], [4, 5, 6]], [[1, -2], [3, 4]], [[1.5, 2], [3, 4]], [[True, 2], [3, 4]]):
        with pytest.raises(ValueError, match="2x2 table"):
            fisher_exact(bad)


def test_sign_test_counts_signs_only_and_drops_ties() -> None:
    assert sign_test([-0.16, -0.24, -0.16]) == pytest.approx(0.25)  # 3 of 3: 2 / 8
    assert sign_test([-88.3, -0.4, -0.2, -0.6, -88.4, -0.1, -0.3, -0.2]) == pytest.approx(2 / 256)
    # the size of a difference does not count, only its sign: one huge loss is one seed
    assert sign_test([-88.0, 0.1, 0.2]) == sign_test([-0.01, 0.1, 0.2]) == 1.0
    assert sign_test([0.0, -0.1, -0.2, -0.3, -0.4, -0.5]) == pytest.approx(2 / 32)  # tie dropped
    assert sign_test([0.1, -0.1, 0.2, 0.3, 0.4]) == pytest.approx(binomial_two_sided(1, 4))
    with pytest.raises(ValueError, match="at least one"):
        sign_test([])


def test_mcnemar_hand_computed_cases() -> None:
    assert mcnemar_exact(0, 5).p_value == pytest.approx(2 * 0.5**5)  # 0.0625
    assert mcnemar_exact(0, 1).p_value == 1.0  # 2 * 1/2, capped
    assert mcnemar_exact(1, 2).p_value == 1.0  # 2 * (1 + 3) / 8
    assert mcnemar_exact(1, 9).p_value == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(0, 0).p_value == 1.0
    for k in (1, 7, 500):
        assert mcnemar_exact(k, k).p_value == 1.0
    # notebook 04's test-set comparison: 14 images only A gets right, 34 only B
    result = mcnemar_exact(14, 34)
    assert result.p_value == pytest.approx(0.0055152, abs=1e-7)
    assert (result.b, result.c, result.discordant) == (14, 34, 48)


def test_mcnemar_is_symmetric_and_matches_the_formula() -> None:
    for b, c in [(3, 11), (20, 31), (60, 90), (2, 200)]:
        assert mcnemar_exact(b, c).p_value == mcnemar_exact(c, b).p_value
        assert mcnemar_exact(b, c).p_value == pytest.approx(binomial_two_sided(b, c), rel=1e-12)


def test_mcnemar_stays_exact_for_large_counts() -> None:
    # n = 8,100: far beyond float range for 2**n; the normal approximation with continuity
    # correction is excellent there and must agree to about a percent.
    result = mcnemar_exact(4000, 4100)
    z = (abs(4000 - 4100) - 1) / math.sqrt(8100)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=0.02)
    assert 0 <= mcnemar_exact(0, 3000).p_value < 1e-300


@pytest.mark.parametrize("b, c", [(-1, 3), (2.0, 3), (True, 3), (None, 1)])
def test_mcnemar_rejects_non_counts(b, c) -> None:
    with pytest.raises(ValueError, match="non-negative integer count"):
        mcnemar_exact(b, c)


def test_paired_table_and_mcnemar_from_answers() -> None:
    a = torch.tensor([True, True, True, False, False, True])
    b = torch.tensor([True, False, False, True, False, True])
    table = paired_table(a, b)
    assert table.loc["A right", "B right"] == 2 and table.loc["A wrong", "B wrong"] == 1
    assert table.loc["A right", "B wrong"] == 2 and table.loc["A wrong", "B right"] == 1
    assert int(table.to_numpy().sum()) == 6
    result = mcnemar_from_correct(a, b)
    assert (result.b, result.c) == (2, 1)
    with pytest.raises(ValueError):
        paired_table(a, b[:3])


def test_overlapping_intervals_can_still_differ_significantly() -> None:
    """The lesson of notebook 04 in one test: Wilson intervals overlap, McNemar says differ."""
    a, b = wilson_interval(9964, 10_000), wilson_interval(9944, 10_000)
    assert a.low < b.high  # the intervals overlap
    assert mcnemar_exact(34, 14).p_value < 0.01


def test_nll_and_brier_by_hand() -> None:
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])  # probabilities .75/.25 and .5/.5
    labels = torch.tensor([0, 1])
    assert negative_log_likelihood(logits, labels) == pytest.approx(
        -(math.log(0.75) + math.log(0.5)) / 2)
    probs = torch.softmax(logits, 1)
    assert brier_score(probs, labels) == pytest.approx(((0.25**2 + 0.25**2) + (0.25 + 0.25)) / 2)
    perfect = torch.eye(3)
    assert brier_score(perfect, torch.tensor([0, 1, 2])) == 0.0
    assert brier_score(perfect, torch.tensor([1, 2, 0])) == 2.0
    # a temperature of 2 halves the logits
    assert negative_log_likelihood(logits, labels, temperature=2.0) == pytest.approx(
        negative_log_likelihood(logits / 2, labels))
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        negative_log_likelihood(logits, labels, temperature=0.0)
    with pytest.raises(ValueError, match="2-D"):
        brier_score(torch.tensor([0.5, 0.5]), labels)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_temperature: float) -> None:
    """Labels drawn from softmax(z / T): the NLL-optimal temperature for logits z is T."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(40_000, 10, generator=gen, dtype=torch.float64) * 3
    labels = torch.multinomial(torch.softmax(logits / true_temperature, 1), 1, generator=gen)[:, 0]
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    # it is a minimum of the NLL: nudging it either way does not help
    best = negative_log_likelihood(logits, labels, fitted)
    assert best <= negative_log_likelihood(logits, labels, fitted * 1.1)
    assert best <= negative_log_likelihood(logits, labels, fitted / 1.1)


def test_temperature_scaling_never_changes_the_prediction() -> None:
    logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(2))
    t = fit_temperature(logits, labels)
    assert torch.equal((logits / t).argmax(1), logits.argmax(1))
    with pytest.raises(ValueError, match="low < high"):
        fit_temperature(logits, labels, low=2.0, high=1.0)


def test_two_sample_t_statistic_by_hand():
    from utils.stats import two_sample_t_statistic

    # means 2 and 5, each variance 1: pooled SD 1, standard error sqrt(2/3)
    assert two_sample_t_statistic([1, 2, 3], [4, 5, 6]) == pytest.approx(-3 / (2 / 3) ** 0.5)
    assert two_sample_t_statistic([4, 5, 6], [1, 2, 3]) == pytest.approx(3 / (2 / 3) ** 0.5)
    # unequal sizes weigh each group's variance by its n - 1: (3 * 1.6667 + 1 * 0.5) / 4
    pooled = ((3 * 5 / 3 + 0.5) / 4) ** 0.5
    assert two_sample_t_statistic([1, 2, 3, 4], [5, 6]) == pytest.approx(-3 / (pooled * (1 / 4 + 1 / 2) ** 0.5))
    assert two_sample_t_statistic([1, 1], [2, 2]) == -math.inf  # no spread at all
    with pytest.raises(ValueError, match="2 or more runs in each group, got 1 and 3"):
        two_sample_t_statistic([1], [1, 2, 3])


def test_paired_t_statistic_and_critical_values_by_hand():
    from utils.stats import paired_t_statistic, t_critical_95

    # mean 0.2, sd 0.1, n 3: t = 0.2 / (0.1 / sqrt 3) = 3.464
    assert paired_t_statistic([0.1, 0.2, 0.3]) == pytest.approx(2 * 3**0.5)
    assert paired_t_statistic([0.2, 0.2]) == math.inf  # no spread at all
    assert paired_t_statistic([0.0, 0.0, 0.0]) == 0.0
    # three runs each one validation image (0.02 points) behind: the same difference, whatever
    # rounding the subtraction of two float accuracies leaves
    one_image = [100 * (a - b) for a, b in ((0.995, 0.9952), (0.9958, 0.996), (0.9954, 0.9956))]
    assert len(set(one_image)) > 1
    assert paired_t_statistic(one_image) == -math.inf
    assert t_critical_95(2) == 4.303 and t_critical_95(30) == t_critical_95(9)
    with pytest.raises(ValueError, match="at least 2 degrees of freedom"):
        t_critical_95(1)


# ---------------------------------------------------------------- run-level comparison over seeds
@pytest.mark.parametrize("df", range(2, 10))
def test_t_quantile_matches_the_printed_table(df):
    from utils.stats import T_CRITICAL_95, t_quantile, t_two_sided_p

    assert t_quantile(0.975, df) == pytest.approx(T_CRITICAL_95[df], abs=1e-3)
    assert t_two_sided_p(T_CRITICAL_95[df], df) == pytest.approx(0.05, abs=1e-4)


def test_t_quantiles_and_p_values_by_hand():
    from utils.stats import t_quantile, t_two_sided_p

    assert t_quantile(0.8, 2) == pytest.approx(1.061, abs=1e-3)  # any t table, 80%, 2 df
    assert t_quantile(0.975, 30) == pytest.approx(2.042, abs=1e-3)
    assert t_quantile(0.975, 100_000) == pytest.approx(1.960, abs=1e-3)  # the normal limit
    assert t_two_sided_p(0.0, 2) == pytest.approx(1.0)
    assert t_two_sided_p(math.inf, 2) == 0.0
    # 2 df has a closed form: P(|T| > t) = 1 - t / sqrt(2 + t^2)
    for t in (0.5, 3.1, 7.0):
        assert t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-6)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.975, 0)


def test_power_is_the_level_at_no_effect_and_grows_with_seeds():
    from utils.stats import paired_power

    assert paired_power(0.0, 3) == pytest.approx(0.05, abs=1e-4)
    assert paired_power(1.0, 3) < paired_power(1.0, 8) < paired_power(1.0, 30)
    # large n: the normal formula (1.96 + 0.84) / sqrt(n) SDs gives 80% power
    assert paired_power((1.959964 + 0.841621) / math.sqrt(400), 400) == pytest.approx(0.8, abs=0.01)


def test_minimum_detectable_effect_against_the_textbook_formula():
    from utils.stats import minimum_detectable_effect, t_quantile

    for n in (8, 30):  # the approximation (t_.975 + t_.8) sd / sqrt(n) is good from ~8 seeds
        approx = (t_quantile(0.975, n - 1) + t_quantile(0.8, n - 1)) / math.sqrt(n)
        assert minimum_detectable_effect(1.0, n) == pytest.approx(approx, rel=0.01)
    # at 3 seeds it is optimistic: the exact MDE is larger
    assert minimum_detectable_effect(1.0, 3) > 1.05 * (4.303 + 1.061) / math.sqrt(3)
    assert minimum_detectable_effect(0.2, 3) == pytest.approx(0.2 * minimum_detectable_effect(1, 3))
    assert minimum_detectable_effect(0.0, 3) == 0.0


def test_seeds_needed_is_the_first_n_whose_mde_is_small_enough():
    from utils.stats import minimum_detectable_effect, normal_seeds_needed, seeds_needed

    n = seeds_needed(0.15, 0.2)
    assert minimum_detectable_effect(0.15, n) <= 0.2 < minimum_detectable_effect(0.15, n - 1)
    assert n >= math.ceil(normal_seeds_needed(0.15, 0.2))  # t corrects the normal formula upwards
    assert normal_seeds_needed(0.1, 0.2) == pytest.approx(((1.959964 + 0.841621) / 2) ** 2)
    assert seeds_needed(0.0, 0.2) == 3
    with pytest.raises(ValueError, match="effect must be positive"):
        seeds_needed(0.1, 0.0)


def test_paired_seeds_by_hand():
    from utils.stats import paired_seeds

    paired = paired_seeds([0.1, 0.2, 0.3])  # mean 0.2, sd 0.1
    assert paired.t == pytest.approx(2 * 3**0.5)
    low, high = paired.ci95
    assert (low, high) == pytest.approx((0.2 - 4.3027 * 0.1 / 3**0.5, 0.2 + 4.3027 * 0.1 / 3**0.5),
                                        abs=1e-4)
    assert not paired.beyond_noise and 0.05 < paired.p_value < 0.1
    assert paired_seeds([-0.16, -0.24, -0.16]).beyond_noise
    assert not paired_seeds([0.5, 0.6]).beyond_noise  # 2 seeds: no verdict
    with pytest.raises(ValueError, match="at least 2 seeds"):
        paired_seeds([0.1])


def test_pooled_sd_weights_each_group_by_its_degrees_of_freedom():
    from utils.stats import pooled_sd

    # variances 0.01 (2 df) and 0.04 (1 df): (2 * 0.01 + 0.04) / 3 = 0.02
    assert pooled_sd([[0.0, 0.1, 0.2], [1.0, 1.2828427]]) == pytest.approx(math.sqrt(0.02), rel=1e-4)
    assert pooled_sd([[5.0, 5.0], [1.0, 1.0, 1.0]]) == 0.0  # each group's own mean is removed
    with pytest.raises(ValueError, match="at least one group"):
        pooled_sd([[1.0]])
