"""The ``fogcompute_memory_*`` instruments: observable gauges and counters over cached profiler state.

Callbacks only read what the last snapshot cached; a collection never walks the heap or takes a
snapshot. Instruments cannot be removed from an OpenTelemetry meter, so one set is created per meter
and re-pointed by ``attach()``; ``detach()`` makes every callback report nothing.

Units are chosen so that the Prometheus name is the same from the Python ``PrometheusMetricReader``
and from the Collector's ``prometheus`` exporter: annotations in braces (``{MiB}``, ``{object}``)
add no suffix on either path, ``%`` maps to ``percent`` which the names already end with, and the
unit ``1`` (which the Collector turns into ``_ratio``) is never used. docs/METRICS.md has the table.
The semantic-convention instruments (otel/semconv.py) are created on the same meter when opted in.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation, get_meter

from ..core.analysis.rules import threshold_settings
from ..core.profiler import MemoryProfiler
from ..core.records import SEVERITIES, ContainerMemory, MemorySnapshot
from ..core.sampling import fork
from ..environment_variables import OTEL_PYTHON_MEMORY_SEMCONV
from . import SCOPE
from .bounds import bounded
from .leak_metrics import LeakMetrics
from .retention import forget_unreported
from .semconv import COUNTER as SEMCONV_COUNTER
from .semconv import SCHEMA_URL, SEMCONV_INSTRUMENTS, SemconvSpec, semconv_from_environment

PREFIX = "fogcompute_memory_"
GAUGE = "gauge"
COUNTER = "counter"

Reader = Callable[[MemoryProfiler], Iterable[Observation]]


@dataclass(frozen=True)
class InstrumentSpec:
    name: str
    kind: str
    unit: str
    description: str
    read: Reader
    always: bool = True  # False: absent while there is nothing to say (no growth, no forecast)


def _from_snapshot(pick: Callable[[MemorySnapshot], float]) -> Reader:
    def read(profiler: MemoryProfiler) -> Iterable[Observation]:
        snapshot = profiler.latest_snapshot
        return [] if snapshot is None else [Observation(pick(snapshot))]

    return read


def _generation(index: int) -> Reader:
    return _from_snapshot(lambda s: s.gc_collections[index] if len(s.gc_collections) > index else 0)


def _gc_collections_by_generation(profiler: MemoryProfiler) -> Iterable[Observation]:
    snapshot = profiler.latest_snapshot
    if snapshot is None:
        return []
    return [Observation(count, {"generation": str(g)}) for g, count in enumerate(snapshot.gc_collections)]


OBJECT_COUNT = "object_count"
OBJECT_TYPE = "object_type"


def _object_counts(profiler: MemoryProfiler) -> Iterable[Observation]:
    snapshot = profiler.latest_snapshot
    if snapshot is None:
        return []
    return [Observation(count, {OBJECT_TYPE: bounded(name)}) for name, count in snapshot.top_objects]


def forget_unreported_types(instrument: object, reported: set[str]) -> None:
    """Drop what the SDK retains for object types no longer reported by ``instrument``."""
    forget_unreported(instrument, lambda attributes: attributes.get(OBJECT_TYPE) in reported)


def _active_leaks(profiler: MemoryProfiler) -> Iterable[Observation]:
    return [Observation(len(profiler.active_leaks))] if profiler.latest_snapshot else []


def _paging_leaks(profiler: MemoryProfiler) -> Iterable[Observation]:
    return [Observation(len(profiler.paging_leaks))] if profiler.latest_snapshot else []


def _leak_detections(profiler: MemoryProfiler) -> Iterable[Observation]:
    if profiler.latest_snapshot is None:
        return []
    counts = profiler.leak_detections
    return [Observation(counts.get(severity, 0), {"severity": severity}) for severity in SEVERITIES]


def _drift(pick: Callable[..., float]) -> Reader:
    """Absent until the baseline is settled after the warm-up: drift from a cold start is no drift."""

    def read(profiler: MemoryProfiler) -> Iterable[Observation]:
        drift = profiler.latest_drift
        return [] if drift is None or not profiler.baseline_settled else [Observation(pick(drift))]

    return read


def _limit_source(profiler: MemoryProfiler) -> Iterable[Observation]:
    snapshot = profiler.latest_snapshot
    return [] if snapshot is None else [Observation(1, {"source": bounded(snapshot.limit_source)})]


def _time_to_limit(profiler: MemoryProfiler) -> Iterable[Observation]:
    seconds = profiler.time_to_limit_seconds
    return [] if seconds is None else [Observation(seconds)]


def _signal(name: str) -> Reader:
    """An alert rule's signal; absent while the process cannot state it (the rule reads nothing)."""

    def read(profiler: MemoryProfiler) -> Iterable[Observation]:
        value = profiler.alert_signals.get(name)
        return [] if value is None else [Observation(value)]

    return read


