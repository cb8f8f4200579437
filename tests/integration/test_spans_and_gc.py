"""Per-span memory and GC pauses, with the in-memory span exporter and metric reader."""

import gc

from opentelemetry_instrumentation_memory import MemorySpanProcessor, get_memory_profiler
from opentelemetry_instrumentation_memory.otel.spans import OTHER_SPANS, RSS_DELTA_ATTRIBUTE


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


def test_each_span_carries_its_memory_growth_and_the_histogram_bounds_names(instrumentor, telemetry):
    instrumentor.instrument(snapshot_interval=3600.0, span_memory=True, **telemetry.providers())
    tracer = telemetry.tracer_provider.get_tracer("app")
    kept = []
    with tracer.start_as_current_span("GET /leaky"):
        kept.append(bytearray(32 << 20))
        kept[-1][::4096] = b"x" * len(kept[-1][::4096])
    with tracer.start_as_current_span("GET /health"):
        pass
    spans = {span.name: span for span in telemetry.spans.get_finished_spans()}
    assert spans["GET /leaky"].attributes[RSS_DELTA_ATTRIBUTE] > 30
    assert abs(spans["GET /health"].attributes[RSS_DELTA_ATTRIBUTE]) < 4
    points = {
        p.attributes["span_name"]: p
        for p in histogram_points(telemetry, "fogcompute_memory_span_rss_delta_mb")
    }
    assert points["GET /leaky"].sum > 30 and points["GET /leaky"].count == 1
    assert points["GET /health"].count == 1


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
