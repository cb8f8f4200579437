"""Small robust statistics shared by the leak detector and the alert rules."""

from __future__ import annotations

import math
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
    """Least-squares slope in units per unit of time; zero when all times coincide."""
    n = len(times)
    if n < 2:
        return 0.0
    mean_t = math.fsum(times) / n
    mean_v = math.fsum(values) / n
    spread = math.fsum((t - mean_t) ** 2 for t in times)
    if spread == 0.0:
        return 0.0
    return math.fsum((t - mean_t) * (v - mean_v) for t, v in zip(times, values)) / spread
