"""The container gauges through the SDK: the cgroup's figures in bytes, read by the snapshot and exported
as they were read; nothing outside a cgroup."""

import os

import psutil
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.records import MB, ContainerMemory, MemoryLimit
from opentelemetry_instrumentation_memory.core.sampling.container import ContainerMemoryReader
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker
from opentelemetry_instrumentation_memory.otel.metrics import metrics_for

from ..unit.test_container import kernel_usage, own_cgroup_or_skip

USAGE = "fogcompute_memory_container_usage_bytes"
WORKING_SET = "fogcompute_memory_container_working_set_bytes"
BY_KIND = "fogcompute_memory_container_memory_bytes"
HEAP_USED = "fogcompute_memory_heap_used_mb"
HEAP_PERCENT = "fogcompute_memory_heap_percent"
HEAP_USED_INFO = "fogcompute_memory_heap_used_info"


def collect(profiler):
    reader = InMemoryMetricReader()
    metrics_for(MeterProvider(metric_readers=[reader]), "test").attach(profiler)
    points = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points[metric.name] = (
                    metric.unit,
                    {tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points},
                )
    return points


def profiler_reading(container, limit=None):
    profiler = MemoryProfiler(warmup_seconds=0)
    if limit is None:
        profiler._taker = SnapshotTaker(container_reader=lambda: container)
    else:
        profiler._taker = SnapshotTaker(lambda: limit, container_reader=lambda: container)
    profiler.snapshot()
    return profiler


def test_the_gauges_carry_the_reading_in_bytes():
    reading = ContainerMemory("cgroup_v2", 300, 250, 100, 150, 40, 20)
    points = collect(profiler_reading(reading))
    assert points[USAGE] == ("By", {(): 300})
    assert points[WORKING_SET] == ("By", {(): 250})
    kinds = {"anon": 100, "file": 150, "kernel": 40, "shmem": 20}
    assert points[BY_KIND] == ("By", {(("kind", kind),): value for kind, value in kinds.items()})


def test_a_figure_the_kernel_does_not_give_is_absent():
    points = collect(profiler_reading(ContainerMemory("cgroup_v1", 300, None, 100, 150, None, 20)))
    assert points[USAGE][1] == {(): 300}
    assert WORKING_SET not in points
    assert set(points[BY_KIND][1]) == {(("kind", "anon"),), (("kind", "file"),), (("kind", "shmem"),)}


def test_nothing_outside_a_cgroup():
    points = collect(profiler_reading(None))
    assert "fogcompute_memory_rss_mb" in points  # the process's own figures are still there
    assert not {USAGE, WORKING_SET, BY_KIND} & set(points)


def test_this_machine_the_exported_usage_is_a_fresh_reading_within_5_percent():
    path, _ = own_cgroup_or_skip()
    profiler = MemoryProfiler(warmup_seconds=0)
    profiler.snapshot()
    points = collect(profiler)
    fresh = ContainerMemoryReader().read()
    assert fresh is not None, path
    assert points[USAGE][1][()] == pytest.approx(fresh.usage_bytes, rel=0.05), path
    assert points[WORKING_SET][1][()] == pytest.approx(fresh.working_set_bytes, rel=0.05), path
    assert points[BY_KIND][1][(("kind", "anon"),)] == pytest.approx(fresh.anon_bytes, rel=0.05), path
    # the process's RSS stays, as attribution (not bounded by the usage: shared library pages count in
    # every RSS that maps them, but are charged to the one cgroup that first read them)
    assert points["fogcompute_memory_rss_mb"][1][()] > 0


def test_under_a_cgroup_limit_the_heap_gauges_are_the_containers_and_say_so():
    reading = ContainerMemory("cgroup_v2", 300 * (1 << 20), 250 * (1 << 20), 100, 150, 40, 20)
    points = collect(profiler_reading(reading, MemoryLimit(1000 * (1 << 20), "cgroup_v2")))
    assert points[HEAP_USED][1] == {(): 250.0}
    assert points[HEAP_PERCENT][1] == {(): 25.0}
    assert points[HEAP_USED_INFO] == ("", {(("source", "container_working_set"),): 1})
    assert points["fogcompute_memory_limit_info"][1] == {(("source", "cgroup_v2"),): 1}


