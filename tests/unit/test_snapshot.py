import gc
import json
import logging
import os
import tracemalloc

import psutil
import pytest

from opentelemetry_instrumentation_memory import MemoryLimit, MemoryProfiler
from opentelemetry_instrumentation_memory.core.records import MB
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker


def test_heap_is_resident_memory_against_the_effective_limit():
    taker = SnapshotTaker(lambda: MemoryLimit(512 << 20, "cgroup_v2"))
    snapshot, counts = taker.take(top_n=5)
    rss = psutil.Process().memory_info().rss / MB
    assert snapshot.heap_used_mb == snapshot.rss_mb
    assert snapshot.heap_used_mb == pytest.approx(rss, rel=0.1)
    assert snapshot.heap_size_mb == 512.0
    assert snapshot.heap_percent == pytest.approx(100 * snapshot.heap_used_mb / 512.0)
    assert snapshot.limit_source == "cgroup_v2"
    assert snapshot.vms_mb >= snapshot.rss_mb
    assert snapshot.total_objects == sum(counts.values())
    assert len(snapshot.top_objects) == 5
    assert [c for _, c in snapshot.top_objects] == sorted((c for _, c in snapshot.top_objects), reverse=True)
    assert len(snapshot.gc_collections) == 3
    assert snapshot.duration_ms > 0


def test_snapshot_is_immutable_and_serialisable():
    snapshot, _ = SnapshotTaker().take(top_n=3)
    with pytest.raises(AttributeError):
        snapshot.heap_used_mb = 0  # type: ignore[misc]
    record = json.loads(json.dumps(snapshot.to_dict()))
    assert set(record["top_objects"]) == {name for name, _ in snapshot.top_objects}


def test_tracemalloc_figures_are_zero_when_off_and_real_when_on():
    assert not tracemalloc.is_tracing()
    taker = SnapshotTaker()
    off, _ = taker.take(top_n=1)
    assert off.tracemalloc_current_mb == off.tracemalloc_peak_mb == 0
    tracemalloc.start()
    try:
        keep = [bytes(1024) for _ in range(2_000)]
        on, _ = taker.take(top_n=1)
    finally:
        tracemalloc.stop()
    assert len(keep) == 2_000
    assert on.tracemalloc_current_mb >= 1.5
    assert on.tracemalloc_peak_mb >= on.tracemalloc_current_mb


def test_limit_is_cached_between_snapshots():
    reads = []
    taker = SnapshotTaker(lambda: reads.append(1) or MemoryLimit(1 << 30, "physical"), limit_ttl=300)
    for _ in range(5):
        taker.take(top_n=1)
    assert len(reads) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_process_handle_describes_the_child_after_fork():
    taker = SnapshotTaker()
    assert taker.process().pid == os.getpid()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            ballast = bytearray(64 << 20)
            ballast[::4096] = b"x" * len(ballast[::4096])
            snapshot, _ = taker.take(top_n=1)
            message = f"{taker.process().pid} {os.getpid()} {snapshot.rss_mb}"
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    handle_pid, child_pid, child_rss = os.read(read, 200).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    assert handle_pid == child_pid == str(pid)
    parent, _ = taker.take(top_n=1)
    assert taker.process().pid == os.getpid()
    assert float(child_rss) > parent.rss_mb + 32


def test_a_failing_census_costs_only_the_object_figures(monkeypatch, caplog):
    def broken():
        raise RuntimeError("the heap cannot be walked")

    profiler = MemoryProfiler()
    counted = profiler.snapshot()
    blind = MemoryProfiler()
    monkeypatch.setattr(gc, "get_objects", broken)
    with caplog.at_level(logging.ERROR):
        snapshots = [profiler.snapshot() for _ in range(3)]
        first = blind.snapshot()
    assert all(s.rss_mb > 0 and len(s.gc_collections) == 3 and not s.census for s in snapshots)
    assert all(s.top_objects == counted.top_objects for s in snapshots)  # the last census's figures
    assert first.rss_mb > 0 and first.top_objects == () and not first.census
    failures = [r for r in caplog.records if "could not count objects" in r.getMessage()]
    assert len(failures) == 2  # once per profiler, not once per snapshot
    monkeypatch.undo()
    assert profiler.snapshot().census
