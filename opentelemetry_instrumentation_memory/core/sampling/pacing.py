"""Handing the GIL over during a heap walk, so that the host's threads wait one C call at most."""

from __future__ import annotations

import time
from typing import Iterator, List, Optional

__all__ = ["Pacer", "paced_slices"]

_TARGET = 0.002  # seconds of work on one slice
_FIRST = 10_000  # items in the first slice, before the work per item is known
_LARGEST = 200_000  # items in a slice at most: after a run of cheap items may come dear ones


class Pacer:
    """Call between the C calls of a walk: once the walk has held the GIL for ``every`` seconds it
    hands it over (``time.sleep(0)``) to any thread waiting for it, which would otherwise wait the
    interpreter's switch interval (5 ms) on top of the call. A walk of many short calls pays one
    system call per ``every`` seconds, not one per call: on a busy machine each can cost a time slice.
    """

    __slots__ = ("every", "_since")

    def __init__(self, every: float = _TARGET) -> None:
        self.every = every
        self._since = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self._since >= self.every:
            time.sleep(0)
            self._since = time.perf_counter()


def paced_slices(
    items: List[object], holds: Optional[List[float]] = None, target: float = _TARGET, largest: int = _LARGEST
) -> Iterator[List[object]]:
    """Consecutive slices of ``items``, each sized from the last so that the caller's work on one
    takes about ``target`` seconds, with the GIL handed over between them. The work per object
    varies tenfold (tracemalloc tracing makes every new int a traced allocation), so a fixed size
    would not bound the hold. ``holds`` receives the seconds each slice's work took.

    The GIL is handed over before the first slice too: the caller has just listed the heap."""
    pace = Pacer(target)
    size, start = _FIRST, 0
    time.sleep(0)
    while start < len(items):
        pace()
        part = items[start : start + size]
        began = time.perf_counter()
        yield part
        held = time.perf_counter() - began
        part.clear()
        if holds is not None:
            holds.append(held)
        start += size
        size = max(100, min(largest, int(size * target / max(held, 1e-6))))
