"""The baseline a process is compared against, and its drift from it."""

from __future__ import annotations

import heapq
from typing import Mapping

from ..records import BaselineDrift, MemorySnapshot, TypeDrift


class Baseline:
    """A snapshot and its full census, kept to measure drift from.

    A type's drift is significant when it moved by at least ``significant_percent`` of its baseline
    count (of one, for a type new since the baseline) and by at least ``min_significant_count``
    objects, so that tiny types do not swamp it.
    """

    def __init__(self, snapshot: MemorySnapshot, counts: Mapping[str, int]) -> None:
        self.snapshot = snapshot
        self.counts = dict(counts)

    def compare(
        self,
        snapshot: MemorySnapshot,
        counts: Mapping[str, int],
        top_n: int,
        significant_percent: float,
        min_significant_count: int,
    ) -> BaselineDrift:
        base = self.snapshot
        drifts = {
            name: counts.get(name, 0) - self.counts.get(name, 0)
            for name in self.counts.keys() | counts.keys()
        }
        moved = ((name, drift) for name, drift in drifts.items() if drift)
        movers = heapq.nlargest(top_n, moved, key=lambda item: abs(item[1]))
        significant = []
        for name, drift in sorted(drifts.items(), key=lambda item: -abs(item[1])):
            if abs(drift) < min_significant_count:
                break
            before = self.counts.get(name, 0)
            percent = 100.0 * drift / max(before, 1)
            if abs(percent) >= significant_percent:
                significant.append(TypeDrift(name, before, counts.get(name, 0), drift, round(percent, 2)))
        return BaselineDrift(
            baseline_timestamp=base.timestamp,
            timestamp=snapshot.timestamp,
            heap_drift_mb=0.0,
            heap_drift_percent=0.0,
            total_objects_drift=snapshot.total_objects - base.total_objects,
            object_drift=dict(movers),
            significant_drifts=tuple(significant),
        ).with_heap(self.snapshot, snapshot)

    def heap_drift(self, snapshot: MemorySnapshot, objects: BaselineDrift) -> BaselineDrift:
        """``objects``' type drift (from the last census) with the heap drift of ``snapshot``."""
        return objects.with_heap(self.snapshot, snapshot)