def test_without_a_cgroup_limit_the_heap_gauges_are_the_process_rss_and_say_so():
    reading = ContainerMemory("cgroup_v2", 300 * (1 << 20), 250 * (1 << 20))
    profiler = profiler_reading(reading, MemoryLimit(1 << 40, "physical"))
    points = collect(profiler)
    assert points[HEAP_USED][1] == {(): profiler.latest_snapshot.rss_mb}
    assert points[HEAP_USED_INFO][1] == {(("source", "process_rss"),): 1}
    assert points[USAGE][1] == {(): 300 * (1 << 20)}  # the container's figures are still exported


def kernel_working_set(usage_path):
    """The kernel's usage less its inactive file pages, from the files beside ``usage_path`` read here,
    without the package's reader (v2 inactive_file, v1 total_inactive_file)."""
    usage = int(open(usage_path).read())
    stat = dict(line.split() for line in open(os.path.join(os.path.dirname(usage_path), "memory.stat")))
    inactive = stat.get("total_inactive_file", stat.get("inactive_file"))
    return max(0, usage - int(inactive))


def test_this_machine_under_its_cgroup_the_exported_heap_is_the_kernels_working_set_within_5_percent():
    """The machine's own cgroup, its limit taken as binding (whatever its value: the test needs a
    limit of the cgroup's own hierarchy, which a bare host may not set): the exported heap_used_mb is
    the kernel's usage less inactive file pages, read independently just before and after."""
    path, _ = own_cgroup_or_skip()
    source = "cgroup_v2" if path.endswith("memory.current") else "cgroup_v1"
    limit = MemoryLimit(1 << 40, source)
    before, usage_before = kernel_working_set(path), kernel_usage()[1]
    profiler = MemoryProfiler(warmup_seconds=0)
    profiler._taker = SnapshotTaker(lambda: limit)  # the real container reader
    profiler.snapshot()
    points = collect(profiler)
    after, usage_after = kernel_working_set(path), kernel_usage()[1]
    exported = points[HEAP_USED][1][()] * MB
    assert 0.95 * min(before, after) <= exported <= 1.05 * max(before, after), (path, before, exported, after)
    assert points[HEAP_PERCENT][1][()] == pytest.approx(100 * exported / limit.bytes)
    assert points[HEAP_USED_INFO][1] == {(("source", "container_working_set"),): 1}
    # and the usage, against the kernel's memory.current / memory.usage_in_bytes read independently
    exported_usage = points[USAGE][1][()]
    assert 0.95 * min(usage_before, usage_after) <= exported_usage <= 1.05 * max(usage_before, usage_after)
    # rss_mb stays the process's own
    assert points["fogcompute_memory_rss_mb"][1][()] == pytest.approx(
        psutil.Process().memory_info().rss / MB, rel=0.1
    )


def test_this_machine_with_its_real_limit_the_heap_follows_the_limits_source():
    """Whatever this machine's limit is: the container's working set under a cgroup limit, the RSS
    under physical memory."""
    profiler = MemoryProfiler(warmup_seconds=0)
    snapshot = profiler.snapshot()
    if snapshot.limit_source == "physical":
        assert (snapshot.usage_source, snapshot.heap_used_mb) == ("process_rss", snapshot.rss_mb)
    else:
        assert snapshot.container is not None and snapshot.usage_source.startswith("container_")
        assert snapshot.heap_used_mb * MB in (
            snapshot.container.working_set_bytes,
            snapshot.container.usage_bytes,
        )


def test_pss_and_uss_are_exported_in_bytes_and_absent_when_unreadable():
    profiler = MemoryProfiler(warmup_seconds=0)
    profiler._taker = SnapshotTaker(proportional_reader=lambda: (3 << 20, 2 << 20))
    profiler.snapshot()
    points = collect(profiler)
    assert points["fogcompute_memory_process_pss_bytes"] == ("By", {(): 3 << 20})
    assert points["fogcompute_memory_process_uss_bytes"] == ("By", {(): 2 << 20})
    profiler._taker = SnapshotTaker(proportional_reader=lambda: (None, 2 << 20))  # USS alone: macOS
    profiler.snapshot()
    points = collect(profiler)
    assert "fogcompute_memory_process_pss_bytes" not in points
    assert points["fogcompute_memory_process_uss_bytes"][1] == {(): 2 << 20}
