"""What the profiler knows after each snapshot: history, baseline drift, leaks and alerts.

One ``record()`` per snapshot moves the data one way (snapshot -> history -> detectors -> events);
everything else reads the cached results. Not thread-safe by itself: the profiler serialises it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..config import ProfilerConfig
from ..records import SEVERITIES, Alert, AllocationSite, BaselineDrift, Leak, MemorySnapshot
from .alerts import AlertEngine
from .baseline import Baseline
from .folding import as_entries, holding_container, one_per_bug, with_entry_type
from .forecast import seconds_to_limit
from .history import SnapshotHistory
from .leaks import LeakDetector, ObjectSizes
from .rules import ALERT_RULES, AlertRule
from .signals import AlertSignals

_MB = float(1 << 20)
UNATTRIBUTED = "resident memory"  # the key of growth that no type or container explains
_UNATTRIBUTED_MIN_KIB = 16 * 1024
_EXPLAINED_SHARE = 0.5  # of resident growth the leaks found must hold for it to be theirs


def _detector(config: ProfilerConfig, min_growth: int) -> LeakDetector:
    """Types, containers and resident memory go through the same rules, over the same window."""
    return LeakDetector(
        window=config.leak_window, min_snapshots=config.leak_min_snapshots, min_growth=min_growth
    )


def _a_kib_each(names: Sequence[str]) -> Dict[str, float]:
    return {name: 1024.0 for name in names}


class MemoryAnalysis:
    """``object_sizes`` measures bytes per object of leaking types (the profiler injects the heap
    walk); without it, leaks are ranked with a default size."""

    def __init__(
        self,
        config: ProfilerConfig,
        object_sizes: Optional[ObjectSizes] = None,
        entry_sizes: Optional[ObjectSizes] = None,
        alert_rules: Tuple[AlertRule, ...] = ALERT_RULES,
    ) -> None:
        self.config = config
        self._object_sizes = object_sizes
        self._entry_sizes = entry_sizes
        self.history = SnapshotHistory(config.history_size)
        self.detector = _detector(config, config.leak_min_growth)
        # Containers by owner path, their lengths as counts: the same shape rules as types.
        self.container_detector = _detector(config, config.leak_min_growth)
        self.container_types: Dict[str, str] = {}
        # Resident memory in KiB, through the same rules: growth nothing above explains. Allocator
        # arenas and caches filling move it by megabytes in a healthy process; 16 MiB over the
        # window is the least worth a record.
        self.resident_detector = _detector(config, _UNATTRIBUTED_MIN_KIB)
        self._unattributed: Optional[Leak] = None
        self.alerts = AlertEngine(alert_rules)
        self._signals = AlertSignals()
        self.signals: Dict[str, Optional[float]] = {}
        # Memory the monitor itself added (a leak-site capture's tracing), booked by the profiler:
        # drift and growth read the memory used less it, so the monitor never alerts on itself.
        self.own_mb = 0.0
        # What a leak-site window still open held at the latest snapshot: left out the same way.
        self.window_mb = 0.0
        self._latest_host: Optional[MemorySnapshot] = None
        self.detected: "OrderedDict[str, Leak]" = OrderedDict()
        # Type leaks folded into the leaking container holding their objects: type -> container key.
        self.folded: Dict[str, str] = {}
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

    def record(
        self,
        snapshot: MemorySnapshot,
        counts: Mapping[str, int],
        containers: Optional[Mapping[str, Tuple[str, int]]] = None,
        window_bytes: int = 0,
    ) -> Tuple[List[Leak], List[Alert]]:
        """Take in one snapshot (and, with a census, the watched containers' types and lengths);
        return the leaks that started or worsened and the alert transitions. ``window_bytes``: what
        a leak-site window open at the snapshot held, the monitor's own until the window books it."""
        self.history.append(snapshot)
        self.total_snapshots += 1
        census = snapshot.census or self.latest_drift is None
        self.latest, self.latest_counts = snapshot, counts
        self.window_mb = window_bytes / _MB
        host = self._latest_host = self._less_own(snapshot)
        if self._started is None:
            self._started = snapshot.timestamp
        if self._baseline is None or (census and not self.baseline_settled and self.warmed_up):
            # Provisional until the warm-up has passed: caches, pools and imports fill first.
            self._baseline = Baseline(host, counts)
            self.baseline_settled = self.warmed_up
        if census:
            self.latest_drift = self._drift()
            headroom = max(0.0, snapshot.heap_size_mb - snapshot.heap_used_mb) * _MB
            active = self.detector.observe(snapshot.timestamp, counts, headroom, self._object_sizes)
            active += self._observe_containers(snapshot.timestamp, containers or {}, headroom)
            explained = sum(leak.retained_bytes_per_hour for leak in active)
            active += self._observe_resident(snapshot, headroom, explained)
            new_leaks = self._remember_leaks(active)
            self.time_to_limit = self._forecast(snapshot)
        else:  # the cheap path: object counts are the last census's, only the heap moved
            assert self.latest_drift is not None
            self.latest_drift = self._baseline.heap_drift(host, self.latest_drift)
            new_leaks = []
        self.signals = self._read_signals(snapshot, host)
        return new_leaks, self.alerts.evaluate(self.signals, self.config, snapshot.timestamp)

    def _forecast(self, snapshot: MemorySnapshot) -> Optional[float]:
        """Seconds to the limit at the trend of the snapshots taken after the warm-up: a startup ramp
        extrapolated reaches any limit within hours."""
        if not self.warmed_up or self._started is None:
            return None
        window = self.config.growth_rate_window
        times = self.history.column("timestamp", window)
        used = self.history.column("heap_used_mb", window)
        settled = self._started + self.config.warmup_seconds
        first = next((index for index, t in enumerate(times) if t >= settled), len(times))
        return seconds_to_limit(times[first:], used[first:], snapshot.heap_size_mb)

    def book_own_memory(self, added_bytes: int) -> None:
        """Count ``added_bytes`` of resident memory as the monitor's own, from now on: what a window
        left as it closed, in place of what it held while open."""
        self.own_mb += added_bytes / _MB
        self.window_mb = 0.0

    def _less_own(self, snapshot: MemorySnapshot) -> MemorySnapshot:
        own = self.own_mb + self.window_mb
        if not own:
            return snapshot
        return replace(snapshot, heap_used_mb=max(0.0, snapshot.heap_used_mb - own))

    def _read_signals(self, snapshot: MemorySnapshot, host: MemorySnapshot) -> Dict[str, Optional[float]]:
        """Every figure an alert rule compares (core/analysis/rules.py), as exported."""
        signals = self._signals.update(
            snapshot.timestamp,
            host.heap_used_mb,
            sum(snapshot.gc_collections),
            snapshot.gc_pause_seconds,
            self.warmed_up,
        )
        drift = self.latest_drift
        return dict(
            signals,
            heap_percent=snapshot.heap_percent,
            paging_leaks=float(len(self.paging_leaks)),
            baseline_drift_percent=drift.heap_drift_percent if drift and self.baseline_settled else None,
            time_to_limit_seconds=self.time_to_limit,
        )

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

    def _observe_containers(
        self, timestamp: float, containers: Mapping[str, Tuple[str, int]], headroom: float
    ) -> List[Leak]:
        self.container_types = {path: kind for path, (kind, _) in containers.items()}
        lengths = {path: length for path, (_, length) in containers.items()}
        found = self.container_detector.observe(timestamp, lengths, headroom, self._entry_sizes)
        return [self._as_container(leak) for leak in found]

    def _observe_resident(self, snapshot: MemorySnapshot, headroom: float, explained: float) -> List[Leak]:
        """Resident memory growing persistently, after the warm-up (a startup ramp is not growth),
        while the type and container leaks found hold less than half of its growth (``explained``,
        bytes an hour): none is found, or their objects keep memory their sizes do not show."""
        self._unattributed = None
        if not self.warmed_up:
            return []
        kib = {UNATTRIBUTED: int(snapshot.rss_mb * 1024)}
        found = self.resident_detector.observe(snapshot.timestamp, kib, headroom, _a_kib_each)
        if found and explained < _EXPLAINED_SHARE * found[0].retained_bytes_per_hour:
            self._unattributed = replace(found[0], kind="unattributed")
            return [self._unattributed]
        return []

    def _as_container(self, leak: Leak) -> Leak:
        known = self.detected.get(leak.object_type)
        kind = self.container_types.get(leak.object_type, known.object_type if known else "")
        return replace(leak, kind="container", container=leak.object_type, object_type=kind)

    @property
    def active_leaks(self) -> List[Leak]:
        """Type and container leaks active now, with what has been learnt of them since they were
        found (holders, sites)."""
        active = self.detector.active_leaks + [
            self._as_container(leak) for leak in self.container_detector.active_leaks
        ]
        if self._unattributed is not None:
            active.append(self._unattributed)
        reported = one_per_bug(active, self.folded, self.container_types)
        return [self.detected.get(leak.key, leak) for leak in reported]

    def fold(self, new_leaks: List[Leak]) -> List[Leak]:
        """Fold each new type leak whose objects a watched container holds into that container's
        record (``folding.py``), once its holders are known; returns ``new_leaks`` with the folded
        types as their containers' leaks, each reported once per episode, and again when a type
        is folded into a container already reported."""
        reported: Dict[str, Leak] = {}
        leaking = {leak.key for leak in self.container_detector.active_leaks}
        for leak in new_leaks + self._unfolded(new_leaks):
            into = holding_container(leak, self.container_types)
            if into is None:
                reported.setdefault(leak.key, leak)
                continue
            worst = self._episode_severity.get(into)
            self.forget([leak.key], dismiss=False)
            known = self.detected.get(into)
            # The container's record this episode: its own, or made for a type folded into it before.
            current = into in leaking or into in self.folded.values()
            self.folded[leak.key] = into
            if known is not None and known.kind == "container" and current:
                entry_type = with_entry_type(known.entry_type, leak.object_type)
                record = replace(known, entry_type=entry_type, sites=known.sites or leak.sites)
            else:
                record = as_entries(leak, into, self.container_types[into])
            self.detected[into] = record
            if worst is None or SEVERITIES.index(record.severity) > SEVERITIES.index(worst):
                self._episode_severity[into] = record.severity
                self.leak_detections[record.severity] = self.leak_detections.get(record.severity, 0) + 1
                reported[into] = record
            elif known is None or known.entry_type != record.entry_type:
                reported[into] = record  # reported before: again, now that its entries are known
        return [self.detected.get(key, leak) for key, leak in reported.items()]

    def _unfolded(self, new_leaks: List[Leak]) -> List[Leak]:
        """Type leaks found before, still standing alone, whose holding container is watched now
        (made after the last walk of the globals, it was not then)."""
        new = {leak.key for leak in new_leaks}
        records = (self.detected.get(leak.key) for leak in self.detector.active_leaks)
        return [
            leak
            for leak in records
            if leak is not None
            and leak.key not in new
            and leak.key not in self.folded
            and holding_container(leak, self.container_types) is not None
        ]

    @property
    def paging_leaks(self) -> List[Leak]:
        """Active leaks at or above ``leak_alert_severity``: those worth waking someone for."""
        threshold = SEVERITIES.index(self.config.leak_alert_severity)
        return [leak for leak in self.active_leaks if SEVERITIES.index(leak.severity) >= threshold]

    def reset_baseline(self) -> None:
        """Make the latest snapshot the baseline (the next one, if none has been taken)."""
        if self.latest is None:
            self._baseline = None
            return
        self._baseline = Baseline(self._latest_host or self.latest, self.latest_counts)
        self.baseline_settled = True
        self.latest_drift = self._drift()

    def attach_sites(self, sites: Mapping[str, Tuple[AllocationSite, ...]]) -> List[Leak]:
        """Give the records of these leaks (by key) their own allocation sites; return the updated."""
        return self._update(sites, lambda leak, found: replace(leak, sites=found))

    def mark_outside_python(self, keys: Sequence[str]) -> List[Leak]:
        """Say of these unattributed leaks that their growth lies outside Python's allocators; return
        those it was not said of before (a retry that finds the same says nothing new)."""
        new = [key for key in keys if key in self.detected and not self.detected[key].outside_python]
        return self._update(dict.fromkeys(new, True), lambda leak, _: replace(leak, outside_python=True))

    def attach_holders(self, holders: Mapping[str, Tuple[Tuple[str, float], ...]]) -> List[Leak]:
        """Give the records of these leaks (by key) the holders of their objects."""
        return self._update(holders, lambda leak, found: replace(leak, retained_by=found))

    def forget(self, keys: Sequence[str], dismiss: bool = True) -> None:
        """Drop the records of these leaks, and their counts; ``dismiss``: and stop detecting them
        (bounded structures hold them)."""
        for key in keys:
            leak = self.detected.pop(key, None)
            if leak is not None and self.leak_detections.get(leak.severity):
                self.leak_detections[leak.severity] -= 1
            self._episode_severity.pop(key, None)
        if dismiss:
            self.detector.dismiss(keys)

    def _update(self, found: Mapping[str, object], change: "Callable[[Leak, Any], Leak]") -> List[Leak]:
        updated = []
        for key, value in found.items():
            leak = self.detected.get(key)
            if leak is not None and value:
                updated.append(change(leak, value))
                self.detected[key] = updated[-1]
        return updated

    def clear_leaks(self) -> None:
        self.detected.clear()
        self.folded.clear()
        self._episode_severity.clear()
        self.detector.clear()
        self.container_detector.clear()
        self.resident_detector.clear()
        self._unattributed = None

    def _drift(self) -> BaselineDrift:
        assert self._baseline is not None and self._latest_host is not None
        return self._baseline.compare(
            self._latest_host,
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
        types = {leak.key for leak in active if leak.kind == "type"}
        self.folded = {key: into for key, into in self.folded.items() if key in types}
        for leak in one_per_bug(active, self.folded, self.container_types):
            known = self.detected.get(leak.key)
            if known is not None:
                leak = replace(
                    leak,
                    sites=leak.sites or known.sites,
                    retained_by=known.retained_by,
                    entry_type=known.entry_type,
                    outside_python=known.outside_python,
                )
            worst = before.get(leak.key)
            if worst is None or SEVERITIES.index(leak.severity) > SEVERITIES.index(worst):
                news.append(leak)
                self.leak_detections[leak.severity] = self.leak_detections.get(leak.severity, 0) + 1
                worst = leak.severity
            self._episode_severity[leak.key] = worst
            self.detected[leak.key] = leak
            self.detected.move_to_end(leak.key)
        while len(self.detected) > self.config.max_detected_leaks:
            self.detected.popitem(last=False)
        return news
