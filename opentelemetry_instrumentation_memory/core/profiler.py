"""``MemoryProfiler``: the public face. It schedules snapshots on its own thread, runs each through
the analysis in one cycle at a time, and hands the resulting events to callbacks.

Everything a reader needs (latest snapshot, drift, leaks, alerts) is published after each cycle as
one immutable record (``published.Published``): reading it never walks the heap nor waits for a walk.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import tracemalloc
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from .analysis.alerts import AlertEngine
from .analysis.history import SnapshotHistory
from .analysis.rules import ALERT_RULES, AlertRule
from .analysis.state import MemoryAnalysis
from .compat import SeedCompatibility
from .config import ProfilerConfig
from .diagnosis.capture import SiteCapture
from .diagnosis.examiner import LeakExaminer
from .diagnosis.heap_profile import HeapProfile
from .diagnosis.holders import Holders
from .diagnosis.own import OwnObjects
from .diagnosis.sites import Sites
from .diagnosis.unexplained import NEWEST_ENTRIES, holders_of_growth, outside_python
from .dispatch import Callback, CallbackDispatcher, RateLimitedLog
from .published import Published
from .records import Alert, BaselineDrift, DetectionEvents, Leak, MemoryLimit, MemorySnapshot
from .sampling import fork
from .sampling.gcpauses import GCPauses
from .sampling.limits import effective_memory_limit
from .sampling.pacing import Hold, holding
from .sampling.sizes import owned_parts
from .sampling.snapshot import SnapshotTaker
from .schedule import CensusCadence, run_every
from .validation import require_number

_logger = logging.getLogger(__name__)

LEAK_EVENTS = "leak"
ALERT_EVENTS = "alert"
DETECTION_EVENTS = "detection"
_SITE_FRAMES = 10  # enough to see past helpers into the code that keeps the objects
_SITE_COUNT = 5
# Objects of a leak looked up in the sampled heap: at one sample per 512 KiB, 50,000 objects of 56
# bytes hold about five samples. A list of them lives for the lookup (400 KB).
_HEAP_LOCATE = 50_000
_HEAP_RETRY_CEILING = 64  # censuses between two lookups for a leak no sample explains yet
_SITE_SETTINGS = (
    "leak_site_window_seconds",
    "leak_site_cooldown_seconds",
    "tracemalloc_frames",
    "leak_site_path_root",
)
_REBUILDING_SETTINGS = ("history_size", "leak_window", "leak_min_snapshots", "leak_min_growth")


def _threshold(name: str) -> property:
    """A settable attribute backed by the configuration, validated on assignment."""

    def get(self: "MemoryProfiler") -> Any:
        return getattr(self._config, name)

    def set_(self: "MemoryProfiler", value: Any) -> None:
        self.configure(**{name: value})

    return property(get, set_, doc=f"The ``{name}`` setting; assigning it validates it.")


class MemoryProfiler(SeedCompatibility):
    """Profiles the memory of the process it runs in. Thread-safe; the seed's async spellings and
    dict views are in ``SeedCompatibility``.

    One cycle at a time (the loop's, or an explicit census) samples, walks the heap and runs the
    analysis, holding ``_cycle``; no host call but a census waits for it. Host calls read the
    ``Published`` record the last cycle left, and hand changes (settings, resets) to the cycle as
    ``_pending`` steps: run at once when no cycle runs, else by the cycle before it publishes.
    """

    heap_warning_percent = _threshold("heap_warning_percent")
    heap_critical_percent = _threshold("heap_critical_percent")
    growth_rate_warning = _threshold("growth_rate_warning")
    growth_rate_critical = _threshold("growth_rate_critical")
    gc_spike_per_second = _threshold("gc_spike_per_second")
    baseline_drift_warning_percent = _threshold("baseline_drift_warning_percent")
    baseline_drift_critical_percent = _threshold("baseline_drift_critical_percent")

    def __init__(
        self,
        snapshot_interval: float = 60.0,
        enable_tracemalloc: bool = False,
        top_objects_count: int = 20,
        *,
        limit_reader: Callable[[], MemoryLimit] = effective_memory_limit,
        alert_rules: Tuple[AlertRule, ...] = ALERT_RULES,
        **settings: Any,
    ) -> None:
        self._config = ProfilerConfig().updated(
            snapshot_interval=snapshot_interval,
            enable_tracemalloc=enable_tracemalloc,
            top_objects_count=top_objects_count,
            **settings,
        )
        self._alert_rules = alert_rules
        self.gc_pauses = GCPauses()
        self._taker = SnapshotTaker(
            limit_reader,
            gc_pause_seconds=lambda: self.gc_pauses.total_seconds,
            own_collections=lambda: self.gc_pauses.own_collections,
        )
        self._examiner = LeakExaminer()
        self._own = OwnObjects(roots=lambda: (self,))
        self._examiner.containers.literal_keys = self._config.leak_owner_literal_keys
        self._dispatcher = CallbackDispatcher()
        self._started_tracemalloc = False
        self._cadence = CensusCadence()
        self._baseline_reset_requested = False
        self._new_locks()
        self._analysis = self._new_analysis(self._config)
        self._sites = self._site_capture()
        self._heap = HeapProfile()
        self._censuses = 0
        self._heap_tries: Dict[str, Tuple[int, int]] = {}  # leak key -> (lookups, next census)
        fork.register(self)

    def _new_locks(self) -> None:
        self._cycle = threading.RLock()  # one cycle at a time; the capture thread nests it
        self._settings = threading.Lock()  # configure() against configure(): never held for a walk
        self._lifecycle = threading.Lock()  # start() against stop(): never held for a walk
        self._pending: Deque[Callable[[], None]] = collections.deque()
        self._state = Published()
        # The last census, which a cheap snapshot reuses (kept through reset(): a reset forgets the
        # analysis, not the heap, and a cheap snapshot must never wait for a census).
        self._last_census: Optional[Tuple[MemorySnapshot, Mapping[str, int]]] = None
        self._stop_event = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._loop_log = RateLimitedLog(_logger)

    def _site_settings(self) -> Dict[str, Any]:
        config = self._config
        return dict(
            window=config.leak_site_window_seconds,
            cooldown=config.leak_site_cooldown_seconds,
            frames=max(config.tracemalloc_frames, _SITE_FRAMES),
            top=_SITE_COUNT,
            root=config.leak_site_path_root or os.getcwd(),
        )

    def _site_capture(self) -> SiteCapture:
        return SiteCapture(
            **self._site_settings(),
            on_sites=self._attach_sites,
            quiet=self._cycle,
            locate=self._locate,
            on_own_memory=self._book_own_memory,
        )

    def _new_analysis(self, config: ProfilerConfig) -> MemoryAnalysis:
        examiner = self._examiner
        return MemoryAnalysis(config, examiner.object_sizes, examiner.entry_sizes, self._alert_rules)

    @property
    def alert_rules(self) -> Tuple[AlertRule, ...]:
        """The alert definitions the profiler evaluates: by default those the shipped Prometheus rules
        are written from. Others (tests without durations, say) no longer match the shipped rules."""
        return self._alert_rules

    @alert_rules.setter
    def alert_rules(self, rules: Tuple[AlertRule, ...]) -> None:
        rules = tuple(rules)
        if not all(isinstance(rule, AlertRule) for rule in rules):
            raise ValueError(f"alert_rules must be AlertRule definitions, got {rules!r:.200}")

        def take_rules() -> None:
            self._alert_rules = rules
            self._analysis.alerts = AlertEngine(rules)

        self._apply(take_rules)

    # Changes handed to the cycle

    def _apply(self, change: Callable[[], None]) -> None:
        """Run ``change`` (to the analysis) now if no cycle runs, else leave it to the running one."""
        self._pending.append(change)
        self._drain()

    def _drain(self) -> None:
        """Apply pending changes and publish, unless a cycle runs: it drains before it releases,
        and again after (a change handed over meanwhile is not left waiting for the next cycle)."""
        while self._pending:
            if not self._cycle.acquire(blocking=False):
                return
            try:
                self._run_pending()
            finally:
                self._cycle.release()

    def _run_pending(self) -> None:
        """Under ``_cycle``: apply every pending change, then publish what the analysis knows."""
        while self._pending:
            change = self._pending.popleft()
            try:
                change()
            except Exception as error:  # a change never takes the cycle down
                self._loop_log.error("change", error, "memory profiler could not apply a change")
        self._state = Published.of(self._analysis)

    def _locate(self, keys: Sequence[str]) -> Dict[str, List[object]]:
        """Objects to ask tracemalloc about, for these leaks and any found since, still unsited."""
        with self._cycle:
            detected = self._analysis.detected
            kinds = {key: detected[key].kind for key in keys if key in detected}
            kinds.update((leak.key, leak.kind) for leak in self._analysis.active_leaks if not leak.sites)
            return self._examiner.locate(kinds)

    def _book_own_memory(self, added: int) -> None:
        self._apply(lambda: self._analysis.book_own_memory(added))

    def _attach_sites(self, sites: Sites) -> None:
        def attach() -> None:
            leaks = self._analysis.attach_sites(sites)
            latest = self._analysis.latest
            if latest is not None:
                self._dispatch(latest, leaks, [])

        self._apply(attach)

    def _explain(self, new_leaks: List[Leak]) -> List[Leak]:
        """Name the holders of newly found type leaks; drop those that bounded structures hold."""
        fresh = [leak.object_type for leak in new_leaks if leak.kind == "type" and not leak.retained_by]
        if not fresh:
            return new_leaks
        holders, held_by_bounded = self._examiner.holders(fresh)
        self._analysis.forget(held_by_bounded)
        explained = {leak.key: leak for leak in self._analysis.attach_holders(holders)}
        return [explained.get(leak.key, leak) for leak in new_leaks if leak.key not in held_by_bounded]

    def _heap_sites(self, new_leaks: List[Leak]) -> List[Leak]:
        """Under ``_cycle``, at a census: active leaks without sites get theirs from the sampled heap,
        at the verdict's census, else after 1, 2, 4... more (looking their objects up walks the heap).
        Returns ``new_leaks`` with their sites, and older leaks that got theirs now."""
        if not self._heap.running:
            return new_leaks
        config = self._config
        self._heap.record(config.leak_window)
        self._censuses += 1
        unsited = {leak.key: leak.kind for leak in self._analysis.active_leaks if not leak.sites}
        tries = {key: self._heap_tries.get(key, (0, self._censuses)) for key in unsited}
        due = {key: unsited[key] for key, (_, due_at) in tries.items() if due_at <= self._censuses}
        self._heap_tries = {
            key: (n + 1, self._censuses + min(2**n, _HEAP_RETRY_CEILING)) if key in due else (n, due_at)
            for key, (n, due_at) in tries.items()
        }
        if not due:
            return new_leaks
        root = config.leak_site_path_root or os.getcwd()
        with holding() as hold:  # a child forked meanwhile keeps none of these objects
            located = self._examiner.locate(due, _HEAP_LOCATE, hold)
            for objects in located.values():  # their payloads too: the sampler sees large blocks
                owned_parts(objects, 2 * _HEAP_LOCATE)
            rates = {leak.key: leak.retained_bytes_per_hour for leak in self._analysis.active_leaks}
            native = [
                key for key in due if due[key] == "unattributed" and outside_python(rates[key], self._heap)
            ]
            sites = {
                key: self._heap.sites_of(located[key], _SITE_COUNT, root)
                if key in located
                else self._heap.growing(_SITE_COUNT, root)
                for key in due
                if key not in native
            }
            unexplained = [key for key in sites if due[key] == "unattributed"]
            holders = self._holders_of_growth(unexplained, sites, root, hold)
        updated = {leak.key: leak for leak in self._analysis.mark_outside_python(native)}
        updated.update((leak.key, leak) for leak in self._analysis.attach_sites(sites))
        updated.update((leak.key, leak) for leak in self._analysis.attach_holders(holders))
        return [updated.pop(leak.key, leak) for leak in new_leaks] + list(updated.values())

    def _holders_of_growth(self, keys: List[str], sites: Sites, root: str, hold: Hold) -> Dict[str, Holders]:
        """For unattributed growth placed on a line: the watched containers keeping its blocks."""
        keys = [key for key in keys if sites[key]]  # growth on no line has no blocks to look for
        if not keys:
            return {}
        watched = dict.fromkeys(self._analysis.container_types, "container")
        entries = self._examiner.locate(watched, NEWEST_ENTRIES, hold)
        return {
            key: holders_of_growth(next(iter(sites[key]), None), entries, self._heap, root) for key in keys
        }

    def _awaiting_sites(self) -> List[str]:
        """Active leaks without sites that are worth a capture: above low, or still growing a
        quarter window after they were found (a cache filling when found has plateaued by then,
        and would spend the capture and its cool-down)."""
        confirm = (self._config.leak_window // 4) * self.census_interval
        return [
            leak.key
            for leak in self._analysis.active_leaks
            if not leak.sites
            and (leak.severity != "low" or leak.last_detected - leak.first_detected >= confirm)
        ]

    def _dispatch(self, snapshot: MemorySnapshot, leaks: List[Leak], alerts: List[Alert]) -> None:
        """Hand one snapshot's events to callbacks, and to sinks as one batch."""
        for leak in leaks:
            self._dispatcher.fire(LEAK_EVENTS, leak)
        for alert in alerts:
            self._dispatcher.fire(ALERT_EVENTS, alert)
        if leaks or alerts:
            self._dispatcher.fire(DETECTION_EVENTS, DetectionEvents(snapshot, tuple(leaks), tuple(alerts)))

    def after_fork_in_child(self) -> None:
        """The child describes itself: fresh locks, history and threads; the loop restarts if it ran.
        (An allocation-site capture the fork interrupted has already ended: see ``diagnosis.capture``.)"""
        was_running = self._thread is not None
        self._new_locks()
        self._dispatcher = self._dispatcher.copy_for_child()
        self._analysis = self._new_analysis(self._config)
        self._sites = self._site_capture()
        self._heap.after_fork_in_child()
        self._heap_tries.clear()
        self._cadence.restart()
        if was_running:
            self.start()

    @property
    def config(self) -> ProfilerConfig:
        return self._config

    def configure(self, **changes: Any) -> None:
        """Change settings at run time; all are validated before any takes effect. The new settings
        hold at once; the analysis takes them before the next cycle publishes."""
        with self._settings:
            old, config = self._config, self._config.updated(**changes)
            self._config = config
            self._examiner.containers.literal_keys = config.leak_owner_literal_keys
        if any(getattr(config, name) != getattr(old, name) for name in _SITE_SETTINGS):
            self._sites.reconfigure(**self._site_settings())
        rebuild = any(getattr(config, name) != getattr(old, name) for name in _REBUILDING_SETTINGS)

        def take_settings() -> None:
            if rebuild:
                self._analysis = self._new_analysis(self._config)
            else:
                self._analysis.config = self._config

        self._apply(take_settings)
        with self._lifecycle:
            if self.running:
                self._apply_tracemalloc()
                self._apply_heap_sampling()

    def reset(self) -> None:
        """Forget history, baseline, leaks and alerts, and start over from the next snapshot."""
        self._state = Published()
        self._apply(lambda: setattr(self, "_analysis", self._new_analysis(self._config)))

    # Lifecycle

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the snapshot loop on a daemon thread; a no-op when it already runs. A loop stopped
        without waiting ends after its current snapshot: each loop has its own stop event."""
        with self._lifecycle:
            if self.running:
                return
            self._apply_tracemalloc()
            self._apply_heap_sampling()
            self.gc_pauses.install()
            self._stop_event = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="otel-memory-profiler", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the loop, any allocation-site capture and the callback thread, and tracemalloc if
        this profiler started it. Returns within ``timeout`` seconds whatever the callbacks do, from
        any thread, the profiler's own included (that one ends once it returns): False when a
        thread outlived the timeout (a callback that never returns keeps its thread, abandoned)."""
        deadline = time.monotonic() + require_number("timeout", timeout, 0.0)

        def left() -> float:
            return max(deadline - time.monotonic(), 0.0)

        with self._lifecycle:
            thread, self._thread = self._thread, None
            self._stop_event.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(left())
        loop_ended = thread is None or not thread.is_alive() or thread is threading.current_thread()
        capture_ended = self._sites.cancel(left())
        self._heap.stop()
        self.gc_pauses.uninstall()
        callbacks_ended = self._dispatcher.close(left())
        with self._lifecycle:
            if self._started_tracemalloc and self._thread is None:
                tracemalloc.stop()
                self._started_tracemalloc = False
        return loop_ended and capture_ended and callbacks_ended

    def _run(self, stop: threading.Event) -> None:
        def tick() -> None:
            try:
                self._take(
                    census=self._cadence.due(self._config.snapshot_interval, self._config.census_budget)
                )
            except Exception as error:  # the host program must never pay for a failed snapshot
                self._loop_log.error("snapshot", error, "memory snapshot failed")

        run_every(stop, lambda: self._config.snapshot_interval, tick)

    @property
    def census_interval(self) -> float:
        """Seconds between object censuses in the loop: the snapshot interval, or longer when a
        census costs more than ``census_budget`` of that much wall time (it holds the GIL), or an
        hour after one that held it longer than ``census_max_pause`` in one call."""
        return self._cadence.interval(self._config.snapshot_interval, self._config.census_budget)

    @property
    def census_pause_seconds(self) -> float:
        """The longest single C call of the last census, which holds the GIL: listing the heap, or
        counting one slice of it. Other threads of the host wait at most that long."""
        return self._taker.census_pause_seconds

    @property
    def census_seconds(self) -> float:
        """Smoothed duration of a census (0 before the first)."""
        return self._cadence.census_seconds

    def _apply_heap_sampling(self) -> None:
        if self._config.heap_sampling:
            self._heap.start(self._config.heap_sampling_interval)
        else:
            self._heap.stop()

    @property
    def heap_sampling_active(self) -> bool:
        """Whether leak sites come from the sampled heap (else from tracemalloc windows)."""
        return self._heap.running

    @property
    def heap_profile(self) -> HeapProfile:
        return self._heap

    def _apply_tracemalloc(self) -> None:
        if self._config.enable_tracemalloc and not tracemalloc.is_tracing():
            tracemalloc.start(self._config.tracemalloc_frames)
            self._started_tracemalloc = True
        elif not self._config.enable_tracemalloc and self._started_tracemalloc:
            tracemalloc.stop()
            self._started_tracemalloc = False

    # Snapshots

    def snapshot(self, census: bool = True) -> MemorySnapshot:
        """Take a snapshot now and run it through detection and alerting.

        ``census=False`` takes the cheap path: memory, GC and tracemalloc figures only, with the
        object figures of the last census (the first snapshot always counts). It never waits for a
        cycle in progress: that cycle runs it through the analysis once it is done.
        """
        previous = self._last_census
        if census or previous is None:
            return self._take(census=True)
        if self._cycle.acquire(blocking=False):
            try:
                snapshot = self._cycle_step(census=False)
            finally:
                self._cycle.release()
            self._drain()
            return snapshot
        # Read first and applied later, outside the cycle's lock: a window closing meanwhile is left
        # out twice, never counted.
        window = self._sites.holding_bytes()
        snapshot, counts = self._taker.take(self._config.top_objects_count, previous)
        self._apply(lambda: self._record(snapshot, counts, None, window))
        return snapshot

    def _take(self, census: bool) -> MemorySnapshot:
        with self._cycle:
            snapshot = self._cycle_step(census)
        self._drain()
        return snapshot

    def _record(
        self,
        snapshot: MemorySnapshot,
        counts: Mapping[str, int],
        containers: Optional[Mapping[str, Any]],
        window: int,
    ) -> None:
        """Under ``_cycle``: run one snapshot through the analysis and hand on its events;
        ``window``: the bytes an open leak-site window held when it was taken."""
        new_leaks, transitions = self._analysis.record(snapshot, counts, containers, window)
        try:
            new_leaks = self._explain(new_leaks)
        except Exception as error:  # the leaks are still reported, without their holders
            self._loop_log.error("holders", error, "leak holder search failed")
        if snapshot.census:
            new_leaks = self._analysis.fold(new_leaks)
        if snapshot.census:
            try:
                new_leaks = self._heap_sites(new_leaks)
            except Exception as error:  # the leaks are still reported, without their sites
                self._loop_log.error("heap sites", error, "leak sites from the sampled heap failed")
        if self._baseline_reset_requested:
            self._baseline_reset_requested = False
            self._analysis.reset_baseline()
        self._dispatch(snapshot, new_leaks, transitions)

    def _cycle_step(self, census: bool) -> MemorySnapshot:
        """Under ``_cycle``: one snapshot, its walks and its analysis, then the pending changes and
        the published record."""
        self._run_pending()
        started = time.monotonic()
        config = self._config
        previous = None if census else self._last_census
        snapshot, counts = self._taker.take(config.top_objects_count, previous)
        window = self._sites.holding_bytes()  # a window closes under ``_cycle``: not meanwhile
        containers = None
        if snapshot.census:
            counts, containers = self._examine(started, snapshot, counts, config)
            self._last_census = (snapshot, counts)
        self._record(snapshot, counts, containers, window)
        unsited = self._awaiting_sites()
        self._run_pending()
        if unsited and config.leak_site_capture and not self._heap.running:
            # Without heap sampling: every active leak still without its sites, at most one capture
            # per cool-down.
            self._sites.trigger(unsited)
        return snapshot

    def _examine(
        self, started: float, snapshot: MemorySnapshot, counts: Mapping[str, int], config: ProfilerConfig
    ) -> Tuple[Mapping[str, int], Optional[Mapping[str, Any]]]:
        """The census without the profiler's own objects, and the watched containers' lengths; their
        cost counts against the census budget."""
        watching = time.perf_counter()
        containers = None
        try:
            counts = self._own.exclude(counts)
        except Exception as error:  # the census as counted still serves
            self._loop_log.error("own", error, "memory profiler could not list its own objects")
        try:
            containers = self._examiner.container_census()
        except Exception as error:  # the type census and the memory figures still count
            self._loop_log.error("containers", error, "container census failed")
        watched = time.perf_counter() - watching
        pause, bound = self._taker.census_pause_seconds, config.census_max_pause
        if self._cadence.counted(started, snapshot.census_ms / 1000.0, watched, pause, bound):
            _logger.warning(
                "pid %d: three censuses in a row held the GIL longer than census_max_pause=%s s "
                "in one call (the last %.1f ms, %d objects): the next census is in an hour; "
                "memory and GC figures go on, object and leak figures stay as last counted",
                os.getpid(),
                bound,
                pause * 1000.0,
                snapshot.total_objects,
            )
        return counts, containers

    # Published state: reading it never takes a snapshot, nor waits for one

    @property
    def latest_snapshot(self) -> Optional[MemorySnapshot]:
        return self._state.latest

    @property
    def total_snapshots(self) -> int:
        return self._state.total_snapshots

    @property
    def time_to_limit_seconds(self) -> Optional[float]:
        """Seconds until resident memory reaches the limit at its recent trend; None when not growing."""
        return self._state.time_to_limit

    @property
    def latest_drift(self) -> Optional[BaselineDrift]:
        return self._state.drift

    @property
    def history(self) -> SnapshotHistory:
        return self._analysis.history

    @property
    def active_leaks(self) -> List[Leak]:
        return list(self._state.active_leaks)

    @property
    def paging_leaks(self) -> List[Leak]:
        """Active leaks at or above ``leak_alert_severity``: what ``leak_detected`` alerts on."""
        return list(self._state.paging_leaks)

    @property
    def baseline_settled(self) -> bool:
        """Whether the baseline was taken after the warm-up (or reset by hand); drift means
        something only then."""
        return self._state.baseline_settled

    @property
    def uptime_seconds(self) -> float:
        """Seconds from the first snapshot since the last reset to the latest."""
        return self._state.uptime_seconds

    @property
    def active_alerts(self) -> List[Alert]:
        return list(self._state.alerts)

    @property
    def alert_signals(self) -> Dict[str, Optional[float]]:
        """What each alert rule compares, as of the last snapshot (None: not stated yet)."""
        return dict(self._state.signals)

    @property
    def alert_states(self) -> Dict[str, int]:
        """Each alert's state by rule name: 0 inactive, 1 pending, 2 firing."""
        return dict(self._state.alert_states)

    @property
    def own_memory_mb(self) -> float:
        """Resident memory the monitor itself added (what leak-site windows left, and what one open
        at the latest snapshot held), which drift and growth leave out."""
        return self._state.own_mb

    @property
    def detected_leaks(self) -> List[Leak]:
        """Every leak seen since the last ``clear_detected_leaks()``, most recent last."""
        return list(self._state.detected_leaks)

    @property
    def tracked_types(self) -> int:
        return self._state.tracked_types

    @property
    def tracemalloc_tracing(self) -> bool:
        return tracemalloc.is_tracing()

    @property
    def callback_failures(self) -> int:
        return self._dispatcher.failures

    @property
    def dropped_events(self) -> int:
        return self._dispatcher.dropped

    @property
    def leak_detections(self) -> Dict[str, int]:
        """Leak onsets and escalations so far, by severity."""
        return dict(self._state.leak_detections)

    def clear_detected_leaks(self) -> None:
        """Forget recorded leaks; one still growing is detected, and reported, again."""
        self._state = self._state.without_leaks()
        self._apply(lambda: self._analysis.clear_leaks())

    # Baseline

    def reset_baseline(self) -> None:
        """Make the latest snapshot the baseline (the next one, if none has been taken)."""
        self._apply(lambda: self._analysis.reset_baseline())

    def request_baseline_reset(self) -> None:
        """Make the next snapshot the baseline. Safe in a signal handler: it sets a flag, takes no
        lock and never waits (core/baseline_signal.py)."""
        self._baseline_reset_requested = True

    def baseline_drift(self) -> BaselineDrift:
        """Take a snapshot (a census: it waits for a cycle in progress) and return its drift from
        the baseline."""
        with self._cycle:
            self._cycle_step(census=True)
            drift = self._analysis.latest_drift
        self._drain()
        assert drift is not None
        return drift

    # Callbacks

    def register_leak_callback(self, callback: Callback) -> None:
        """Call ``callback(leak: Leak)`` when a leak starts or grows more severe. May be async."""
        self._dispatcher.register(LEAK_EVENTS, callback)

    def register_alert_callback(self, callback: Callback) -> None:
        """Call ``callback(alert: Alert)`` when an alert fires or resolves. May be async."""
        self._dispatcher.register(ALERT_EVENTS, callback)

    def add_event_sink(self, sink: Callable[[DetectionEvents], Any]) -> None:
        """Call ``sink(events)`` once per snapshot that brought leaks or alert transitions."""
        self._dispatcher.register(DETECTION_EVENTS, sink)

    def unregister_callback(self, callback: Callback) -> None:
        self._dispatcher.unregister(callback)

    def flush_callbacks(self, timeout: float = 5.0) -> bool:
        """Wait until every event so far has reached its callbacks; False on timeout."""
        return self._dispatcher.flush(timeout)


_process_profiler: Optional[MemoryProfiler] = None
_process_profiler_lock = threading.Lock()


def _renew_process_profiler_lock() -> None:
    global _process_profiler_lock
    _process_profiler_lock = threading.Lock()


fork.register_function(_renew_process_profiler_lock)


def get_memory_profiler(**settings: Any) -> MemoryProfiler:
    """The process-wide profiler, created on first call; later ``settings`` reconfigure it."""
    global _process_profiler
    with _process_profiler_lock:
        if _process_profiler is None:
            _process_profiler = MemoryProfiler(**settings)
        elif settings:
            _process_profiler.configure(**settings)
        return _process_profiler
