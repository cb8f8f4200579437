"""When will the process reach its memory limit? A robust trend of resident memory, extrapolated."""

from __future__ import annotations

from typing import Optional, Sequence

from .stats import median

_MAX_POINTS = 24  # Theil-Sen is quadratic: evenly spaced points keep it near 300 pairs
_MIN_POINTS = 6
_MIN_RISING_SHARE = 2 / 3  # of pairwise slopes: below it, the trend is noise, not growth


def seconds_to_limit(times: Sequence[float], used: Sequence[float], limit: float) -> Optional[float]:
    """Seconds until ``used`` reaches ``limit`` at its Theil-Sen trend; None when it is not growing.

    The median of pairwise slopes ignores spikes and one-off steps that would swing a least-squares
    line, and growth must be visible in most pairs, not only in their median.
    """
    n = len(times)
    if n < _MIN_POINTS:
        return None
    step = max(1, n // _MAX_POINTS)
    points = list(zip(times[::-1][::step], used[::-1][::step]))[::-1]
    slopes = sorted(
        (v2 - v1) / (t2 - t1)
        for index, (t1, v1) in enumerate(points)
        for t2, v2 in points[index + 1 :]
        if t2 > t1
    )
    if not slopes:
        return None
    rate = median(slopes)
    rising = sum(1 for s in slopes if s > 0)
    if rate <= 0 or rising < _MIN_RISING_SHARE * len(slopes):
        return None
    return max(0.0, (limit - used[-1]) / rate)
