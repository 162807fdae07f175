"""Statistics of a classifier's answers: accuracy intervals, paired comparisons, calibration.

Every function takes plain counts or tensors and returns numbers or small tables, so the
notebooks can show the arithmetic and the tests can check it against hand-computed cases.

One concern past 400 lines, the course's statistics; every function is short and tested on
hand-computed cases.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from utils.tensor_checks import check_confidence, check_correct, check_labels, check_same_length


@dataclass(frozen=True)
class AccuracyCI:
    correct: int
    total: int
    accuracy: float
    low: float
    high: float

    @property
    def errors(self) -> int:
        return self.total - self.correct

    def __str__(self) -> str:
        return (
            f"{100 * self.accuracy:.2f}% ({self.correct}/{self.total}, "
            f"95% CI {100 * self.low:.2f}-{100 * self.high:.2f}%)"
        )


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> AccuracyCI:
    """Wilson score interval: unlike the normal approximation it stays inside [0, 1]
    and behaves near 100%, where our accuracies live."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}.")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be between 0 and {total}, got {correct}.")
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    # min/max with p: at p = 0 or 1 the exact bound equals p, but rounding can land an ulp off
    low, high = min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))
    return AccuracyCI(correct, total, p, low, high)


def accuracy_with_ci(predictions: torch.Tensor, labels: torch.Tensor) -> AccuracyCI:
    correct = int((predictions.cpu() == labels.cpu()).sum())
    return wilson_interval(correct, len(labels))


# ---------------------------------------------------------------- paired comparison (McNemar)
@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test of two models scored on the same examples.

    ``b``: examples only model A gets right; ``c``: examples only model B gets right. Examples
    both get right or both get wrong say nothing about which model is better and are ignored.
    """

    b: int
    c: int
    p_value: float

    @property
    def discordant(self) -> int:
        return self.b + self.c

    def __str__(self) -> str:
        return (f"only A right {self.b}, only B right {self.c}: exact McNemar "
                f"p = {self.p_value:.4f}")


def _two_sided_binomial(b: int, c: int) -> float:
    """Two-sided exact p of ``b`` against ``c`` when each of the ``b + c`` events is a fair coin
    flip: min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2), summed in exact integers
    (binomial coefficients over ``2**n``) and rounded to a float once, so it stays right for
    any count (no overflow, no underflow until the final float, no approximation)."""
    n, k = b + c, min(b, c)
    if n == 0 or b == c:
        return 1.0
    term = tail = 1  # C(n, 0); then C(n, i + 1) = C(n, i) * (n - i) / (i + 1), exactly
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    # int / int is correctly rounded in Python, however large the integers
    return min(1.0, 2 * tail / 2**n)


def mcnemar_exact(b: int, c: int) -> McNemarResult:
    """Two-sided exact McNemar test of two *fixed* models: under "no difference" each of the
    ``b + c`` discordant examples is a fair coin flip, so given ``b + c``, ``b`` is
    Binomial(b + c, 1/2). Its sample is the examples, not training runs: it cannot compare
    recipes or architectures (use :class:`PairedSeeds` over seeds for that).

    Chosen over the chi-squared version because our discordant counts are small (tens), where
    the approximation is poor. McNemar (1947).
    """
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer count, got {value!r}.")
    return McNemarResult(b, c, _two_sided_binomial(b, c))


def sign_test(differences: Sequence[float]) -> float:
    """Two-sided exact sign test of paired differences (ties dropped): under "no change" each
    seed is as likely to go up as down. It asks only for the signs, so it still holds where the
    paired t-test's assumption of roughly normal differences fails, e.g. when some runs do not
    learn at all; the price is power (3 seeds of one sign give p = 0.25)."""
    if not differences:
        raise ValueError("sign_test needs at least one paired difference.")
    ups = sum(1 for d in differences if d > 0)
    downs = sum(1 for d in differences if d < 0)
    return _two_sided_binomial(ups, downs)


def fisher_exact(table: Sequence[Sequence[int]]) -> float:
    """Two-sided exact p of a 2x2 table of counts, e.g. runs that learned / did not on two
    machines: with the margins fixed, the sum of the hypergeometric probabilities of every
    table no more likely than the observed one. Exact integers, one float division at the end
    (the 2x2 counts of training runs are small, where chi-squared approximations fail).
    Fisher (1935)."""
    counts = [value for row in table for value in row]
    if len(table) != 2 or any(len(row) != 2 for row in table) or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in counts):
        raise ValueError(f"fisher_exact needs a 2x2 table of non-negative integer counts, "
                         f"got {table!r}.")
    (a, b), (c, d) = table
    row1, col1, n = a + b, a + c, a + b + c + d
    if n == 0:
        return 1.0

    def weight(x: int) -> int:  # C(col1, x) * C(n - col1, row1 - x): the tables' shared scale
        return math.comb(col1, x) * math.comb(n - col1, row1 - x)

    observed = weight(a)
    tables = range(max(0, row1 + col1 - n), min(row1, col1) + 1)
    as_likely = sum(w for w in map(weight, tables) if w <= observed)
    return min(1.0, as_likely / math.comb(n, row1))


def paired_table(correct_a: torch.Tensor, correct_b: torch.Tensor) -> pd.DataFrame:
    """The 2x2 table of (A right/wrong) x (B right/wrong) counts on the same examples."""
    correct_a = check_correct(correct_a, "correct_a")
    correct_b = check_correct(correct_b, "correct_b")
    check_same_length(correct_a=correct_a, correct_b=correct_b)
    cells = [[int((correct_a & correct_b).sum()), int((correct_a & ~correct_b).sum())],
             [int((~correct_a & correct_b).sum()), int((~correct_a & ~correct_b).sum())]]
    return pd.DataFrame(cells, index=["A right", "A wrong"], columns=["B right", "B wrong"])


def mcnemar_from_correct(correct_a: torch.Tensor, correct_b: torch.Tensor) -> McNemarResult:
    """:func:`mcnemar_exact` on two models' right/wrong answers for the same examples."""
    table = paired_table(correct_a, correct_b)
    return mcnemar_exact(int(table.loc["A right", "B wrong"]), int(table.loc["A wrong", "B right"]))



