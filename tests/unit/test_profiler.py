import asyncio
import threading
import time

import pytest

from opentelemetry_instrumentation_memory import MemoryLimit, MemoryProfiler, get_memory_profiler
from opentelemetry_instrumentation_memory.core.analysis.alerts import PENDING
from opentelemetry_instrumentation_memory.core.analysis.state import MemoryAnalysis
from opentelemetry_instrumentation_memory.core.config import ProfilerConfig
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker
from opentelemetry_instrumentation_memory.core.schedule import CensusCadence

from .running import IMMEDIATE_ALERTS

FAST_LEAKS = dict(leak_window=16, leak_min_snapshots=12)


class Orphan:
    """Instances of this class leak in the tests below, a kilobyte each."""

    def __init__(self):
        self.payload = bytes(1024)


def profiler_threads():
    return [t for t in threading.enumerate() if t.name.startswith("otel-memory")]


@pytest.fixture
def profiler():
    created = MemoryProfiler(snapshot_interval=0.05, **FAST_LEAKS)
    yield created
    created.stop()


def test_snapshot_records_and_reports(profiler):
    snapshot = profiler.snapshot()
    assert profiler.latest_snapshot is snapshot
    stats = profiler.get_stats()
    assert stats["running"] is False
    assert stats["total_snapshots"] == 1
    assert stats["detected_leaks"] == 0
    assert stats["tracked_types"] > 50


def test_a_real_leak_is_detected_reported_and_cleared():
    # A container with 200 MB of headroom: a leak of megabytes a second matters there.
    rss = MemoryProfiler().snapshot().rss_mb * 2**20
    profiler = MemoryProfiler(
        snapshot_interval=0.05,
        limit_reader=lambda: MemoryLimit(int(rss) + 200 * 2**20, "cgroup_v2"),
        **FAST_LEAKS,
    )
    leaks, alerts = [], []
    profiler.register_leak_callback(leaks.append)
    profiler.register_alert_callback(alerts.append)
    kept = []
    for _ in range(20):
        kept.extend(Orphan() for _ in range(300))
        profiler.snapshot()
    assert profiler.flush_callbacks()
    detected = profiler.get_detected_leaks()
    names = [leak["object_type"] for leak in detected]
    assert names == [f"{__name__}.Orphan"]
    record = detected[0]
    assert record["growth_count"] > 1_000 and record["growth_percent"] > 100 and record["active"]
    # Megabytes a second against 200 MB of headroom: paging once confirmed, and
    # reported once per level it reaches, not once per snapshot.
    assert record["severity"] in ("high", "critical")
    assert {leak.object_type for leak in leaks} == set(names)
    levels = ["low", "medium", "high", "critical"]
    onsets = [levels.index(leak.severity) for leak in leaks if not leak.sites]
    assert onsets == sorted(set(onsets)) and len(onsets) <= 2  # later events only bring sites
    assert leaks[0].retained_by[0][0].startswith("<list in a local variable of test_a_real_leak")
    # The leak pages, and the alert waits its 15 minutes as MemoryLeakDetected does.
    assert len(profiler.paging_leaks) == 1 and profiler.alert_states["MemoryLeakDetected"] == PENDING
    assert [a for a in alerts if a["type"] == "leak_detected"] == []
    profiler.clear_detected_leaks()
    assert profiler.get_detected_leaks() == []
    assert profiler.get_stats()["detected_leaks"] == 0
    profiler.stop()


def test_a_breach_lasting_many_snapshots_alerts_once(profiler):
    profiler.alert_rules = IMMEDIATE_ALERTS
    alerts = []
    profiler.register_alert_callback(alerts.append)
    profiler.heap_warning_percent = 0.0
    for _ in range(10):
        profiler.snapshot()
    profiler.heap_warning_percent = 80.0
    for _ in range(3):
        profiler.snapshot()
    profiler.flush_callbacks()
    heap = [(a.type, a.state) for a in alerts if a.type == "heap_warning"]
    assert heap == [("heap_warning", "firing"), ("heap_warning", "resolved")]