def _thresholds(profiler: MemoryProfiler) -> Iterable[Observation]:
    config = profiler.config
    return [
        Observation(float(getattr(config, setting)), {"alert": alert, "setting": setting})
        for alert, setting in threshold_settings()
    ]


def _alert_states(profiler: MemoryProfiler) -> Iterable[Observation]:
    if profiler.latest_snapshot is None:
        return []
    return [Observation(state, {"alert": name}) for name, state in profiler.alert_states.items()]


def _container(pick: Callable[[ContainerMemory], int | None]) -> Reader:
    """Absent outside a cgroup with memory accounting, or where the kernel does not give the figure."""

    def read(profiler: MemoryProfiler) -> Iterable[Observation]:
        snapshot = profiler.latest_snapshot
        container = None if snapshot is None else snapshot.container
        value = None if container is None else pick(container)
        return [] if value is None else [Observation(value)]

    return read


CONTAINER_KINDS = ("anon", "file", "kernel", "shmem")


def _container_memory(profiler: MemoryProfiler) -> Iterable[Observation]:
    snapshot = profiler.latest_snapshot
    container = None if snapshot is None else snapshot.container
    if container is None:
        return []
    values = (getattr(container, kind + "_bytes") for kind in CONTAINER_KINDS)
    return [Observation(v, {"kind": kind}) for kind, v in zip(CONTAINER_KINDS, values) if v is not None]


def _usage_source(profiler: MemoryProfiler) -> Iterable[Observation]:
    snapshot = profiler.latest_snapshot
    return [] if snapshot is None else [Observation(1, {"source": bounded(snapshot.usage_source)})]


def _from_snapshot_bytes(pick: Callable[[MemorySnapshot], int | None]) -> Reader:
    """Absent where the figure cannot be read."""

    def read(profiler: MemoryProfiler) -> Iterable[Observation]:
        snapshot = profiler.latest_snapshot
        value = None if snapshot is None else pick(snapshot)
        return [] if value is None else [Observation(value)]

    return read


def _snapshots(profiler: MemoryProfiler) -> Iterable[Observation]:
    return [Observation(profiler.total_snapshots)]


