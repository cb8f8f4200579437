"""Small robust statistics shared by the leak detector and the alert rules."""

from __future__ import annotations

import operator
from typing import List, Sequence


def median(ordered: Sequence[float]) -> float:
    """Median of an already sorted, non-empty sequence."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    centre = median(sorted(values))
    return median(sorted(abs(v - centre) for v in values))


def steps(levels: Sequence[float]) -> List[float]:
    return [later - earlier for earlier, later in zip(levels, levels[1:])]


def slope(times: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope in units per unit of time; zero when all times coincide.

    Centred on the means first, so that epoch timestamps lose no precision; the sums run in C.
    """
    n = len(times)
    if n < 2:
        return 0.0
    mean_t = sum(times) / n
    mean_v = sum(values) / n
    dt = [t - mean_t for t in times]
    spread = sum(map(operator.mul, dt, dt))
    if spread == 0.0:
        return 0.0
    return sum(map(operator.mul, dt, [v - mean_v for v in values])) / spread
