"""The container gauges through the SDK: the cgroup's figures in bytes, read by the snapshot and exported
as they were read; nothing outside a cgroup."""

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.records import ContainerMemory
from opentelemetry_instrumentation_memory.core.sampling.container import ContainerMemoryReader
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker
from opentelemetry_instrumentation_memory.otel.metrics import metrics_for

from ..unit.test_container import own_cgroup_or_skip

USAGE = "fogcompute_memory_container_usage_bytes"
WORKING_SET = "fogcompute_memory_container_working_set_bytes"
BY_KIND = "fogcompute_memory_container_memory_bytes"


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


def profiler_reading(container):
    profiler = MemoryProfiler(warmup_seconds=0)
    profiler._taker = SnapshotTaker(container_reader=lambda: container)
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
