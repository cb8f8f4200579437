"""Semantic-convention instruments: opt-in, read from the cached snapshot, on both export paths."""

import gc
import logging
import time
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk.metrics import Counter, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.semconv._incubating.metrics import cpython_metrics, process_metrics
from opentelemetry.semconv.schemas import Schemas
from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler, get_memory_profiler
from opentelemetry_instrumentation_memory.otel.metrics import instrument_names
from opentelemetry_instrumentation_memory.otel.semconv import (
    COUNTER,
    GENERATION,
    SCHEMA_URL,
    SEMCONV_INSTRUMENTS,
)

from .otlp_receiver import GrpcReceiver, HttpReceiver

SEMCONV_NAMES = {spec.name for spec in SEMCONV_INSTRUMENTS}
PROCESS_NAMES = {"process.memory.usage", "process.memory.virtual"}


def test_names_units_and_kinds_are_those_the_conventions_publish():
    """Checked against the SDK's own generated conventions, not a copy of them."""
    meter = MeterProvider().get_meter("conventions")
    published = {
        instrument.name: instrument
        for instrument in (
            process_metrics.create_process_memory_usage(meter),
            process_metrics.create_process_memory_virtual(meter),
            cpython_metrics.create_cpython_gc_collections(meter),
            cpython_metrics.create_cpython_gc_collected_objects(meter),
            cpython_metrics.create_cpython_gc_uncollectable_objects(meter),
        )
    }
    assert SEMCONV_NAMES == set(published)
    for spec in SEMCONV_INSTRUMENTS:
        instrument = published[spec.name]
        assert (spec.unit, spec.description) == (instrument.unit, instrument.description), spec.name
        assert isinstance(instrument, Counter if spec.kind == COUNTER else UpDownCounter), spec.name
    assert SCHEMA_URL in {schema.value for schema in Schemas}


