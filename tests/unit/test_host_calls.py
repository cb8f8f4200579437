"""Host calls never wait on a walk: the cycle (census, container walk, holder search, sizing) runs
without any lock the host's calls take, and publishes its results as one immutable record."""

import threading
import time

from opentelemetry_instrumentation_memory import MemoryProfiler
from tests.unit import hostile_zoo as zoo
from tests.unit.running import FAST_LEAKS


def _in_thread(call, timeout=5.0):
    """Run ``call`` on a thread; its result, or AssertionError if it did not return in time."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("value", call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{call} waited for the cycle in progress"
    return outcome.get("value")


def test_every_host_call_but_a_census_returns_while_a_cycle_runs():
    """Before: configure() waited behind whole heap walks (p99 8.5 s, max 16.9 s at 1M objects)."""
    profiler = MemoryProfiler(**FAST_LEAKS)
    first = profiler.snapshot()
    in_cycle, release = threading.Event(), threading.Event()

    def hold_a_cycle():
        with profiler._cycle:  # what the loop holds for a census and its walks
            in_cycle.set()
            release.wait(30)

    holder = threading.Thread(target=hold_a_cycle)
    holder.start()
    in_cycle.wait(5)
    try:
        _in_thread(lambda: profiler.configure(heap_warning_percent=70.0))
        cheap = _in_thread(lambda: profiler.snapshot(census=False))
        assert cheap.timestamp > first.timestamp and not cheap.census
        assert _in_thread(lambda: profiler.detected_leaks) == []
        _in_thread(profiler.clear_detected_leaks)
        _in_thread(profiler.reset_baseline)
        for name in ("latest_snapshot", "active_leaks", "paging_leaks", "active_alerts", "latest_drift"):
            _in_thread(lambda name=name: getattr(profiler, name))
        assert profiler.config.heap_warning_percent == 70.0  # the setting holds at once
        assert profiler.total_snapshots == 1  # the cheap snapshot waits for the cycle to record it
        _in_thread(profiler.reset)
        _in_thread(lambda: profiler.snapshot(census=False))  # before: after reset(), a census
        assert profiler.total_snapshots == 0
    finally:
        release.set()
        holder.join()
    profiler.snapshot()  # the next cycle applies what was handed over, in order, then its own
    assert profiler.total_snapshots == 2  # reset() came after the first cheap snapshot
    assert profiler._analysis.config.heap_warning_percent == 70.0
    assert profiler.history.column("timestamp")[-1] > cheap.timestamp


LEAKING = []


def test_a_lazy_settings_object_never_deadlocks_a_request_that_reads_the_profiler():
    """Before: the walk evaluated the proxy, whose factory waited for the lock a request thread held
    while it read ``detected_leaks``: the request never returned, nor did the loop."""
    profiler = MemoryProfiler(**FAST_LEAKS)
    profiler.start()
    try:
        with zoo.APP_LOCK:  # a request holding the application's lock
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                LEAKING.extend(object() for _ in range(500))
                _in_thread(lambda: profiler.detected_leaks, timeout=2)
                time.sleep(0.02)
    finally:
        assert profiler.stop(timeout=5)
    assert zoo.calls_off_main() == [] and profiler.total_snapshots > 10
    LEAKING.clear()


def test_stop_without_waiting_then_start_never_leaves_two_loops():
    """Before: ten uninstrument(0)/instrument() cycles left nine loops running."""
    profiler = MemoryProfiler(snapshot_interval=0.05)
    profiler.start()
    for _ in range(10):
        profiler.stop(timeout=0)
        profiler.start()
    deadline = time.monotonic() + 10
    loops = []
    while time.monotonic() < deadline:
        loops = [t for t in threading.enumerate() if t.name == "otel-memory-profiler"]
        if len(loops) == 1:
            break
        time.sleep(0.05)
    try:
        assert len(loops) == 1
    finally:
        assert profiler.stop(timeout=5)
