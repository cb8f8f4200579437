"""The figures the alerts compare, each over its own window of time, and None until it can be stated.

Windows are time, not snapshots, so that a figure means the same at every snapshot interval the
settings allow (0.01 s to hours); readings are thinned to a bounded number per window.
"""

from __future__ import annotations

from collections import deque
from typing import Deque, Dict, Optional, Tuple

from .stats import median, slope

GC_WINDOW_SECONDS = 300.0  # rates over five minutes: a batch job's burst of collections is no spike
NORMAL_STEP_SECONDS = 60.0  # the normal rate is the median of the five-minute rate, read each minute,
NORMAL_READINGS = 360  # over the last six hours,
NORMAL_MIN_READINGS = 10  # once ten minutes of it have been read after the warm-up
GROWTH_WINDOW_SECONDS = 3600.0  # growth in MB per hour over the last hour after the warm-up,
GROWTH_MIN_SPAN_SECONDS = 600.0  # stated once it spans ten minutes
_READINGS_PER_WINDOW = 720


class WindowRate:
    """A counter's rate over the last ``window`` seconds: from the newest reading at least that old.

    None until the readings span the window. Readings closer than ``window / 720`` to the one kept
    before are not kept, so a window holds at most about 720 whatever the interval.
    """

    def __init__(self, window: float) -> None:
        self._window = window
        self._spacing = window / _READINGS_PER_WINDOW
        self._readings: Deque[Tuple[float, float]] = deque()

    def update(self, timestamp: float, total: float) -> Optional[float]:
        readings = self._readings
        if not readings or timestamp - readings[-1][0] >= self._spacing:
            readings.append((timestamp, total))
        while len(readings) > 1 and timestamp - readings[1][0] >= self._window:
            readings.popleft()
        then, before = readings[0]
        span = timestamp - then
        if span < self._window:
            return None
        return max(0.0, total - before) / span


class Trend:
    """The least-squares slope of a gauge, per hour, over the last ``window`` seconds; None until the
    readings span ``min_span``."""

    def __init__(self, window: float, min_span: float) -> None:
        self._window, self._min_span = window, min_span
        self._spacing = window / _READINGS_PER_WINDOW
        self._readings: Deque[Tuple[float, float]] = deque()

    def update(self, timestamp: float, value: float) -> Optional[float]:
        readings = self._readings
        if len(readings) > 1 and timestamp - readings[-2][0] < self._spacing:
            readings.pop()  # the newest reading stands for the readings since the one kept before
        readings.append((timestamp, value))
        while timestamp - readings[0][0] > self._window:
            readings.popleft()
        if timestamp - readings[0][0] < self._min_span:
            return None
        times, values = zip(*readings)
        return slope(times, values) * 3600.0


class AlertSignals:
    """Turns snapshots into the signals of core/analysis/rules.py that need a window: memory growth,
    the garbage collector's rate, its normal and its pause share. Before the warm-up the process has
    no normal and no growth: imports and caches fill first."""

    def __init__(self) -> None:
        self._gc_rate = WindowRate(GC_WINDOW_SECONDS)
        self._gc_pauses = WindowRate(GC_WINDOW_SECONDS)
        self._normal: Deque[float] = deque(maxlen=NORMAL_READINGS)
        self._normal_minute: Optional[float] = None
        self._growth = Trend(GROWTH_WINDOW_SECONDS, GROWTH_MIN_SPAN_SECONDS)
        self.latest: Dict[str, Optional[float]] = {}

    def update(
        self,
        timestamp: float,
        used_mb: float,
        gc_collections: float,
        gc_pause_seconds: float,
        warmed_up: bool,
    ) -> Dict[str, Optional[float]]:
        rate = self._gc_rate.update(timestamp, gc_collections)
        pauses = self._gc_pauses.update(timestamp, gc_pause_seconds)
        minute = timestamp // NORMAL_STEP_SECONDS
        if warmed_up and rate is not None and minute != self._normal_minute:
            self._normal_minute = minute
            self._normal.append(rate)
        normal = median(sorted(self._normal)) if len(self._normal) >= NORMAL_MIN_READINGS else None
        self.latest = {
            "growth_mb_per_hour": self._growth.update(timestamp, used_mb) if warmed_up else None,
            "gc_collections_per_second": rate,
            "gc_normal_collections_per_second": normal,
            "gc_pause_percent": None if pauses is None else 100.0 * pauses,
        }
        return self.latest
