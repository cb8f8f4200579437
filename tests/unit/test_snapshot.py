import gc
import json
import logging
import os
import tracemalloc

import psutil
import pytest

from opentelemetry_instrumentation_memory import MemoryLimit, MemoryProfiler
from opentelemetry_instrumentation_memory.core.records import MB, ContainerMemory
from opentelemetry_instrumentation_memory.core.sampling.container import ContainerMemoryReader
from opentelemetry_instrumentation_memory.core.sampling.limits import effective_memory_limit
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker

from .test_container import V1_STAT, v1_tree, v2_tree


def test_heap_is_resident_memory_against_the_effective_limit_without_a_container_reading():
    taker = SnapshotTaker(lambda: MemoryLimit(512 << 20, "cgroup_v2"), container_reader=lambda: None)
    snapshot, counts = taker.take(top_n=5)
    rss = psutil.Process().memory_info().rss / MB
    assert snapshot.usage_source == "process_rss"
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


# --- heap_* describe the container where the limit is a cgroup's -----------------------------------

GIB = 1 << 30


def fixture_taker(root, physical=16 * GIB):
    """A taker reading the limit and the container of the fixture tree under ``root``; the process's
    own RSS stays this process's."""
    return SnapshotTaker(
        lambda: effective_memory_limit(root, lambda: physical),
        container_reader=ContainerMemoryReader(root).read,
    )


def test_under_a_cgroup_v2_limit_the_heap_is_the_containers_working_set(tmp_path):
    v2_tree(str(tmp_path))  # memory.max 512 MiB, memory.current 200 MiB, inactive_file 30 MiB
    snapshot, _ = fixture_taker(str(tmp_path)).take(top_n=1)
    assert snapshot.limit_source == "cgroup_v2" and snapshot.heap_size_mb == 512
    assert snapshot.usage_source == "container_working_set"
    assert snapshot.heap_used_mb == 170
    assert snapshot.heap_percent == pytest.approx(100 * 170 / 512)
    # the process's own RSS stays, as attribution: this test process, not the fixture's 200 MiB
    assert snapshot.rss_mb == pytest.approx(psutil.Process().memory_info().rss / MB, rel=0.1)


def test_under_a_cgroup_v1_limit_the_heap_is_the_containers_working_set(tmp_path):
    v1_tree(str(tmp_path))  # limit 256 MiB, usage 150 MiB, total_inactive_file 16 MiB
    snapshot, _ = fixture_taker(str(tmp_path)).take(top_n=1)
    assert (snapshot.limit_source, snapshot.usage_source) == ("cgroup_v1", "container_working_set")
    assert snapshot.heap_used_mb == 134
    assert snapshot.heap_percent == pytest.approx(100 * 134 / 256)


@pytest.mark.parametrize("layout", ["v2", "v1"])
def test_without_a_working_set_the_heap_is_the_containers_usage(tmp_path, layout):
    if layout == "v2":
        v2_tree(str(tmp_path), stat="anon 1048576\n")  # no inactive_file: no working set
        usage, limit = 200, 512
    else:
        stat = "".join(line + "\n" for line in V1_STAT.splitlines() if "inactive_file" not in line)
        v1_tree(str(tmp_path), stat=stat)
        usage, limit = 150, 256
    snapshot, _ = fixture_taker(str(tmp_path)).take(top_n=1)
    assert snapshot.usage_source == "container_usage"
    assert (snapshot.heap_used_mb, snapshot.heap_percent) == (usage, pytest.approx(100 * usage / limit))


def test_four_workers_read_the_pods_percentage_not_a_quarter_each(tmp_path):
    """Four processes in one cgroup at its limit: each reads what the OOM killer reads, 100 %."""
    v2_tree(str(tmp_path), current=str(512 << 20), stat="inactive_file 0\n")
    snapshot, _ = fixture_taker(str(tmp_path)).take(top_n=1)
    assert snapshot.heap_percent == 100.0
    # each process's own share stays its own RSS, whatever the container's figure
    assert snapshot.rss_mb == pytest.approx(psutil.Process().memory_info().rss / MB, rel=0.1)


def test_under_physical_memory_the_heap_stays_the_process_rss(tmp_path):
    """A cgroup with no limit ("max") or one above physical memory: RSS against physical memory,
    though the cgroup's reading is there (and exported)."""
    v2_tree(str(tmp_path))
    root = str(tmp_path)
    with open(os.path.join(root, "sys/fs/cgroup/kubepods/pod1/app/memory.max"), "w") as handle:
        handle.write("max\n")
    for physical in (16 * GIB, 256 << 20):
        snapshot, _ = fixture_taker(root, physical).take(top_n=1)
        assert (snapshot.limit_source, snapshot.usage_source) == ("physical", "process_rss")
        assert snapshot.heap_used_mb == snapshot.rss_mb
        assert snapshot.heap_percent == pytest.approx(100 * snapshot.rss_mb / snapshot.heap_size_mb)
        assert snapshot.container is not None and snapshot.container.usage_bytes == 200 << 20


def test_a_limit_from_the_other_hierarchy_is_not_set_against_this_reading():
    reading = ContainerMemory("cgroup_v2", 300 << 20, 250 << 20)
    taker = SnapshotTaker(lambda: MemoryLimit(1 << 30, "cgroup_v1"), container_reader=lambda: reading)
    snapshot, _ = taker.take(top_n=1)
    assert snapshot.usage_source == "process_rss" and snapshot.heap_used_mb == snapshot.rss_mb


def test_without_a_container_reading_the_heap_is_the_process_rss_and_back(tmp_path):
    directory = v2_tree(str(tmp_path))
    taker = fixture_taker(str(tmp_path))
    assert taker.take(top_n=1)[0].usage_source == "container_working_set"
    os.rename(os.path.join(directory, "memory.current"), os.path.join(directory, "hidden"))
    snapshot, _ = taker.take(top_n=1)
    assert snapshot.usage_source == "process_rss" and snapshot.heap_used_mb == snapshot.rss_mb
    os.rename(os.path.join(directory, "hidden"), os.path.join(directory, "memory.current"))
    assert taker.take(top_n=1)[0].heap_used_mb == 170


def test_the_usage_source_is_in_the_snapshots_record(tmp_path):
    v2_tree(str(tmp_path))
    record = json.loads(json.dumps(fixture_taker(str(tmp_path)).take(top_n=1)[0].to_dict()))
    assert record["usage_source"] == "container_working_set" and record["heap_used_mb"] == 170