def test_baseline_drift_and_reset(profiler):
    profiler.snapshot()
    ballast = [Orphan() for _ in range(5_000)]
    drift = profiler.baseline_drift()
    assert drift.object_drift[f"{__name__}.Orphan"] == 5_000
    assert any(d.object_type == f"{__name__}.Orphan" for d in drift.significant_drifts)
    profiler.reset_baseline()
    assert profiler.latest_drift.object_drift.get(f"{__name__}.Orphan", 0) == 0
    assert len(ballast) == 5_000


def test_async_api_serves_an_event_loop(profiler):
    async def main():
        await profiler.start_memory_profiler()
        snapshot = await profiler.take_snapshot()
        drift = await profiler.compare_to_baseline()
        await asyncio.sleep(0.3)
        await profiler.stop_memory_profiler()
        return snapshot, drift

    snapshot, drift = asyncio.run(main())
    assert snapshot.total_objects > 0
    assert drift.baseline_timestamp <= drift.timestamp
    assert profiler.get_stats()["total_snapshots"] >= 4
    assert not profiler.running


def test_loop_runs_on_a_daemon_thread_and_stop_leaves_no_thread(profiler):
    profiler.register_leak_callback(lambda leak: None)
    profiler.start()
    profiler.start()  # idempotent
    deadline = time.monotonic() + 10  # five snapshots: 0.25 s on an idle machine
    while profiler.get_stats()["total_snapshots"] < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert profiler.running
    threads = profiler_threads()
    assert threads and all(t.daemon for t in threads)
    # Every thread ended within the timeout: on a loaded machine a census in progress can outlast
    # the default 5 s, and the loop it finishes on then hands its events to a new callback thread.
    assert profiler.stop(timeout=60)
    assert not profiler.running
    assert profiler_threads() == []
    assert profiler.get_stats()["total_snapshots"] >= 5


def test_a_failing_snapshot_never_stops_the_loop(caplog):
    calls = []

    def broken_limit():  # a pluggable limit reader with a bug: every snapshot fails
        calls.append(1)
        return MemoryLimit("unlimited", "custom")

    profiler = MemoryProfiler(snapshot_interval=0.05, limit_reader=broken_limit)
    profiler._taker = SnapshotTaker(broken_limit, limit_ttl=0)
    profiler.start()
    time.sleep(0.4)
    profiler.stop()
    assert len(calls) >= 3
    assert len([r for r in caplog.records if "snapshot failed" in r.getMessage()]) == 1


def test_concurrent_snapshots_keep_consistent_counters(profiler):
    errors = []

    def worker():
        try:
            for _ in range(10):
                profiler.snapshot()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]

    async def from_loop():
        await asyncio.gather(*(profiler.take_snapshot() for _ in range(10)))

    for thread in threads:
        thread.start()
    asyncio.run(from_loop())
    for thread in threads:
        thread.join()
    assert errors == []
    stats = profiler.get_stats()
    assert stats["total_snapshots"] == 50
    assert stats["history_length"] == 50


def test_history_and_leak_records_are_bounded():
    profiler = MemoryProfiler(history_size=10, max_detected_leaks=2, leak_site_capture=False, **FAST_LEAKS)
    kinds = [type(f"Kept{index}", (Orphan,), {}) for index in range(4)]
    kept = []
    for _ in range(25):
        for kind in kinds:
            kept.extend(kind() for _ in range(300))
        profiler.snapshot()
    assert len(profiler.history) == 10
    assert profiler.get_stats()["total_snapshots"] == 25
    leaking = {f"{__name__}.{kind.__name__}" for kind in kinds}
    assert leaking <= {leak.object_type for leak in profiler.active_leaks}  # four leaks found...
    records = profiler.get_detected_leaks()
    assert len(records) == 2 and {record["object_type"] for record in records} <= leaking  # ...two kept


