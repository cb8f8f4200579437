"""When the loop counts objects: every interval, or as often as the census budget allows.

A census holds the GIL one C call at a time, so its cadence adapts to its measured cost: at most
``census_budget`` of wall time goes to it. With ``census_max_pause`` set, after three censuses in a
row whose longest call (listing the heap, at any size worth bounding) held the GIL longer than that,
the next is an hour later: the heap is too large for the bound, and listing it again to find out
costs another pause. Three, because one reading can be far off: the first walk after a fork runs
three to ten times slower while copy-on-write pages fault in, and a busy machine preempts the walk.
The cheap figures (memory, GC) still come every interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["CensusCadence", "run_every"]

# A census is due once this share of its interval has passed: ticks land a little early or late.
_CENSUS_SLACK = 0.95
_LONGEST_WAIT = 3600.0  # seconds the loop sleeps at a time, whatever the interval
_OVER_PAUSE_RETRY = 3600.0  # seconds before a census is tried again once over the pause bound
_OVER_PAUSE_CENSUSES = 3  # censuses in a row over the bound before the census waits that long
# The container walk is cheap but for one census in fifteen or so: its cost is spread over the
# cycle, so that the walks do not stall the censuses that follow them.
_CONTAINER_SMOOTHING = 1.0 / 15.0


class CensusCadence:
    def __init__(self) -> None:
        self.census_seconds = 0.0  # smoothed cost of a census (0 before the first)
        self._container_seconds = 0.0
        self.over_pause = False  # the last censuses held the GIL longer than the pause bound
        self._over_in_a_row = 0
        self._last: float | None = None

    def interval(self, snapshot_interval: float, budget: float) -> float:
        """Seconds between censuses: the snapshot interval, or longer when the budget requires, or an
        hour after a census over the pause bound."""
        spacing = max(snapshot_interval, self.census_seconds / budget)
        return max(spacing, _OVER_PAUSE_RETRY) if self.over_pause else spacing

    def due(self, snapshot_interval: float, budget: float) -> bool:
        last = self._last
        return (
            last is None
            or time.monotonic() - last >= self.interval(snapshot_interval, budget) * _CENSUS_SLACK
        )

    def counted(
        self,
        started: float,
        census_seconds: float,
        container_seconds: float,
        pause: float = 0.0,
        max_pause: float = 0.0,
    ) -> bool:
        """A census that started at ``started`` (monotonic) took these seconds, and held the GIL for
        ``pause`` at most in one call. True when the census newly waits an hour: the last three went
        over ``max_pause`` (0: no bound)."""
        self._last = started
        self._over_in_a_row = self._over_in_a_row + 1 if 0 < max_pause < pause else 0
        was_over, self.over_pause = self.over_pause, self._over_in_a_row >= _OVER_PAUSE_CENSUSES
        self._container_seconds += (container_seconds - self._container_seconds) * _CONTAINER_SMOOTHING
        seconds = census_seconds + self._container_seconds
        # Smoothed, so that one slow census (a page fault storm) does not stall the next ones.
        self.census_seconds = (
            seconds if self.census_seconds == 0 else 0.7 * self.census_seconds + 0.3 * seconds
        )
        return self.over_pause and not was_over

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
