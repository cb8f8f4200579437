"""Rates of the garbage collector's counters, and the process's own normal rate."""

from __future__ import annotations

from collections import deque
from typing import Deque, Optional, Tuple

from .stats import median


class SpanRate:
    """A counter's rate since the latest reading at least ``min_span`` seconds older than now.

    Snapshots taken moments apart (by hand, next to the loop's) would turn one garbage collection
    into a spike; a second is the shortest span worth a rate. Zero until the readings span that long,
    or until ``max_readings`` are kept (snapshots too frequent for the span: the rate is then read
    over what they cover).
    """

    def __init__(self, min_span: float, max_readings: int = 1024) -> None:
        self._min_span = min_span
        self._readings: Deque[Tuple[float, float]] = deque(maxlen=max_readings)
        self.ready = False

    def update(self, timestamp: float, total: float) -> float:
        readings = self._readings
        readings.append((timestamp, total))
        # Keep exactly one reading at least min_span old: the newest such is the reference.
        while len(readings) > 1 and timestamp - readings[1][0] >= self._min_span:
            readings.popleft()
        then, before = readings[0]
        span = timestamp - then
        self.ready = span > 0.0 and (span >= self._min_span or len(readings) == readings.maxlen)
        return max(0.0, total - before) / span if self.ready else 0.0


class RunningMedian:
    """The median of the last ``size`` readings; None until ``min_readings`` have been seen."""

    def __init__(self, size: int = 120, min_readings: int = 10) -> None:
        self._readings: Deque[float] = deque(maxlen=size)
        self._min_readings = min_readings

    def add(self, value: float) -> None:
        self._readings.append(value)

    def value(self) -> Optional[float]:
        if len(self._readings) < self._min_readings:
            return None
        return median(sorted(self._readings))