def test_detected_leak_records_are_capped():
    analysis = MemoryAnalysis(ProfilerConfig(max_detected_leaks=3, leak_window=16, leak_min_snapshots=12))
    base, _ = SnapshotTaker().take(top_n=1)
    for i in range(20):
        counts = {f"leaky.T{j}": 100 + 50 * i * (j + 1) for j in range(6)}
        snapshot = base.__class__(**{**base.__dict__, "timestamp": float(i)})
        analysis.record(snapshot, counts)
    assert len(analysis.detected) == 3
    assert len(analysis.detector.active_leaks) == 6


def test_growth_comes_from_a_regression_over_the_hour_not_two_points():
    base, _ = SnapshotTaker().take(top_n=1)

    def growth(used_values):
        analysis = MemoryAnalysis(ProfilerConfig(warmup_seconds=0.0))
        for i, used in enumerate(used_values):
            snapshot = base.__class__(**{**base.__dict__, "timestamp": 60.0 * i, "heap_used_mb": used})
            analysis.record(snapshot, {})
        return analysis.signals["growth_mb_per_hour"]

    # One jump of 8 MB at the end of a flat hour is a slope of a few MB per hour...
    assert growth([100.0] * 59 + [108.0]) < 10.0
    # ...a steady climb of 2 MB a minute is 120 MB per hour, above growth_rate_warning.
    assert growth([100.0 + 2.0 * i for i in range(60)]) == pytest.approx(120.0)


def test_get_memory_profiler_is_process_wide():
    first = get_memory_profiler()
    assert get_memory_profiler() is first
    previous = first.config.snapshot_interval
    try:
        assert get_memory_profiler(snapshot_interval=5.0) is first
        assert first.config.snapshot_interval == 5.0
    finally:
        first.configure(snapshot_interval=previous)


def test_tracemalloc_is_started_and_stopped_only_when_asked():
    import tracemalloc

    profiler = MemoryProfiler(snapshot_interval=0.05, enable_tracemalloc=True)
    profiler.start()
    try:
        assert tracemalloc.is_tracing()
        deadline = time.monotonic() + 20  # a first census under tracemalloc takes seconds on a big heap
        while profiler.latest_snapshot is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert profiler.latest_snapshot.tracemalloc_current_mb > 0
    finally:
        profiler.stop()
    assert not tracemalloc.is_tracing()


def test_census_cadence_adapts_to_its_budget_and_cheap_figures_keep_coming():
    profiler = MemoryProfiler(snapshot_interval=0.02, census_budget=0.0001)
    profiler.start()
    try:
        deadline = time.monotonic() + 5
        while profiler.total_snapshots < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        profiler.stop()
    censuses = profiler.history.column("total_objects")
    # One census costs milliseconds; at 0.01 % of wall time the next is due minutes later.
    assert profiler.census_interval > 10.0
    assert profiler.census_seconds > 0
    assert profiler.total_snapshots >= 20
    assert not profiler.latest_snapshot.census  # a cheap snapshot...
    assert profiler.latest_snapshot.total_objects == censuses[0]  # ...carrying the last census's figures
    assert len(set(profiler.history.column("timestamp"))) == len(censuses)


def test_a_whole_budget_counts_at_every_snapshot():
    profiler = MemoryProfiler(snapshot_interval=0.2, census_budget=1.0)
    profiler.start()
    time.sleep(0.7)
    profiler.stop()
    assert profiler.census_seconds < 0.2  # this test heap counts in far less than the interval
    assert profiler.census_interval == 0.2
    assert profiler.total_snapshots >= 3
    assert profiler.latest_snapshot.census


