"""Where is it leaking? The sampled heap profile answers at the verdict, with no tracemalloc window.

The allocation sampler (``core/sampling/allocations.py``) keeps the sampled blocks still alive, each
with its stack and the bytes it stands for. A leak's own objects (its type's instances, its
container's newest entries) that were sampled name the lines that allocated them; growth nobody's
objects explain gets the lines whose live sampled bytes grew most since the oldest reading kept (one
per census). A line is the one ``frames.site_index`` names: the application's innermost frame; the
profiler's own allocations have none.
"""

from __future__ import annotations

import collections
import time
from typing import Deque, Dict, Iterable, Optional, Sequence, Tuple

from ..records import AllocationSite
from ..sampling.allocations import SAMPLER, AllocationSampler, Frame, Row
from .frames import site_index
from .sites import trim_path

READINGS = 32  # censuses of live bytes by line kept, to tell growth
READING_SITES = 64  # lines kept per reading: the largest

Line = Tuple[str, int]


def by_line(rows: Iterable[Row]) -> Dict[Line, Tuple[float, float, Tuple[Frame, ...]]]:
    """Estimated live bytes and blocks per site line, with one stack that leads to it (innermost
    first: the library frames below the line included); the profiler's own allocations left out."""
    lines: Dict[Line, Tuple[float, float, Tuple[Frame, ...]]] = {}
    for frames, _, size, blocks in rows:
        index = site_index([file for file, _, _ in frames])
        if index is None:
            continue
        key = (frames[index][0], frames[index][2])
        total_size, total_blocks, trail = lines.get(key, (0.0, 0.0, tuple(frames)))
        lines[key] = (total_size + size, total_blocks + blocks, trail)
    return lines


def to_sites(
    lines: Dict[Line, Tuple[float, float, Tuple[Frame, ...]]], top: int, root: str
) -> Tuple[AllocationSite, ...]:
    ranked = sorted(lines.items(), key=lambda item: -item[1][0])[:top]
    return tuple(
        AllocationSite(
            trim_path(file, root),
            line,
            int(size),
            max(int(round(blocks)), 1),
            tuple(f"{trim_path(f, root)}:{n}" for f, _, n in reversed(trail)),
        )
        for (file, line), (size, blocks, trail) in ranked
        if size > 0
    )


class HeapProfile:
    """One profiler's view of the process's sampled heap: readings kept per census, bounded."""

    def __init__(self, sampler: AllocationSampler = SAMPLER) -> None:
        self.sampler = sampler
        self._readings: Deque[Dict[Line, Tuple[float, float, Tuple[Frame, ...]]]] = collections.deque(
            maxlen=READINGS
        )
        # (monotonic seconds, estimated live bytes on every line) of each reading kept.
        self._totals: Deque[Tuple[float, float]] = collections.deque(maxlen=READINGS)

    @property
    def running(self) -> bool:
        return self.sampler.running

    def start(self, interval: int) -> bool:
        return self.sampler.start(self, interval)

    def stop(self) -> None:
        self.sampler.stop(self)
        self._readings.clear()
        self._totals.clear()

    def record(self, window: int) -> None:
        """Keep this census's live bytes by line; growth is told over the last ``window`` readings."""
        lines = by_line(self.sampler.live())
        largest = sorted(lines.items(), key=lambda item: -item[1][0])[:READING_SITES]
        while len(self._readings) >= max(min(window, READINGS), 2):
            self._readings.popleft()
            self._totals.popleft()
        self._readings.append(dict(largest))
        self._totals.append((time.monotonic(), sum(size for size, _, _ in lines.values())))

    def growth_per_hour(self) -> Optional[float]:
        """Estimated bytes an hour by which Python's allocators' live blocks grew over the readings
        kept; None before two readings. Resident growth far beyond it lies outside Python's
        allocators (a C library's ``malloc``)."""
        if len(self._totals) < 2 or self._totals[-1][0] <= self._totals[0][0]:
            return None
        (start, first), (end, last) = self._totals[0], self._totals[-1]
        return (last - first) * 3600.0 / (end - start)

    def sites_of(self, objects: Sequence[object], top: int, root: str) -> Tuple[AllocationSite, ...]:
        """Where the sampled ones among ``objects`` were allocated, the lines holding most first."""
        return to_sites(by_line(self.sampler.find(objects)), top, root)

    def growing(self, top: int, root: str) -> Tuple[AllocationSite, ...]:
        """The lines whose live sampled bytes grew most over the readings kept."""
        if len(self._readings) < 2:
            return ()
        first, last = self._readings[0], self._readings[-1]
        grown = {
            key: (size - first.get(key, (0.0, 0.0, ()))[0], blocks - first.get(key, (0.0, 0.0, ()))[1], trail)
            for key, (size, blocks, trail) in last.items()
        }
        return to_sites({key: value for key, value in grown.items() if value[0] > 0}, top, root)

    def live_sites(self, top: int, root: str) -> Tuple[AllocationSite, ...]:
        """The lines holding the most live bytes now (``size_diff_bytes``: bytes held)."""
        return to_sites(by_line(self.sampler.live()), top, root)

    def after_fork_in_child(self) -> None:
        """The child's growth is told from its own readings."""
        self._readings.clear()
        self._totals.clear()