def points_by_name(reader):
    return {
        metric.name: (scope.scope, metric)
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def snapshot_after_the_first(profiler):
    """A snapshot of our own, once the loop's first (taken as it starts) is in."""
    deadline = time.monotonic() + 10
    while profiler.total_snapshots < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    return profiler.snapshot()


def test_opt_in_by_keyword_reads_the_cached_snapshot(instrumentor, telemetry):
    instrumentor.instrument(snapshot_interval=3600.0, semconv="process, cpython", **telemetry.providers())
    snapshot = snapshot_after_the_first(get_memory_profiler())
    garbage = [[i] for i in range(50_000)]
    del garbage
    gc.collect()  # after the snapshot: the instruments must still show the snapshot's figures
    metrics = points_by_name(telemetry.metric_reader)
    assert SEMCONV_NAMES <= set(metrics) and set(instrument_names()) <= set(metrics)
    scope, usage = metrics["process.memory.usage"]
    assert scope.schema_url == SCHEMA_URL
    assert [p.value for p in usage.data.data_points] == [round(snapshot.rss_mb * 2**20)]
    assert not usage.data.is_monotonic and usage.unit == "By"
    _, collections = metrics["cpython.gc.collections"]
    by_generation = {p.attributes[GENERATION]: p.value for p in collections.data.data_points}
    assert by_generation == dict(enumerate(snapshot.gc_collections))
    assert all(isinstance(generation, int) for generation in by_generation)
    _, collected = metrics["cpython.gc.collected_objects"]
    assert {p.attributes[GENERATION]: p.value for p in collected.data.data_points} == dict(
        enumerate(snapshot.gc_collected_by_generation)
    )
    assert sum(snapshot.gc_collected_by_generation) == snapshot.gc_collected


def test_off_by_default_and_off_again_after_an_instrument_without_it(instrumentor, telemetry):
    instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    get_memory_profiler().snapshot()
    assert not SEMCONV_NAMES & set(points_by_name(telemetry.metric_reader))
    instrumentor.uninstrument()
    instrumentor.instrument(snapshot_interval=3600.0, semconv=["process"], **telemetry.providers())
    get_memory_profiler().snapshot()
    assert PROCESS_NAMES == SEMCONV_NAMES & set(points_by_name(telemetry.metric_reader))
    instrumentor.uninstrument()
    # The instruments stay on the meter (none can be removed), but report nothing.
    instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    get_memory_profiler().snapshot()
    metrics = points_by_name(telemetry.metric_reader)
    assert all(not metrics[name][1].data.data_points for name in PROCESS_NAMES if name in metrics)


def test_the_environment_opts_in_and_unknown_groups_are_warned_about(
    instrumentor, telemetry, monkeypatch, caplog
):
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_SEMCONV", "cpython,jvm")
    with caplog.at_level(logging.WARNING):
        instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    assert "OTEL_PYTHON_MEMORY_SEMCONV" in caplog.text and "'jvm'" in caplog.text
    get_memory_profiler().snapshot()
    names = SEMCONV_NAMES & set(points_by_name(telemetry.metric_reader))
    assert names == SEMCONV_NAMES - PROCESS_NAMES


@pytest.mark.parametrize("value", ["process,jvm", 3, ["process", None], b"process"])
def test_a_bad_keyword_is_a_value_error_naming_it(instrumentor, telemetry, value):
    with pytest.raises(ValueError, match="semconv"):
        instrumentor.instrument(snapshot_interval=3600.0, semconv=value, **telemetry.providers())
    with pytest.raises(ValueError, match="semconv"):
        MemoryExporter(host="127.0.0.1", port=0, semconv=value)


def scrape_families(exporter):
    text = urllib.request.urlopen(exporter.url, timeout=5).read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_prometheus_names_and_the_series_they_cost():
    profiler = MemoryProfiler(snapshot_interval=3600.0)
    snapshot = profiler.snapshot()
    plain = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler, environ={})
    opted = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler, semconv="process,cpython")
    plain.serve()
    opted.serve()
    try:
        before, after = scrape_families(plain), scrape_families(opted)
    finally:
        plain.close()
        opted.close()
    generations = len(snapshot.gc_collections)
    added = set(after) - set(before)
    assert added == {
        "process_memory_usage_bytes",
        "process_memory_virtual_bytes",
        "cpython_gc_collections",
        "cpython_gc_collected_objects",
        "cpython_gc_uncollectable_objects",
    }
    assert {name: len(before[name].samples) for name in before} == {
        name: len(after[name].samples) for name in before
    }
    assert sum(len(after[name].samples) for name in added) == 2 + 3 * generations  # 11 on CPython 3.10-3.13
    usage = after["process_memory_usage_bytes"]
    assert usage.type == "gauge" and usage.samples[0].value == round(snapshot.rss_mb * 2**20)
    collections = after["cpython_gc_collections"]
    assert collections.type == "counter"
    assert {s.labels["cpython_gc_generation"]: s.value for s in collections.samples} == {
        str(g): float(count) for g, count in enumerate(snapshot.gc_collections)
    }


def test_the_dedicated_endpoint_reads_the_variable(monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_SEMCONV", "process")
    profiler = MemoryProfiler(snapshot_interval=3600.0)
    profiler.snapshot()
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    try:
        names = set(scrape_families(exporter))
    finally:
        exporter.close()
    assert {"process_memory_usage_bytes", "process_memory_virtual_bytes"} <= names
    assert not {name for name in names if name.startswith("cpython_gc")}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_semconv_instruments_arrive_over_otlp_with_the_schema_url(protocol, instrumentor, telemetry):
    receiver = (GrpcReceiver() if protocol == "grpc" else HttpReceiver()).start()
    if protocol == "grpc":
        exporter = GrpcMetricExporter(endpoint=receiver.endpoint, insecure=True)
    else:
        exporter = HttpMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics")
    meter_provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)]
    )
    try:
        instrumentor.instrument(
            snapshot_interval=3600.0,
            semconv=("process", "cpython"),
            meter_provider=meter_provider,
            tracer_provider=telemetry.tracer_provider,
            logger_provider=telemetry.logger_provider,
        )
        get_memory_profiler().snapshot()
        assert meter_provider.force_flush(10_000)
        names = receiver.received.metric_names()
        assert SEMCONV_NAMES <= set(names)
        assert names["process.memory.usage"] == "By"
        schema_urls = receiver.received.schema_urls()
        assert {schema_urls[name] for name in SEMCONV_NAMES | set(instrument_names())} == {SCHEMA_URL}
    finally:
        meter_provider.shutdown()
        receiver.stop()
