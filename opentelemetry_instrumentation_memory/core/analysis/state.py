"""What the profiler knows after each snapshot: history, baseline drift, leaks and alerts.

One ``record()`` per snapshot moves the data one way (snapshot -> history -> detectors -> events);
everything else reads the cached results. Not thread-safe by itself: the profiler serialises it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import replace
from typing import Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from ..config import ProfilerConfig
from ..records import SEVERITIES, Alert, AllocationSite, BaselineDrift, Leak, MemorySnapshot
from .alerts import AlertState, alert_conditions
from .baseline import Baseline
from .forecast import seconds_to_limit
from .history import SnapshotHistory
from .leaks import LeakDetector
from .stats import slope

_GROWTH_RATE_MIN_SNAPSHOTS = 10
_GROWTH_RATE_MIN_SPAN_SECONDS = 30.0
_GC_RATE_MIN_SPAN_SECONDS = 1.0


class MemoryAnalysis:
    def __init__(self, config: ProfilerConfig) -> None:
        self.config = config
        self.history = SnapshotHistory(config.history_size)
        self.detector = LeakDetector(
            window=config.leak_window,
            min_snapshots=config.leak_min_snapshots,
            min_growth=config.leak_min_growth,
        )
        self.alerts = AlertState()
        self.detected: "OrderedDict[str, Leak]" = OrderedDict()
        self.leak_detections: Dict[str, int] = {}
        self.total_snapshots = 0
        self.latest: Optional[MemorySnapshot] = None
        self.latest_drift: Optional[BaselineDrift] = None
        self.time_to_limit: Optional[float] = None
        self.latest_counts: Mapping[str, int] = {}
        self._baseline: Optional[Baseline] = None
        self._episode_severity: Dict[str, str] = {}
        self._gc_rate = _SpanRate(_GC_RATE_MIN_SPAN_SECONDS)

    def record(self, snapshot: MemorySnapshot, counts: Mapping[str, int]) -> Tuple[List[Leak], List[Alert]]:
        """Take in one snapshot; return the leaks that started or worsened and the alert transitions."""
        self.history.append(snapshot)
        self.total_snapshots += 1
        census = snapshot.census or self.latest_drift is None
        self.latest, self.latest_counts = snapshot, counts
        if self._baseline is None:
            self._baseline = Baseline(snapshot, counts)
        if census:
            self.latest_drift = self._drift()
            new_leaks = self._remember_leaks(self.detector.observe(snapshot.timestamp, counts))
            window = self.config.growth_rate_window
            self.time_to_limit = seconds_to_limit(
                self.history.column("timestamp", window),
                self.history.column("rss_mb", window),
                snapshot.heap_size_mb,
            )
        else:  # the cheap path: object counts are the last census's, only the heap moved
            assert self.latest_drift is not None
            self.latest_drift = self._baseline.heap_drift(snapshot, self.latest_drift)
            new_leaks = []
        conditions = alert_conditions(
            self.config,
            heap_percent=snapshot.heap_percent,
            active_leaks=len(self.detector.active_leaks),
            growth_percent_per_hour=self.growth_percent_per_hour(),
            gc_per_second=self._gc_rate.update(snapshot.timestamp, sum(snapshot.gc_collections)),
            drift_percent=self.latest_drift.heap_drift_percent,
        )
        return new_leaks, self.alerts.update(conditions, snapshot.timestamp)

    def reset_baseline(self) -> None:
        """Make the latest snapshot the baseline (the next one, if none has been taken)."""
        if self.latest is None:
            self._baseline = None
            return
        self._baseline = Baseline(self.latest, self.latest_counts)
        self.latest_drift = self._drift()

    def attach_sites(self, object_types: Sequence[str], sites: Tuple[AllocationSite, ...]) -> List[Leak]:
        """Give the records of these leaks their allocation sites; return the updated records."""
        updated = []
        for name in object_types:
            leak = self.detected.get(name)
            if leak is not None:
                updated.append(replace(leak, sites=sites))
                self.detected[name] = updated[-1]
        return updated

    def clear_leaks(self) -> None:
        self.detected.clear()
        self._episode_severity.clear()
        self.detector.clear()

    def growth_percent_per_hour(self) -> float:
        """Resident memory's least-squares trend over recent history, in percent of its mean per hour."""
        window = self.config.growth_rate_window
        rss = self.history.column("rss_mb", window)
        if len(rss) < min(window, _GROWTH_RATE_MIN_SNAPSHOTS):
            return 0.0
        times = self.history.column("timestamp", window)
        if times[-1] - times[0] < _GROWTH_RATE_MIN_SPAN_SECONDS:
            return 0.0  # a rate per hour from seconds of data is noise, however many snapshots
        mean = sum(rss) / len(rss)
        per_second = slope(times, rss)
        return 100.0 * per_second * 3600.0 / mean if mean else 0.0

    def _drift(self) -> BaselineDrift:
        assert self._baseline is not None and self.latest is not None
        return self._baseline.compare(
            self.latest,
            self.latest_counts,
            self.config.top_objects_count,
            self.config.significant_drift_percent,
            self.config.significant_drift_min_count,
        )

    def _remember_leaks(self, active: List[Leak]) -> List[Leak]:
        """Keep the latest record of every leak; return those that started or grew more severe.

        Severity is remembered as the worst of the episode, so one wobbling between two levels is
        reported once at each level, not on every wobble.
        """
        news = []
        before, self._episode_severity = self._episode_severity, {}
        for leak in active:
            known = self.detected.get(leak.object_type)
            if known is not None and known.sites and not leak.sites:
                leak = replace(leak, sites=known.sites)
            worst = before.get(leak.object_type)
            if worst is None or SEVERITIES.index(leak.severity) > SEVERITIES.index(worst):
                news.append(leak)
                self.leak_detections[leak.severity] = self.leak_detections.get(leak.severity, 0) + 1
                worst = leak.severity
            self._episode_severity[leak.object_type] = worst
            self.detected[leak.object_type] = leak
            self.detected.move_to_end(leak.object_type)
        while len(self.detected) > self.config.max_detected_leaks:
            self.detected.popitem(last=False)
        return news


class _SpanRate:
    """A counter's rate since the latest reading at least ``min_span`` seconds older than now.

    Snapshots taken moments apart (by hand, next to the loop's) would turn one garbage collection
    into a spike; a second is the shortest span worth a rate. Zero until the readings span that long.
    """

    def __init__(self, min_span: float, max_readings: int = 1024) -> None:
        self._min_span = min_span
        self._readings: Deque[Tuple[float, float]] = deque(maxlen=max_readings)

    def update(self, timestamp: float, total: float) -> float:
        readings = self._readings
        readings.append((timestamp, total))
        # Keep exactly one reading at least min_span old: the newest such is the reference.
        while len(readings) > 1 and timestamp - readings[1][0] >= self._min_span:
            readings.popleft()
        then, before = readings[0]
        span = timestamp - then
        return max(0.0, total - before) / span if span >= self._min_span else 0.0