def test_three_censuses_over_the_pause_bound_are_followed_by_none_for_an_hour(caplog):
    profiler = MemoryProfiler(snapshot_interval=0.02, census_budget=1.0, census_max_pause=1e-6)
    seen = {}  # id of each snapshot polled -> whether it counted objects
    with caplog.at_level("WARNING"):
        profiler.start()
        try:
            deadline = time.monotonic() + 5
            while profiler.total_snapshots < 10 and time.monotonic() < deadline:
                latest = profiler.latest_snapshot
                if latest is not None:
                    seen.setdefault(id(latest), (latest, latest.census))
                time.sleep(0.002)
        finally:
            profiler.stop()
    assert profiler.census_pause_seconds > 1e-6  # listing this heap alone takes longer
    assert profiler.census_interval >= 3600.0
    assert profiler.total_snapshots >= 10
    censuses = [census for _, census in seen.values()]
    assert sum(censuses) <= 3, censuses  # three censuses, then cheap snapshots only
    warnings = [r.getMessage() for r in caplog.records if "census_max_pause" in r.getMessage()]
    assert len(warnings) == 1, warnings


def test_one_reading_over_the_pause_bound_does_not_stop_the_census():
    """The first walk after a fork runs several times slower (copy-on-write faults), and a busy
    machine preempts a walk: one slow census is not the heap's size."""
    cadence = CensusCadence()
    now = time.monotonic()
    for pause in (0.030, 0.004, 0.030, 0.030):
        assert not cadence.counted(now, 0.05, 0.0, pause=pause, max_pause=0.010)
    assert cadence.interval(1.0, 1.0) == 1.0
    assert cadence.counted(now, 0.05, 0.0, pause=0.030, max_pause=0.010)  # the third in a row
    assert cadence.interval(1.0, 1.0) >= 3600.0
    assert not cadence.counted(now, 0.05, 0.0, pause=0.030, max_pause=0.010)  # said once
    cadence.counted(now, 0.05, 0.0, pause=0.004, max_pause=0.010)  # the hourly retry fits again
    assert cadence.interval(1.0, 1.0) == 1.0


def test_a_census_within_the_pause_bound_keeps_its_cadence():
    profiler = MemoryProfiler(snapshot_interval=0.2, census_budget=1.0, census_max_pause=10.0)
    profiler.start()
    time.sleep(0.7)
    profiler.stop()
    assert profiler.census_interval == 0.2
    assert profiler.latest_snapshot.census


def _fed(analysis, rss_values, interval, start=0.0):
    """Feed snapshots with these resident sizes; return every alert transition."""
    base, _ = SnapshotTaker().take(top_n=1)
    transitions = []
    for i, rss in enumerate(rss_values):
        snapshot = base.__class__(
            **{**base.__dict__, "timestamp": start + interval * i, "rss_mb": rss, "heap_used_mb": rss}
        )
        transitions += analysis.record(snapshot, {})[1]
    return transitions


def test_a_startup_ramp_is_neither_growth_nor_drift():
    """300 MB of warm-up in the first five minutes, then flat for an hour, at a 3 s interval."""
    analysis = MemoryAnalysis(ProfilerConfig(snapshot_interval=3.0))
    ramp = [40.0 + 3.0 * i for i in range(100)] + [340.0] * 1200
    fired = _fed(analysis, ramp, interval=3.0)
    assert [a.type for a in fired] == []
    assert analysis.baseline_settled
    assert analysis.latest_drift.heap_drift_percent == pytest.approx(0.0)


def test_growth_after_the_warm_up_is_rated_and_drift_is_measured_from_the_warm_baseline():
    analysis = MemoryAnalysis(ProfilerConfig(snapshot_interval=60.0))
    values = [100.0 + 30.0 * i for i in range(10)] + [400.0 * (1 + 0.005 * i) for i in range(80)]
    fired = {a.type for a in _fed(analysis, values, interval=60.0)}
    assert "growth_rate_high" in fired
    assert analysis.latest_drift.baseline_timestamp >= 600.0  # not the cold first snapshot
    assert "baseline_drift_critical" not in fired  # +40 % from warm, not +300 % from cold


