"""How long another thread of the host waits while a step runs: its longest gap between wake-ups."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Tuple


class Ticker:
    """A thread that wakes every ``every`` seconds and notes how late it was; use as a context."""

    def __init__(self, every: float = 0.0005) -> None:
        self.every = every
        self._gaps: List[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="ticker", daemon=True)

    def _tick(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(self.every)
            now = time.perf_counter()
            self._gaps.append(now - last)
            last = now

    def __enter__(self) -> "Ticker":
        self._thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def stall(self, step: Callable[[], Any]) -> Tuple[float, float]:
        """(the ticker's longest gap while ``step`` ran, the step's duration), in seconds."""
        time.sleep(0.05)
        self._gaps.clear()
        started = time.perf_counter()
        step()
        duration = time.perf_counter() - started
        time.sleep(0.01)
        return max(self._gaps, default=0.0), duration
