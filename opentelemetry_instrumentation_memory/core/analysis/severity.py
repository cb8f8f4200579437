"""How bad is a leak? Ranked by what it does to the process, not by its percent growth from zero.

A cache that grows from 17 to 500 small objects has grown 2,800 % and does not matter; a leak of
50 KB/s into a process 200 MB below its limit matters within the hour. The measure is the time the
leak alone would take to fill the headroom left to the effective memory limit. It falls as the leak
grows faster, so a faster leak never ranks lower.
"""

from __future__ import annotations

from typing import Optional

from ..records import SEVERITIES

__all__ = ["HOURS_TO_EXHAUST", "growth_percent", "hours_to_exhaust", "impact_severity"]

# (at most this many hours to fill the headroom, severity): the first that holds wins.
HOURS_TO_EXHAUST = ((12.0, "critical"), (72.0, "high"), (30 * 24.0, "medium"))


def hours_to_exhaust(bytes_per_hour: float, headroom_bytes: float) -> Optional[float]:
    """Hours until this growth alone fills the headroom; None when it does not grow."""
    if bytes_per_hour <= 0.0:
        return None
    return max(0.0, headroom_bytes) / bytes_per_hour


def impact_severity(bytes_per_hour: float, headroom_bytes: float) -> str:
    hours = hours_to_exhaust(bytes_per_hour, headroom_bytes)
    if hours is None:
        return SEVERITIES[0]
    for limit, severity in HOURS_TO_EXHAUST:
        if hours <= limit:
            return severity
    return SEVERITIES[0]


def growth_percent(start: float, end: float) -> float:
    """Growth relative to the window's mean level: 2,800 % for 17 -> 500 would say nothing, and a
    type that starts at zero would divide by nothing. Bounded by 200 % (growth from zero)."""
    mean = (start + end) / 2.0
    return 0.0 if mean <= 0.0 else round(100.0 * (end - start) / mean, 2)
