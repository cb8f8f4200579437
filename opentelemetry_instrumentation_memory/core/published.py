"""What host threads read of the profiler: one immutable record, replaced whole after each cycle.

The cycle (sample, walks, analysis) owns the mutable analysis; when it ends it publishes this record
by swapping one reference. Readers (properties, instruments, log sinks) take the reference and read
it: they never wait on a walk and never see an analysis half updated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

from .analysis.state import MemoryAnalysis
from .records import Alert, BaselineDrift, Leak, MemorySnapshot

__all__ = ["Published"]


@dataclass(frozen=True)
class Published:
    latest: Optional[MemorySnapshot] = None
    latest_counts: Mapping[str, int] = field(default_factory=dict)
    drift: Optional[BaselineDrift] = None
    time_to_limit: Optional[float] = None
    active_leaks: Tuple[Leak, ...] = ()
    paging_leaks: Tuple[Leak, ...] = ()
    detected_leaks: Tuple[Leak, ...] = ()
    alerts: Tuple[Alert, ...] = ()
    total_snapshots: int = 0
    uptime_seconds: float = 0.0
    baseline_settled: bool = False
    tracked_types: int = 0
    leak_detections: Mapping[str, int] = field(default_factory=dict)
    signals: Mapping[str, Optional[float]] = field(default_factory=dict)
    alert_states: Mapping[str, int] = field(default_factory=dict)
    own_mb: float = 0.0

    @classmethod
    def of(cls, analysis: MemoryAnalysis) -> "Published":
        """A copy of what ``analysis`` knows now (called by the thread that owns it)."""
        return cls(
            latest=analysis.latest,
            latest_counts=analysis.latest_counts,
            drift=analysis.latest_drift,
            time_to_limit=analysis.time_to_limit,
            active_leaks=tuple(analysis.active_leaks),
            paging_leaks=tuple(analysis.paging_leaks),
            detected_leaks=tuple(analysis.detected.values()),
            alerts=tuple(analysis.alerts.firing),
            total_snapshots=analysis.total_snapshots,
            uptime_seconds=analysis.uptime_seconds,
            baseline_settled=analysis.baseline_settled,
            tracked_types=analysis.detector.tracked_types,
            leak_detections=dict(analysis.leak_detections),
            signals=analysis.signals,
            alert_states=analysis.alerts.states(),
            own_mb=analysis.own_mb + analysis.window_mb,
        )

    def without_leaks(self) -> "Published":
        """This record with no leaks: what ``clear_detected_leaks()`` shows until the cycle applies it."""
        return Published(**{**self.__dict__, "active_leaks": (), "paging_leaks": (), "detected_leaks": ()})
