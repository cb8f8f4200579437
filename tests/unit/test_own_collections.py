"""The collections the profiler's own threads set off are not the host's: an idle process read 97
garbage collections a second ("normal 0.0/s") and fired gc_spike, all of them the profiler's."""

import gc
import time

from opentelemetry_instrumentation_memory import MemoryProfiler

HEAP = [{"entry": i} for i in range(60_000)]  # a static heap the host never touches


def test_an_idle_process_collects_nothing_the_profiler_set_off():
    profiler = MemoryProfiler(snapshot_interval=0.05, census_budget=1.0, warmup_seconds=0.0)
    before = [generation["collections"] for generation in gc.get_stats()]
    profiler.start()
    try:
        time.sleep(3)  # the host does nothing
    finally:
        assert profiler.stop(timeout=10)
    total = sum(after["collections"] - was for after, was in zip(gc.get_stats(), before))
    hosts = profiler.history.column("gc_collections_total")
    assert total > 10  # the profiler's censuses and walks do set collections off
    assert hosts[-1] - hosts[0] <= 5, (hosts[0], hosts[-1], total)  # all but a few: the test runner's
    assert [alert.type for alert in profiler.active_alerts if alert.type == "gc_spike"] == []
    assert len(HEAP) == 60_000
