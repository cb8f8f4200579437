"""What the profiler knows after each snapshot: history, baseline drift, leaks and alerts.

One ``record()`` per snapshot moves the data one way (snapshot -> history -> detectors -> events);
everything else reads the cached results. Not thread-safe by itself: the profiler serialises it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..config import ProfilerConfig
from ..records import SEVERITIES, Alert, AllocationSite, BaselineDrift, Leak, MemorySnapshot
from .alerts import AlertState, alert_conditions
from .baseline import Baseline
from .forecast import seconds_to_limit
from .gcrate import RunningMedian, SpanRate
from .history import SnapshotHistory
from .leaks import LeakDetector, ObjectSizes
from .stats import slope

_GROWTH_RATE_MIN_SNAPSHOTS = 10
# A rate per hour read off minutes of data is noise: resident memory wobbles by a percent or two.
_GROWTH_RATE_MIN_SPAN_SECONDS = 600.0
_GC_RATE_MIN_SPAN_SECONDS = 1.0
# The share of time in collection pauses is a cost only when it lasts: read over five minutes, as
# MemoryGCSpike reads rate(...[5m]). Over a second, one full collection of a large heap is 5 % of
# it, and a host's other processes stretch a pause in wall time.
_GC_PAUSE_SPAN_SECONDS = 300.0
_MB = float(1 << 20)


class MemoryAnalysis:
    """``object_sizes`` measures bytes per object of leaking types (the profiler injects the heap
    walk); without it, leaks are ranked with a default size."""

    def __init__(self, config: ProfilerConfig, object_sizes: Optional[ObjectSizes] = None) -> None:
        self.config = config
        self._object_sizes = object_sizes
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
        self.baseline_settled = False
        self._started: Optional[float] = None
        self._episode_severity: Dict[str, str] = {}
        self._gc_rate = SpanRate(_GC_RATE_MIN_SPAN_SECONDS)
        self._gc_pause_share = SpanRate(_GC_PAUSE_SPAN_SECONDS)
        self._gc_normal = RunningMedian()

    def record(self, snapshot: MemorySnapshot, counts: Mapping[str, int]) -> Tuple[List[Leak], List[Alert]]:
        """Take in one snapshot; return the leaks that started or worsened and the alert transitions."""
        self.history.append(snapshot)
        self.total_snapshots += 1
        census = snapshot.census or self.latest_drift is None
        self.latest, self.latest_counts = snapshot, counts
        if self._started is None:
            self._started = snapshot.timestamp
        if self._baseline is None or (census and not self.baseline_settled and self.warmed_up):
            # Provisional until the warm-up has passed: caches, pools and imports fill first.
            self._baseline = Baseline(snapshot, counts)
            self.baseline_settled = self.warmed_up
        if census:
            self.latest_drift = self._drift()
            headroom = max(0.0, snapshot.heap_size_mb - snapshot.heap_used_mb) * _MB
            active = self.detector.observe(snapshot.timestamp, counts, headroom, self._object_sizes)
            new_leaks = self._remember_leaks(active)
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
        gc_per_second = self._gc_rate.update(snapshot.timestamp, sum(snapshot.gc_collections))
        gc_normal = self._gc_normal.value()
        if self._gc_rate.ready and self.warmed_up:  # idle before traffic, imports: not its normal
            self._gc_normal.add(gc_per_second)
        conditions = alert_conditions(
            self.config,
            heap_percent=snapshot.heap_percent,
            paging_leaks=len(self.paging_leaks),
            growth_percent_per_hour=self.growth_percent_per_hour(),
            gc_per_second=gc_per_second,
            gc_normal_per_second=gc_normal,
            gc_pause_percent=100.0
            * self._gc_pause_share.update(snapshot.timestamp, snapshot.gc_pause_seconds),
            drift_percent=self.latest_drift.heap_drift_percent if self.baseline_settled else None,
        )
        return new_leaks, self.alerts.update(conditions, snapshot.timestamp)

    @property
    def uptime_seconds(self) -> float:
        """Seconds from the first snapshot to the latest."""
        if self.latest is None or self._started is None:
            return 0.0
        return self.latest.timestamp - self._started

    @property
    def warmed_up(self) -> bool:
        """Whether ``warmup_seconds`` have passed since the first snapshot."""
        return self.latest is not None and self.uptime_seconds >= self.config.warmup_seconds

    @property
    def paging_leaks(self) -> List[Leak]:
        """Active leaks at or above ``leak_alert_severity``: those worth waking someone for."""
        threshold = SEVERITIES.index(self.config.leak_alert_severity)
        return [leak for leak in self.detector.active_leaks if SEVERITIES.index(leak.severity) >= threshold]

    def reset_baseline(self) -> None:
        """Make the latest snapshot the baseline (the next one, if none has been taken)."""
        if self.latest is None:
            self._baseline = None
            return
        self._baseline = Baseline(self.latest, self.latest_counts)
        self.baseline_settled = True
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
        """Resident memory's least-squares trend, in percent of its mean per hour, over the last
        ``growth_rate_window`` snapshots (or more, to span ten minutes) after the warm-up: a startup
        ramp is not growth."""
        if self._started is None:
            return 0.0
        times = self.history.column("timestamp")
        rss = self.history.column("rss_mb")
        start = max(0, len(times) - self.config.growth_rate_window)
        while start > 0 and times[-1] - times[start] < _GROWTH_RATE_MIN_SPAN_SECONDS:
            start -= 1
        settled = self._started + self.config.warmup_seconds
        while start < len(times) and times[start] < settled:
            start += 1
        times, rss = times[start:], rss[start:]
        if len(rss) < _GROWTH_RATE_MIN_SNAPSHOTS or times[-1] - times[0] < _GROWTH_RATE_MIN_SPAN_SECONDS:
            return 0.0
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
