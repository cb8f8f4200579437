"""Garbage-collection pauses, timed through ``gc.callbacks``, and the collections the package's
own threads set off.

The callback only reads a clock and appends to a bounded deque: no lock, no allocation beyond one
tuple, because it runs inside whatever thread the collector interrupted. A collection runs in the
thread whose allocation crossed the threshold: one in a thread of the package's (a census, a walk,
an export) is the monitor's, counted apart so that it never reads as the host's collection rate or
pause share (an idle process read 97 collections a second, all the profiler's).
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from typing import Deque, Dict, List, Tuple

Pause = Tuple[float, int, float]  # (monotonic end time, generation, seconds)
OWN_THREADS = "otel-memory-"  # the prefix of every thread the package starts


class GCPauses:
    def __init__(self, capacity: int = 4096) -> None:
        self._started = 0.0
        self._own = False
        self.own_collections = [0, 0, 0]  # by generation: set off by the package's own threads
        self._recent: Deque[Pause] = deque(maxlen=capacity)
        self._unread: Deque[Pause] = deque(maxlen=capacity)
        self.installed = False
        self.total_seconds = 0.0  # every pause timed so far

    def _callback(self, phase: str, info: Dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
            self._own = threading.current_thread().name.startswith(OWN_THREADS)
            if self._own:
                generation = info.get("generation", 0)
                if 0 <= generation < len(self.own_collections):
                    self.own_collections[generation] += 1
        elif self._started:
            pause = (time.monotonic(), info.get("generation", 0), now - self._started)
            if not self._own:
                self.total_seconds += pause[2]
            self._recent.append(pause)
            self._unread.append(pause)
            self._started = 0.0

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._callback)
            self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            gc.callbacks.remove(self._callback)
            self.installed = False

    def take_unread(self) -> List[Tuple[int, float]]:
        """(generation, seconds) of the pauses since the last call."""
        taken = []
        while self._unread:
            _, generation, seconds = self._unread.popleft()
            taken.append((generation, seconds))
        return taken

    def longest(self, window_seconds: float) -> float:
        """The longest pause that ended within the last ``window_seconds`` (0 if none)."""
        since = time.monotonic() - window_seconds
        return max((seconds for ended, _, seconds in list(self._recent) if ended >= since), default=0.0)
