"""Hostile type names and type churn, through the real export paths: a real scrape of the real
endpoint, real log records encoded as OTLP, and OTLP and in-memory readers on a user-owned provider."""

import gc
import time
import urllib.request

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler, get_memory_profiler
from opentelemetry_instrumentation_memory.otel.metrics import metrics_for

from .otlp_receiver import HttpReceiver

OBJECT_COUNT = "fogcompute_memory_object_count"


def _scrape(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return response.read().decode("utf-8")


def _scraped_object_types(text):
    """{object_type: value} of the object_count family; fails on any overflow label."""
    exported = {}
    for family in text_string_to_metric_families(text):
        if family.name == OBJECT_COUNT:
            for sample in family.samples:
                assert "otel_metric_overflow" not in sample.labels, sample.labels
                exported[sample.labels["object_type"]] = sample.value
    return exported


def _surrogate_class(qualname):
    """A class named from a surrogate-escaped string (``type()`` itself rejects such a name)."""
    kind = type("Row", (), {})
    kind.__qualname__ = qualname
    return kind


def test_a_lone_surrogate_in_a_type_name_is_scraped_as_an_escape():
    row, other = _surrogate_class("Row\udcff"), _surrogate_class("Row\udcfe")
    rows = [row() for _ in range(30_000)] + [other() for _ in range(25_000)]
    profiler = MemoryProfiler(top_objects_count=10)
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    try:
        profiler.snapshot()
        exported = _scraped_object_types(_scrape(exporter.url))
    finally:
        exporter.close()
    assert exported[f"{__name__}.Row\\udcff"] == 30_000  # the escape, as text: distinct names stay distinct
    assert exported[f"{__name__}.Row\\udcfe"] == 25_000
    assert len(rows) == 55_000


def test_a_lone_surrogate_in_a_type_name_reaches_log_records_as_valid_text(instrumentor, telemetry):
    row = _surrogate_class("Leaky\udcff")
    instrumentor.instrument(
        snapshot_interval=3600.0, leak_window=16, leak_min_snapshots=12, **telemetry.providers()
    )
    profiler = get_memory_profiler()
    crowd = []
    for _ in range(16):
        crowd.extend(row() for _ in range(200))
        profiler.snapshot()
    assert profiler.flush_callbacks(10)
    records = telemetry.logs.get_finished_logs()
    types = {record.log_record.attributes.get("fogcompute.memory.object_type") for record in records}
    assert f"{__name__}.Leaky\\udcff" in types
    assert encode_logs(records).SerializeToString()  # what the OTLP exporter sends: valid UTF-8 only


def _last_otlp_object_types(received):
    """{object_type: value} of object_count in the last OTLP request; fails on any overflow point."""
    with received.lock:
        request = received.metrics[-1]
    exported = {}
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == OBJECT_COUNT:
                    for point in metric.gauge.data_points:
                        attributes = {kv.key: kv.value for kv in point.attributes}
                        assert "otel.metric.overflow" not in attributes, attributes
                        exported[attributes["object_type"].string_value] = point.as_int
    return exported


def test_type_churn_past_the_sdk_cardinality_limit_keeps_exporting_the_current_top_types():
    """More than 3,000 class names pass through the top N, each collection going out on all three
    paths: an in-memory reader and OTLP on a provider the user owns, and a real scrape. Each reader
    would otherwise file every type past its 2000th attribute set under ``otel.metric.overflow``."""
    top_n = 300
    profiler = MemoryProfiler(top_objects_count=top_n)
    receiver = HttpReceiver().start()
    in_memory = InMemoryMetricReader()
    otlp = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics", timeout=5),
        export_interval_millis=3_600_000,
    )
    provider = MeterProvider(metric_readers=[in_memory, otlp])
    metrics_for(provider, "test").attach(profiler)
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    seen = set()
    deadline = time.monotonic() + 12
    try:
        for generation in range(60):
            classes = [type(f"Churn{generation}_{i}", (), {}) for i in range(250)]
            instances = [kind() for kind in classes for _ in range(80)]
            snapshot = profiler.snapshot()
            seen.update(name for name, _ in snapshot.top_objects if ".Churn" in name)
            collected = in_memory.get_metrics_data()
            assert otlp.force_flush(5_000)
            scraped = _scraped_object_types(_scrape(exporter.url))
            del classes, instances
            if len(seen) > 3_000 or time.monotonic() > deadline:
                break
        assert len(seen) > 3_000, f"only {len(seen)} class names passed through the top {top_n}"
        current = dict(snapshot.top_objects)
        points = [
            point
            for resource in collected.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == OBJECT_COUNT
            for point in metric.data.data_points
        ]
        # No overflow point, no stale type: exactly the current top N, on every path.
        assert {point.attributes.get("object_type"): point.value for point in points} == current
        assert _last_otlp_object_types(receiver.received) == current
        assert scraped == current
        assert sum(f".Churn{generation}_" in name for name in current) > 100
    finally:
        exporter.close()
        provider.shutdown()
        receiver.stop()
        gc.collect()


class _Stalling(type):
    """Names that raise or sleep, as a metaclass property or ``__getattribute__`` can make them."""

    def __getattribute__(cls, name):
        if name == "__qualname__":
            time.sleep(5)
        if name == "__module__":
            raise RuntimeError("no module for you")
        return type.__getattribute__(cls, name)


class Stalled(metaclass=_Stalling):
    pass


def test_a_hostile_metaclass_neither_blinds_nor_stalls_the_profiler():
    stalled = [Stalled() for _ in range(30_000)]
    profiler = MemoryProfiler(top_objects_count=10)
    started = time.monotonic()
    snapshots = [profiler.snapshot() for _ in range(3)]
    assert time.monotonic() - started < 3  # one sleeping name lookup would take 5 s
    assert all(s.census and s.rss_mb > 0 for s in snapshots)
    assert dict(snapshots[-1].top_objects)[f"{__name__}.Stalled"] == len(stalled)