def test_an_interval_beyond_what_event_wait_accepts_keeps_the_loop_alive():
    profiler = MemoryProfiler(snapshot_interval=1e308, census_budget=1.0)
    profiler.start()
    try:
        deadline = time.monotonic() + 5
        while profiler.total_snapshots == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert profiler.total_snapshots == 1
        time.sleep(0.3)  # Event.wait(1e308) raised OverflowError at once and ended the thread
        assert profiler.running
    finally:
        started = time.monotonic()
        stopped = profiler.stop(timeout=5)
    assert time.monotonic() - started < 2 and stopped and not profiler.running


@pytest.mark.parametrize("thread", ["loop", "callback"])
def test_stop_from_the_profilers_own_threads_completes(thread):
    """From the loop (through its limit reader) or from a callback: stop() returns, and the calling
    thread ends once it is back in the profiler's hands."""
    outcome = {}
    profiler = None

    def stop_here():
        outcome["thread"] = threading.current_thread()
        try:
            outcome["stopped"] = profiler.stop(timeout=2)
        except Exception as error:  # noqa: BLE001 - the test reports whatever escaped
            outcome["error"] = error

    def limit_reader():
        if thread == "loop":
            stop_here()
        return MemoryLimit(8 << 30, "physical")

    profiler = MemoryProfiler(snapshot_interval=0.05, limit_reader=limit_reader, alert_rules=IMMEDIATE_ALERTS)
    profiler.register_alert_callback(lambda alert: stop_here())
    profiler.start()
    if thread == "callback":
        profiler.heap_warning_percent = 0.0
        profiler.snapshot(census=False)  # the alert fires
    deadline = time.monotonic() + 5
    while "stopped" not in outcome and "error" not in outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outcome.get("stopped") is True, outcome
    assert outcome["thread"].name == f"otel-memory-{'profiler' if thread == 'loop' else 'callbacks'}"
    while outcome["thread"].is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not outcome["thread"].is_alive() and not profiler.running
    profiler.stop()


def test_growth_nothing_explains_is_an_unattributed_leak():
    """Resident memory climbing 2 MB a snapshot with every type steady: a C extension, say."""
    base, _ = SnapshotTaker().take(top_n=1)
    analysis = MemoryAnalysis(ProfilerConfig(warmup_seconds=0, **FAST_LEAKS))
    for i in range(20):
        rss = 100.0 + 2.0 * i
        snapshot = base.__class__(
            **{**base.__dict__, "timestamp": 60.0 * i, "rss_mb": rss, "heap_used_mb": rss}
        )
        analysis.record(snapshot, {"steady.Type": 1000}, {"app.CONFIG": ("dict", 40)})
    (leak,) = analysis.active_leaks
    assert leak.kind == "unattributed" and leak.key == "resident memory"
    assert leak.growth_rate_per_hour == pytest.approx(2.0 * 1024 * 60, rel=0.01)  # KiB per hour


@pytest.mark.parametrize("bytes_per_object, kinds", [(4096.0, ["type"]), (200.0, ["type", "unattributed"])])
def test_growth_a_type_leak_holds_is_that_leaks_and_the_rest_is_reported(bytes_per_object, kinds):
    """2 MB a snapshot beside 500 objects a snapshot: at 4 KiB each they hold it all; at 200 bytes
    (a ctypes array's header, say) a twentieth, and the gap is reported as unattributed growth."""
    base, _ = SnapshotTaker().take(top_n=1)
    sizes = lambda names: {name: bytes_per_object for name in names}  # noqa: E731
    analysis = MemoryAnalysis(ProfilerConfig(warmup_seconds=0, **FAST_LEAKS), object_sizes=sizes)
    for i in range(20):
        rss = 100.0 + 2.0 * i
        snapshot = base.__class__(
            **{**base.__dict__, "timestamp": 60.0 * i, "rss_mb": rss, "heap_used_mb": rss}
        )
        analysis.record(snapshot, {"leaky.Type": 1000 + 500 * i})
    assert sorted(leak.kind for leak in analysis.active_leaks) == kinds