# Two-sided 5% critical values of Student's t by degrees of freedom (any statistics table).
T_CRITICAL_95 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _no_spread(sd: float, mean: float) -> bool:
    """True when ``sd`` is rounding noise: accuracies are counts of images, so three runs that
    each lose by one image differ by the same amount, yet their float differences keep a spread
    of about 1e-15 that would turn t into a meaningless 1e12."""
    return sd <= 1e-9 * max(abs(mean), 1e-9)


def paired_t_statistic(differences: Sequence[float]) -> float:
    """Paired t over seeds: mean difference / (sd / sqrt(n)). ``±inf`` when every difference is
    the same non-zero value (no spread at all), 0 when all are zero."""
    if not differences:
        raise ValueError("A paired t statistic needs at least one difference.")
    mean = statistics.fmean(differences)
    sd = statistics.stdev(differences) if len(differences) > 1 else 0.0
    if _no_spread(sd, mean):
        return math.copysign(math.inf, mean) if mean else 0.0
    return mean / (sd / math.sqrt(len(differences)))


def two_sample_t_statistic(first: Sequence[float], second: Sequence[float]) -> float:
    """Student's t for two independent groups of runs, with the pooled SD (degrees of freedom:
    ``len(first) + len(second) - 2``). Seeds paired across two machines share no outcome, so
    such a comparison is in effect unpaired, and this is its test."""
    if len(first) < 2 or len(second) < 2:
        raise ValueError(f"A two-sample t needs 2 or more runs in each group, got {len(first)} "
                         f"and {len(second)}.")
    difference = statistics.fmean(first) - statistics.fmean(second)
    spread = pooled_sd([first, second]) * math.sqrt(1 / len(first) + 1 / len(second))
    if _no_spread(spread, difference):
        return math.copysign(math.inf, difference) if difference else 0.0
    return difference / spread