INSTRUMENTS = (
    InstrumentSpec(
        "heap_size_mb",
        GAUGE,
        "{MiB}",
        "Effective memory limit (cgroup or physical)",
        _from_snapshot(lambda s: s.heap_size_mb),
    ),
    InstrumentSpec(
        "heap_used_mb",
        GAUGE,
        "{MiB}",
        "Memory held against the limit: the cgroup's working set under a cgroup limit, else the "
        "process's resident memory (heap_used_info says which)",
        _from_snapshot(lambda s: s.heap_used_mb),
    ),
    InstrumentSpec(
        "heap_percent",
        GAUGE,
        "%",
        "heap_used_mb as a percentage of the effective limit",
        _from_snapshot(lambda s: s.heap_percent),
    ),
    InstrumentSpec(
        "total_objects",
        GAUGE,
        "{object}",
        "Objects tracked by the garbage collector",
        _from_snapshot(lambda s: s.total_objects),
    ),
    InstrumentSpec(
        "gc_collections_gen0", GAUGE, "{collection}", "Generation 0 collections so far", _generation(0)
    ),
    InstrumentSpec(
        "gc_collections_gen1", GAUGE, "{collection}", "Generation 1 collections so far", _generation(1)
    ),
    InstrumentSpec(
        "gc_collections_gen2", GAUGE, "{collection}", "Generation 2 collections so far", _generation(2)
    ),
    InstrumentSpec(
        "gc_collections",
        COUNTER,
        "{collection}",
        "Garbage collections by generation",
        _gc_collections_by_generation,
    ),
    InstrumentSpec(
        "tracemalloc_current_mb",
        GAUGE,
        "{MiB}",
        "Memory traced by tracemalloc (0 when off)",
        _from_snapshot(lambda s: s.tracemalloc_current_mb),
    ),
    InstrumentSpec(
        "tracemalloc_peak_mb",
        GAUGE,
        "{MiB}",
        "Peak memory traced by tracemalloc (0 when off)",
        _from_snapshot(lambda s: s.tracemalloc_peak_mb),
    ),
    InstrumentSpec("rss_mb", GAUGE, "{MiB}", "Resident set size", _from_snapshot(lambda s: s.rss_mb)),
    InstrumentSpec("vms_mb", GAUGE, "{MiB}", "Virtual memory size", _from_snapshot(lambda s: s.vms_mb)),
    InstrumentSpec("active_leaks", GAUGE, "{leak}", "Object types leaking now", _active_leaks),
    InstrumentSpec(
        "paging_leaks",
        GAUGE,
        "{leak}",
        "Leaks now at or above the paging severity (leak_alert_severity, default high)",
        _paging_leaks,
    ),
    InstrumentSpec(
        "uptime_seconds",
        GAUGE,
        "s",
        "Seconds this process has been profiled (rules skip its warm-up)",
        lambda profiler: [Observation(profiler.uptime_seconds)] if profiler.latest_snapshot else [],
    ),
    InstrumentSpec(
        "leak_detections",
        COUNTER,
        "{leak}",
        "Leaks detected (onsets and escalations) by severity",
        _leak_detections,
    ),
    InstrumentSpec(
        "baseline_drift_percent",
        GAUGE,
        "%",
        "Resident memory drift from the baseline taken after the warm-up (absent before)",
        _drift(lambda d: d.heap_drift_percent),
        always=False,
    ),
    InstrumentSpec(
        "baseline_drift_mb",
        GAUGE,
        "{MiB}",
        "Resident memory drift from the baseline taken after the warm-up (absent before)",
        _drift(lambda d: d.heap_drift_mb),
        always=False,
    ),
    InstrumentSpec(
        OBJECT_COUNT, GAUGE, "{object}", "Objects of each of the most numerous types", _object_counts
    ),
    InstrumentSpec(
        "limit_info", GAUGE, "", "Where the effective memory limit comes from (always 1)", _limit_source
    ),
    InstrumentSpec(
        "snapshot_duration_seconds",
        GAUGE,
        "s",
        "How long the last snapshot took",
        _from_snapshot(lambda s: s.duration_ms / 1000.0),
    ),
    InstrumentSpec("snapshots", COUNTER, "{snapshot}", "Snapshots taken", _snapshots),
    InstrumentSpec(
        "container_usage_bytes",
        GAUGE,
        "By",
        "Memory charged to the process's cgroup, which the kernel compares with the limit "
        "(v2 memory.current, v1 memory.usage_in_bytes; absent outside a cgroup)",
        _container(lambda c: c.usage_bytes),
        always=False,
    ),
    InstrumentSpec(
        "container_working_set_bytes",
        GAUGE,
        "By",
        "The cgroup's usage less its inactive file pages, as the kubelet computes the working set",
        _container(lambda c: c.working_set_bytes),
        always=False,
    ),
    InstrumentSpec(
        "container_memory_bytes",
        GAUGE,
        "By",
        "The cgroup's usage by kind (anon, file, kernel, shmem; shmem is part of file), from memory.stat",
        _container_memory,
        always=False,
    ),
    InstrumentSpec(
        "heap_used_info",
        GAUGE,
        "",
        "What heap_used_mb measures (always 1): source is container_working_set, container_usage "
        "or process_rss",
        _usage_source,
    ),
    InstrumentSpec(
        "process_pss_bytes",
        GAUGE,
        "By",
        "The process's proportional set size: each shared page split among the processes mapping it "
        "(a container's processes add up to what they hold); read at most every 30 s",
        _from_snapshot_bytes(lambda s: s.pss_bytes),
        always=False,
    ),
    InstrumentSpec(
        "process_uss_bytes",
        GAUGE,
        "By",
        "The process's unique set size: pages no other process maps, what its exit would free; "
        "read at most every 30 s",
        _from_snapshot_bytes(lambda s: s.uss_bytes),
        always=False,
    ),
    InstrumentSpec(
        "time_to_limit_seconds",
        GAUGE,
        "s",
        "Seconds until resident memory reaches the limit at its recent trend (absent when not growing)",
        lambda profiler: _time_to_limit(profiler),
        always=False,
    ),
    InstrumentSpec(
        "growth_mb_per_hour",
        GAUGE,
        "{MiB/h}",
        "Memory growth over the last hour after the warm-up, less the monitor's own "
        "(absent for its first ten minutes)",
        _signal("growth_mb_per_hour"),
        always=False,
    ),
    InstrumentSpec(
        "gc_collections_per_second",
        GAUGE,
        "{collection/s}",
        "Garbage collections of the host's threads per second over the last five minutes",
        _signal("gc_collections_per_second"),
        always=False,
    ),
    InstrumentSpec(
        "gc_normal_collections_per_second",
        GAUGE,
        "{collection/s}",
        "The process's normal collection rate: the median five-minute rate of the last six hours "
        "after the warm-up",
        _signal("gc_normal_collections_per_second"),
        always=False,
    ),
    InstrumentSpec(
        "gc_pause_percent",
        GAUGE,
        "%",
        "Share of the last five minutes spent in garbage-collection pauses",
        _signal("gc_pause_percent"),
        always=False,
    ),
    InstrumentSpec(
        "alert_threshold",
        GAUGE,
        "",
        "Each alert's threshold as this process is configured (the shipped rules read it)",
        _thresholds,
    ),
    InstrumentSpec(
        "alert_state",
        GAUGE,
        "",
        "Each in-process alert's state: 0 inactive, 1 pending, 2 firing",
        _alert_states,
    ),
    InstrumentSpec(
        "monitor_added_mb",
        GAUGE,
        "{MiB}",
        "Resident memory the monitor itself added (a leak-site capture's tracing, while open and after), "
        "left out of drift and growth",
        lambda profiler: [Observation(profiler.own_memory_mb)] if profiler.latest_snapshot else [],
    ),
    InstrumentSpec(
        "census_duration_seconds",
        GAUGE,
        "s",
        "How long counting the objects takes (smoothed)",
        lambda profiler: [Observation(profiler.census_seconds)] if profiler.latest_snapshot else [],
    ),
    InstrumentSpec(
        "census_pause_seconds",
        GAUGE,
        "s",
        "Longest single hold of the GIL by the last census: what another thread of the host waited",
        lambda profiler: [Observation(profiler.census_pause_seconds)] if profiler.latest_snapshot else [],
    ),
    InstrumentSpec(
        "census_interval_seconds",
        GAUGE,
        "s",
        "Seconds between object censuses: the snapshot interval, longer when the census budget requires",
        lambda profiler: [Observation(profiler.census_interval)],
    ),
)


