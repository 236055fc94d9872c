"""Small, exact statistics for campaign results: Welch's t interval without scipy.

The Student t distribution function is computed from the regularised incomplete beta
function (continued fraction, Lentz's method, as in Numerical Recipes 6.4); its quantile by
bisection, which is plenty fast for a handful of intervals per page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (df may be fractional)."""
    if math.isinf(df):
        return normal_cdf(t)
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on :func:`t_cdf`)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be between 0 and 1")
    if math.isinf(df):
        return normal_ppf(p)
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def normal_ppf(p: float) -> float:
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if normal_cdf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Sample:
    """n, mean and the sample variance (n - 1 in the denominator) of one group."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Sample:
        # Welford's algorithm: one pass, numerically stable for large revenue sums.
        n, mean, m2 = 0, 0.0, 0.0
        for x in values:
            n += 1
            delta = x - mean
            mean += delta / n
            m2 += delta * (x - mean)
        return cls(n=n, mean=mean if n else 0.0, variance=m2 / (n - 1) if n > 1 else 0.0)


@dataclass(frozen=True)
class Interval:
    """Difference of means (treatment - control) with its confidence interval."""

    difference: float
    low: float
    high: float
    standard_error: float
    df: float
    p_value: float
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def welch_interval(
    treatment: Sample, control: Sample, *, confidence: float = 0.95
) -> Interval | None:
    """Welch's t interval for mean(treatment) - mean(control); None below two per group.

    se = sqrt(s1²/n1 + s2²/n2); df by Welch-Satterthwaite; interval = d ± t(1-α/2, df)·se.
    """
    if treatment.n < 2 or control.n < 2:
        return None
    v1 = treatment.variance / treatment.n
    v2 = control.variance / control.n
    difference = treatment.mean - control.mean
    se = math.sqrt(v1 + v2)
    if se == 0.0:
        # No spread at all: the difference is exact (and usually zero: nobody bought).
        p_value = 1.0 if difference == 0 else 0.0
        return Interval(difference, difference, difference, 0.0, math.inf, p_value, confidence)
    df_denominator = 0.0
    if v1:
        df_denominator += v1 * v1 / (treatment.n - 1)
    if v2:
        df_denominator += v2 * v2 / (control.n - 1)
    df = (v1 + v2) ** 2 / df_denominator
    critical = t_ppf(1.0 - (1.0 - confidence) / 2.0, df)
    t_stat = difference / se
    p_value = 2.0 * (1.0 - t_cdf(abs(t_stat), df))
    return Interval(
        difference=difference,
        low=difference - critical * se,
        high=difference + critical * se,
        standard_error=se,
        df=df,
        p_value=max(0.0, min(1.0, p_value)),
        confidence=confidence,
    )
