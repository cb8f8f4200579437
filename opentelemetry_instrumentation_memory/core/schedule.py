"""When the loop counts objects: every interval, or as often as the census budget allows.

A census holds the GIL for as long as it takes, so its cadence adapts to its measured cost: at most
``census_budget`` of wall time goes to it. The cheap figures (memory, GC) still come every interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["CensusCadence", "run_every"]

# A census is due once this share of its interval has passed: ticks land a little early or late.
_CENSUS_SLACK = 0.95
_LONGEST_WAIT = 3600.0  # seconds the loop sleeps at a time, whatever the interval
# The container walk is cheap but for one census in fifteen or so: its cost is spread over the
# cycle, so that the walks do not stall the censuses that follow them.
_CONTAINER_SMOOTHING = 1.0 / 15.0


class CensusCadence:
    def __init__(self) -> None:
        self.census_seconds = 0.0  # smoothed cost of a census (0 before the first)
        self._container_seconds = 0.0
        self._last: float | None = None

    def interval(self, snapshot_interval: float, budget: float) -> float:
        """Seconds between censuses: the snapshot interval, or longer when the budget requires."""
        return max(snapshot_interval, self.census_seconds / budget)

    def due(self, snapshot_interval: float, budget: float) -> bool:
        last = self._last
        return (
            last is None
            or time.monotonic() - last >= self.interval(snapshot_interval, budget) * _CENSUS_SLACK
        )

    def counted(self, started: float, census_seconds: float, container_seconds: float) -> None:
        """A census that started at ``started`` (monotonic) took these seconds."""
        self._last = started
        self._container_seconds += (container_seconds - self._container_seconds) * _CONTAINER_SMOOTHING
        seconds = census_seconds + self._container_seconds
        # Smoothed, so that one slow census (a page fault storm) does not stall the next ones.
        self.census_seconds = (
            seconds if self.census_seconds == 0 else 0.7 * self.census_seconds + 0.3 * seconds
        )

    def restart(self) -> None:
        self._last = None


def run_every(stop: threading.Event, interval: Callable[[], float], tick: Callable[[], None]) -> None:
    """Call ``tick`` every ``interval()`` seconds until ``stop`` is set; a tick never raises here."""
    next_due = time.monotonic()
    while not stop.is_set():
        tick()
        next_due = max(next_due + interval(), time.monotonic())
        # In steps: Event.wait raises OverflowError past threading.TIMEOUT_MAX (about 9.2e9 s).
        while not stop.is_set() and time.monotonic() < next_due:
            stop.wait(min(next_due - time.monotonic(), _LONGEST_WAIT))