def t_critical_95(degrees_of_freedom: int) -> float:
    """The two-sided 5% bar for |t|; past 9 degrees of freedom the value for 9 (conservative)."""
    if degrees_of_freedom < min(T_CRITICAL_95):
        raise ValueError(f"Need at least {min(T_CRITICAL_95)} degrees of freedom (3 seeds), "
                         f"got {degrees_of_freedom}.")
    return T_CRITICAL_95[min(degrees_of_freedom, max(T_CRITICAL_95))]


def calibration_bins(
    confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 10
) -> pd.DataFrame:
    """Equal-width confidence bins for a reliability diagram.

    Bin ``i`` holds confidences in ``(i/n, (i+1)/n]`` (the first bin also takes 0). Per bin:
    ``count``, ``mean_confidence`` and ``accuracy``; both are NaN for an empty bin (no data,
    not zero accuracy).
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}.")
    confidence, correct = check_confidence(confidence), check_correct(correct)
    check_same_length(confidence=confidence, correct=correct)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    which = torch.bucketize(confidence, edges[1:-1], right=False)
    counts = torch.bincount(which, minlength=n_bins).double()
    conf_sum = torch.bincount(which, weights=confidence, minlength=n_bins)
    hit_sum = torch.bincount(which, weights=correct.double(), minlength=n_bins)
    nan = torch.full_like(counts, float("nan"))
    return pd.DataFrame(
        {
            "bin_low": edges[:-1].numpy(),
            "bin_high": edges[1:].numpy(),
            "count": counts.long().numpy(),
            "mean_confidence": torch.where(counts > 0, conf_sum / counts.clamp(min=1), nan).numpy(),
            "accuracy": torch.where(counts > 0, hit_sum / counts.clamp(min=1), nan).numpy(),
        }
    )


def expected_calibration_error(
    confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 10
) -> float:
    """ECE = sum over bins of (bin share of examples) x |accuracy - mean confidence|.

    0 means that, bin by bin, the model is right as often as it claims to be.
    """
    bins = calibration_bins(confidence, correct, n_bins)
    filled = bins[bins["count"] > 0]
    total = int(bins["count"].sum())
    if total == 0:
        raise ValueError("No examples: cannot compute a calibration error of an empty set.")
    gaps = (filled["accuracy"] - filled["mean_confidence"]).abs()
    return float((filled["count"] / total * gaps).sum())


# ---------------------------------------------------------------- proper scores, temperature
def _check_scores(scores: torch.Tensor, labels: torch.Tensor,
                  name: str = "logits") -> tuple[torch.Tensor, torch.Tensor]:
    """float64 CPU copies of ``[N, C]`` scores and their ``[N]`` labels, checked."""
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or len(scores) == 0:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"{name} must be a non-empty 2-D tensor [N, classes], got {shape}.")
    labels = check_labels(labels, "labels", scores.shape[1])
    check_same_length(**{name: scores, "labels": labels})
    return scores.detach().cpu().double(), labels


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor,
                            temperature: float = 1.0) -> float:
    """Mean -log p(true class) of ``softmax(logits / temperature)``: the proper score that
    temperature scaling minimises; it punishes confident mistakes without bound."""
    logits, labels = _check_scores(logits, labels)
    _check_temperature(temperature)
    return float(F.cross_entropy(logits / temperature, labels))


def brier_score(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over examples of the squared distance between the probability vector and the
    one-hot label (0 is perfect, 2 the worst): a bounded proper score, unlike the NLL."""
    probabilities, labels = _check_scores(probabilities, labels, "probabilities")
    one_hot = F.one_hot(labels, probabilities.shape[1]).double()
    return float(((probabilities - one_hot) ** 2).sum(1).mean())