GC_PAUSE_BOUNDARIES = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)  # 11 series a generation
RECENT_PAUSE_WINDOW_SECONDS = 60.0


class MemoryMetrics:
    """One meter's set of instruments, reading whichever profiler is attached.

    GC pauses are timed by the profiler's ``gc.callbacks`` hook, which must stay lock-free; they
    reach the ``gc_pause_seconds`` histogram when the ``gc_pause_max_seconds`` gauge is collected.
    """

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self._profiler: MemoryProfiler | None = None
        self._semconv: frozenset[str] = frozenset()
        self._semconv_created: set[str] = set()
        self._semconv_lock = threading.Lock()
        fork.register(self, restarts_threads=False)
        self._object_count: object = None
        self._gc_pause = meter.create_histogram(
            PREFIX + "gc_pause_seconds",
            unit="s",
            description="Garbage-collection pauses by generation",
            explicit_bucket_boundaries_advisory=list(GC_PAUSE_BOUNDARIES),
        )
        meter.create_observable_gauge(
            PREFIX + "gc_pause_max_seconds",
            callbacks=[self._callback(self._longest_recent_pause)],
            unit="s",
            description="Longest garbage-collection pause of the last minute",
        )
        for spec in INSTRUMENTS:
            create = meter.create_observable_gauge if spec.kind == GAUGE else meter.create_observable_counter
            read = self._object_counts if spec.name == OBJECT_COUNT else spec.read
            instrument = create(
                PREFIX + spec.name,
                callbacks=[self._callback(read)],
                unit=spec.unit,
                description=spec.description,
            )
            if spec.name == OBJECT_COUNT:
                self._object_count = instrument
        LeakMetrics(meter, self._callback)

    def after_fork_in_child(self) -> None:
        """A fork may have caught another thread holding the lock."""
        self._semconv_lock = threading.Lock()

    def _object_counts(self, profiler: MemoryProfiler) -> Iterable[Observation]:
        """The current top types; the SDK forgets the others, so its retained sets stay the top N."""
        observations = list(_object_counts(profiler))
        reported = {str((observation.attributes or {})[OBJECT_TYPE]) for observation in observations}
        forget_unreported_types(self._object_count, reported)
        return observations

    def _longest_recent_pause(self, profiler: MemoryProfiler) -> Iterable[Observation]:
        for generation, seconds in profiler.gc_pauses.take_unread():
            self._gc_pause.record(seconds, {"generation": str(generation)})
        return [Observation(profiler.gc_pauses.longest(RECENT_PAUSE_WINDOW_SECONDS))]

    def attach(self, profiler: MemoryProfiler, semconv: Iterable[str] | None = None) -> None:
        """Report ``profiler``; with the semantic-convention groups ``semconv`` (otel/semconv.py),
        by default those of ``OTEL_PYTHON_MEMORY_SEMCONV``."""
        if semconv is None:
            semconv = semconv_from_environment(os.environ, OTEL_PYTHON_MEMORY_SEMCONV)
        self._emit_semconv(frozenset(semconv))
        self._profiler = profiler

    def _emit_semconv(self, groups: frozenset[str]) -> None:
        """Create the instruments of ``groups`` not created yet; those of other groups report nothing
        (an instrument cannot be removed from a meter)."""
        with self._semconv_lock:
            for spec in SEMCONV_INSTRUMENTS:
                if spec.group in groups and spec.name not in self._semconv_created:
                    create = (
                        self._meter.create_observable_counter
                        if spec.kind == SEMCONV_COUNTER
                        else self._meter.create_observable_up_down_counter
                    )
                    create(
                        spec.name,
                        callbacks=[self._semconv_callback(spec)],
                        unit=spec.unit,
                        description=spec.description,
                    )
                    self._semconv_created.add(spec.name)
            self._semconv = groups

    def _semconv_callback(self, spec: SemconvSpec) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            profiler = self._profiler
            return [] if profiler is None or spec.group not in self._semconv else spec.read(profiler)

        return callback

    def detach(self) -> None:
        self._profiler = None

    def _callback(self, read: Reader) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            profiler = self._profiler
            return [] if profiler is None else read(profiler)

        return callback


_by_provider: weakref.WeakKeyDictionary[MeterProvider, MemoryMetrics] = weakref.WeakKeyDictionary()
_by_provider_lock = threading.Lock()


def _renew_by_provider_lock() -> None:
    """A fork may have caught another thread holding it."""
    global _by_provider_lock
    _by_provider_lock = threading.Lock()


fork.register_function(_renew_by_provider_lock)


def metrics_for(meter_provider: MeterProvider, version: str) -> MemoryMetrics:
    """The instrument set on ``meter_provider``, created on first use.

    Keyed by provider, so instrument/uninstrument cycles re-attach one set instead of adding
    duplicate instruments whose callbacks would report stale or empty values.
    """
    with _by_provider_lock:
        metrics = _by_provider.get(meter_provider)
        if metrics is None:
            meter = get_meter(SCOPE, version, meter_provider, schema_url=SCHEMA_URL)
            metrics = _by_provider[meter_provider] = MemoryMetrics(meter)
        return metrics


def instrument_names() -> list[str]:
    """The instruments every collection reports (those with something to say even on a quiet heap)."""
    return [PREFIX + spec.name for spec in INSTRUMENTS if spec.always]
