"""Per-span memory and GC pauses, with the in-memory span exporter and metric reader."""

import gc
import mmap

import psutil
from opentelemetry.sdk.trace import TracerProvider

from opentelemetry_instrumentation_memory import MemorySpanProcessor, get_memory_profiler
from opentelemetry_instrumentation_memory.otel.spans import OTHER_SPANS, RSS_START_ATTRIBUTE


def resident(size):
    """``size`` bytes of fresh resident memory: an anonymous mapping, every page written (a bytearray
    may reuse pages an earlier test freed, which the process already holds)."""
    ballast = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        ballast[offset] = 1
    return ballast


def histogram_points(telemetry, name):
    data = telemetry.metric_reader.get_metrics_data()
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_each_span_carries_its_starting_memory_and_the_histogram_its_growth(instrumentor, telemetry):
    instrumentor.instrument(snapshot_interval=3600.0, span_memory=True, **telemetry.providers())
    tracer = telemetry.tracer_provider.get_tracer("app")
    kept = []
    gc.collect()  # earlier tests' garbage freed now, not inside the spans
    with tracer.start_as_current_span("GET /leaky"):
        kept.append(resident(64 << 20))
    with tracer.start_as_current_span("GET /health"):
        pass
    spans = {span.name: span for span in telemetry.spans.get_finished_spans()}
    # Set while the span was writable: the growth shows between consecutive spans' starts.
    started = {name: span.attributes[RSS_START_ATTRIBUTE] for name, span in spans.items()}
    assert started["GET /health"] - started["GET /leaky"] > 48, started
    assert abs(started["GET /health"] - psutil.Process().memory_info().rss / 2**20) < 16
    points = {
        p.attributes["span_name"]: p
        for p in histogram_points(telemetry, "fogcompute_memory_span_rss_delta_mb")
    }
    assert points["GET /leaky"].sum > 48 and points["GET /leaky"].count == 1
    assert points["GET /health"].count == 1 and abs(points["GET /health"].sum) < 4


def test_only_the_public_processor_hooks_are_needed(telemetry):
    """The processor driven by ``on_start``/``on_end`` alone, as any conforming SDK calls them, on
    a span it never saw end (its provider has no such processor)."""
    processor = MemorySpanProcessor(telemetry.meter_provider)
    span = TracerProvider().get_tracer("elsewhere").start_span("GET /report")
    processor.on_start(span)
    assert span.attributes[RSS_START_ATTRIBUTE] > 0
    with resident(24 << 20):  # held until the span has ended
        span.end()
        processor.on_end(span)
    (point,) = histogram_points(telemetry, "fogcompute_memory_span_rss_delta_mb")
    assert point.attributes["span_name"] == "GET /report" and point.count == 1 and point.sum > 20
    processor.on_end(span)  # ended twice: nothing left to record
    assert histogram_points(telemetry, "fogcompute_memory_span_rss_delta_mb")[0].count == 1


def test_span_names_beyond_the_bound_share_one_series(telemetry):
    processor = MemorySpanProcessor(telemetry.meter_provider, max_span_names=3)
    telemetry.tracer_provider.add_span_processor(processor)
    tracer = telemetry.tracer_provider.get_tracer("app")
    for index in range(10):
        with tracer.start_as_current_span(f"GET /item/{index}"):
            pass
    names = {
        p.attributes["span_name"] for p in histogram_points(telemetry, "fogcompute_memory_span_rss_delta_mb")
    }
    assert names == {"GET /item/0", "GET /item/1", "GET /item/2", OTHER_SPANS}


def test_gc_pauses_are_timed_by_generation(instrumentor, telemetry):
    instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    profiler = get_memory_profiler()
    assert profiler.gc_pauses.installed
    garbage = [[i] for i in range(200_000)]
    del garbage
    gc.collect(2)
    gc.collect(0)
    points = telemetry.metric_points()
    assert points["fogcompute_memory_gc_pause_max_seconds"][0][1] > 0
    generations = {
        p.attributes["generation"]: p
        for p in histogram_points(telemetry, "fogcompute_memory_gc_pause_seconds")
    }
    assert generations["2"].count >= 1 and generations["2"].sum > 0
    instrumentor.uninstrument()
    assert not profiler.gc_pauses.installed