def _check_temperature(temperature: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not (
        math.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}.")


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, low: float = 0.05,
                    high: float = 20.0) -> float:
    """The single temperature T minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    Fit it on *validation* logits, then divide test logits by it: the argmax, and so the
    accuracy, cannot change; only the confidence does. The NLL is convex in 1/T, hence
    unimodal in log T, so a golden-section search on log T in [low, high] finds the minimum
    to 1e-4 (in log T) without gradients or an optimiser's settings.
    """
    logits, labels = _check_scores(logits, labels)
    if not 0 < low < high:
        raise ValueError(f"Need 0 < low < high, got low={low!r}, high={high!r}.")

    def nll(log_t: float) -> float:
        return float(F.cross_entropy(logits / math.exp(log_t), labels))

    ratio = (math.sqrt(5) - 1) / 2
    a, b = math.log(low), math.log(high)
    x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
    f1, f2 = nll(x1), nll(x2)
    while b - a > 1e-4:
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - ratio * (b - a)
            f1 = nll(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + ratio * (b - a)
            f2 = nll(x2)
    return math.exp((a + b) / 2)


# ---------------------------------------------------------------- run-level comparison over seeds
# The unit of a recipe comparison is the training run: each seed gives one paired difference
# (variant - control), and the seeds are the sample. Images are not: the same validation images
# are scored by every run, and a test on them conditions on the particular trained networks.
# The course's design for comparing recipes: a two-sided test at 5%, planned for 80% power.
ALPHA, POWER = 0.05, 0.8
_Z_ALPHA, _Z_POWER = 1.959964, 0.841621  # standard normal 97.5% and 80% quantiles
MOST_SEEDS = 1000  # seeds_needed gives up beyond this


def _t_tail(c: float, df: int, shift: float = 0.0, steps: int = 400) -> float:
    """P(T > c) for T = (Z + shift) / sqrt(V / df), Z ~ N(0, 1), V ~ chi-squared(df):
    Student's t for ``shift = 0``, the noncentral t (the t statistic under a true effect)
    otherwise. The normal tail is integrated over V = u**2 with Simpson's rule (the
    substitution makes the integrand smooth for every df), so only ``math`` is needed."""
    # u = sqrt(V) has density u^(df-1) e^(-u²/2) / (2^(df/2 - 1) Gamma(df/2)), peaked near
    # sqrt(df - 1) with an SD below 1: integrate 12 units either side (the rest is < 1e-15)
    peak = math.sqrt(max(df - 1, 0))
    bottom, top = max(0.0, peak - 12), peak + 12
    h = (top - bottom) / steps
    log_norm = (df / 2 - 1) * math.log(2) + math.lgamma(df / 2)

    def integrand(u: float) -> float:
        if u == 0:
            density = math.exp(-log_norm) if df == 1 else 0.0
        else:
            density = math.exp((df - 1) * math.log(u) - u * u / 2 - log_norm)
        return density * 0.5 * math.erfc((c * u / math.sqrt(df) - shift) / math.sqrt(2))

    total = integrand(bottom) + integrand(top)
    total += sum((4 if k % 2 else 2) * integrand(bottom + k * h) for k in range(1, steps))
    return min(1.0, max(0.0, total * h / 3))


def _require_df(df: int) -> None:
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}.")


