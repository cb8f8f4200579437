"""Shape tests on a window of counts: what tells a leak from a warm-up, a step or a cache at its cap.

Each takes the counts oldest first and answers one question; the leak detector combines them
(docs/LEAK_DETECTION.md gives the reasoning and the false-positive figures).
"""

from __future__ import annotations

import math
from typing import List

from .stats import steps

_MIN_LAST_TO_FIRST_STEP = 0.7
# A quadratic term this many standard errors below zero: the series decelerates (a warm-up), at
# any length; a straight line's reads below it about once in a hundred decisions, which only
# delays it a census.
_DECELERATION_ERRORS = 3.0
_PACE_ERRORS = 1.5
_ROUNDING_NOISE = 0.5  # counts are integers: residuals below this mean nothing


def ascending(levels: List[float]) -> bool:
    return all(earlier < later for earlier, later in zip(levels, levels[1:]))


def persistent_rise(levels: List[float], balance: float) -> bool:
    """Every segment above the previous one, and no step a small share of the whole rise.

    A one-off step or a warm-up that has levelled off concentrates the rise in one or two steps; a
    warm-up still filling decelerates, so its last step is a fraction of its first.
    """
    rises = steps(levels)
    total = levels[-1] - levels[0]
    return (
        ascending(levels)
        and min(rises) >= balance * total / len(rises)
        and rises[-1] >= _MIN_LAST_TO_FIRST_STEP * rises[0]
    )


def one_step(values: List[float]) -> bool:
    """True when one jump between two flat levels fits the window at least as well as a line.

    Prefix sums make the best split O(n); a line through a real leak leaves far less error than
    any single step does.
    """
    n = len(values)
    mean_i = (n - 1) / 2.0
    mean_v = math.fsum(values) / n
    spread_i = math.fsum((i - mean_i) ** 2 for i in range(n))
    covariance = math.fsum((i - mean_i) * (v - mean_v) for i, v in enumerate(values))
    total = math.fsum((v - mean_v) ** 2 for v in values)
    line_error = total - covariance * covariance / spread_i
    prefix = 0.0
    best_step_error = total
    for split in range(1, n):
        prefix += values[split - 1]
        suffix = mean_v * n - prefix
        # Error of two flat levels = total minus the variance explained by the split.
        explained = prefix * prefix / split + suffix * suffix / (n - split) - mean_v * mean_v * n
        best_step_error = min(best_step_error, total - explained)
    return best_step_error <= line_error


def decelerates(values: List[float]) -> bool:
    """The quadratic term of a least-squares fit is significantly negative (its t-statistic).

    Over a short window a warm-up's segment steps shrink by less than the balance test sees, but a
    clean warm-up bends far more than its noise: this is what lets a decision come early.
    """
    n = len(values)
    mean_i = (n - 1) / 2.0
    linear = [i - mean_i for i in range(n)]
    mean_square = math.fsum(t * t for t in linear) / n
    quadratic = [t * t - mean_square for t in linear]  # orthogonal to the constant and the line
    mean_v = math.fsum(values) / n
    b = math.fsum(t * v for t, v in zip(linear, values)) / math.fsum(t * t for t in linear)
    q_spread = math.fsum(q * q for q in quadratic)
    c = math.fsum(q * v for q, v in zip(quadratic, values)) / q_spread
    residual = math.fsum((v - mean_v - b * t - c * q) ** 2 for v, t, q in zip(values, linear, quadratic))
    noise = max(_ROUNDING_NOISE, math.sqrt(residual / max(1, n - 3)))
    return c * math.sqrt(q_spread) < -_DECELERATION_ERRORS * noise


def keeps_pace(values: List[float]) -> bool:
    """The second half rises at least 0.7 times as fast as the first, by two standard errors.

    Positive evidence against a warm-up, which an early decision needs: the error of a half's
    least-squares slope shrinks as its length to the power 1.5, so a clean leak shows it within a
    few censuses and a noisy one only later, and a warm-up never does.
    """
    half = len(values) // 2
    (early, early_error), (late, late_error) = _line(values[:half]), _line(values[-half:])
    mean_i = (half - 1) / 2.0
    spread = math.fsum((i - mean_i) ** 2 for i in range(half))
    noise = max(_ROUNDING_NOISE, math.sqrt((early_error + late_error) / max(1, 2 * half - 4)))
    error = noise * math.sqrt((1.0 + _MIN_LAST_TO_FIRST_STEP**2) / spread)
    return late - _MIN_LAST_TO_FIRST_STEP * early >= _PACE_ERRORS * error


def keeps_rising(values: List[float], recent: int) -> bool:
    """The last ``recent`` counts rise at least half as fast as the whole span (least squares):
    a cache that has just filled has grown for a window like a leak, and stopped."""
    return recent < len(values) and _line(values[-recent:])[0] >= 0.5 * _line(values)[0]


def _line(values: List[float]) -> "tuple[float, float]":
    """Least-squares slope of ``values`` against their index, and the residual sum of squares."""
    n = len(values)
    mean_i = (n - 1) / 2.0
    mean_v = math.fsum(values) / n
    spread = math.fsum((i - mean_i) ** 2 for i in range(n))
    b = math.fsum((i - mean_i) * v for i, v in enumerate(values)) / spread
    residual = math.fsum((v - mean_v - b * (i - mean_i)) ** 2 for i, v in enumerate(values))
    return b, residual


def plateaued(values: List[float]) -> bool:
    """No new high in the last quarter of the window (at least 8 snapshots): a smooth series that
    stopped growing, a cache that reached its bound. Read only on smooth series, where noise cannot
    hide a real leak's new highs."""
    recent = max(8, len(values) // 4)
    return len(values) > recent and max(values[-recent:]) <= max(values[:-recent])