@functools.lru_cache(maxsize=256)
def t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (bisection
    on :func:`_t_tail`); 0.975 gives the two-sided 5% bar, 0.8 the 80%-power term."""
    _require_df(df)
    if not 0.5 <= probability < 1:
        raise ValueError(f"probability must be in [0.5, 1), got {probability!r}.")
    low, high = 0.0, 1e3
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_tail(middle, df) > 1 - probability else (low, middle)
    return (low + high) / 2


def t_two_sided_p(t: float, df: int) -> float:
    """Two-sided p-value of a t statistic: P(|T| >= |t|) under "no change"."""
    _require_df(df)
    if math.isinf(t):
        return 0.0
    return min(1.0, 2 * _t_tail(abs(t), df))


def paired_power(effect_in_sd: float, n: int) -> float:
    """Power of the two-sided paired t-test over ``n`` seeds when the true mean difference is
    ``effect_in_sd`` standard deviations of the paired differences (noncentral t, exact)."""
    if n < 2:
        raise ValueError(f"A paired t-test needs at least 2 seeds, got {n}.")
    df, shift = n - 1, effect_in_sd * math.sqrt(n)
    bar = t_quantile(1 - ALPHA / 2, df)
    return _t_tail(bar, df, shift) + _t_tail(bar, df, -shift)


def minimum_detectable_effect(sd_diff: float, n: int) -> float:
    """The smallest true mean difference the paired t-test over ``n`` seeds detects with
    probability ``POWER`` at two-sided level ``ALPHA``, given the SD of the paired differences.

    The textbook approximation is MDE = (t_{1-ALPHA/2, n-1} + t_{POWER, n-1}) * sd_diff / sqrt(n)
    (with normal quantiles: (1.96 + 0.84) * sd / sqrt(n)); here the power is computed exactly
    from the noncentral t and the effect found by bisection, because at 3 seeds the
    approximation is optimistic. It inherits the uncertainty of ``sd_diff``, which 3 seeds
    measure poorly: read it as the design's resolution, not as a precise bound.
    """
    if sd_diff < 0 or not math.isfinite(sd_diff):
        raise ValueError(f"sd_diff must be a finite non-negative number, got {sd_diff!r}.")
    low, high = 0.0, 1.0
    while paired_power(high, n) < POWER:
        high *= 2
    for _ in range(30):  # 1e-9 of the bracket: far below what sd_diff is known to
        middle = (low + high) / 2
        low, high = (middle, high) if paired_power(middle, n) < POWER else (low, middle)
    return high * sd_diff


def seeds_needed(sd_diff: float, effect: float) -> int:
    """The fewest seeds (at least 3) whose paired t-test detects a true difference of
    ``effect`` points with probability ``POWER``, for paired differences of SD ``sd_diff``.

    Starts from the normal formula n = ((1.96 + 0.84) * sd_diff / effect)**2 and steps up
    until the exact (noncentral t) power is reached.
    """
    if effect <= 0:
        raise ValueError(f"effect must be positive, got {effect!r}.")
    if sd_diff == 0:
        return 3
    n = max(3, math.ceil(normal_seeds_needed(sd_diff, effect)))
    while minimum_detectable_effect(sd_diff, n) > effect:
        n += 1
        if n > MOST_SEEDS:
            raise ValueError(f"More than {MOST_SEEDS} seeds needed for {effect} at sd {sd_diff}.")
    return n


def normal_seeds_needed(sd_diff: float, effect: float) -> float:
    """The back-of-envelope n = ((z_{1-ALPHA/2} + z_POWER) * sd_diff / effect)**2, before
    rounding up (the normal approximation; :func:`seeds_needed` corrects it for small n)."""
    return ((_Z_ALPHA + _Z_POWER) * sd_diff / effect) ** 2


@dataclass(frozen=True)
class PairedSeeds:
    """Variant minus control, one difference per seed (accuracy points): the run-level test.

    The seeds are the sample, so the interval and the test speak about the *recipe* (what a
    new seed would give on average), not about the particular networks that were trained.
    """

    differences: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.differences) < 2:
            raise ValueError(f"A paired comparison needs at least 2 seeds, "
                             f"got {len(self.differences)}.")

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.differences)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.differences)

    @property
    def t(self) -> float:
        return paired_t_statistic(self.differences)

    @property
    def p_value(self) -> float:
        return t_two_sided_p(self.t, self.n - 1)

    @property
    def ci95(self) -> tuple[float, float]:
        """mean ± t_{0.975, n-1} * sd / sqrt(n): where the recipe's true mean difference lies."""
        half = t_quantile(0.975, self.n - 1) * self.sd / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    @property
    def mde80(self) -> float:
        """:func:`minimum_detectable_effect` at 80% power for this design's n and measured sd."""
        return minimum_detectable_effect(self.sd, self.n)

    @property
    def beyond_noise(self) -> bool:
        """The paired t-test over seeds rejects "no change" at 5% (two-sided), with 3 or more
        seeds; equivalently, the 95% interval excludes zero."""
        return self.n >= 3 and self.p_value < 0.05


def paired_seeds(differences: Sequence[float]) -> PairedSeeds:
    return PairedSeeds(tuple(float(d) for d in differences))


def pooled_sd(groups: Sequence[Sequence[float]]) -> float:
    """SD pooled over groups, each around its own mean (variances weighted by n - 1): the
    seed-to-seed spread of paired differences when every variant shifts the mean differently."""
    usable = [g for g in groups if len(g) > 1]
    df = sum(len(g) - 1 for g in usable)
    if df == 0:
        raise ValueError("A pooled SD needs at least one group of 2 or more values.")
    return math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in usable) / df)
