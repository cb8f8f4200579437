import time

from opentelemetry._logs import SeverityNumber

from opentelemetry_instrumentation_memory import MemoryProfiler, __version__, get_memory_profiler
from opentelemetry_instrumentation_memory.core.records import Alert, DetectionEvents
from opentelemetry_instrumentation_memory.otel.events import (
    ALERT_EVENT,
    DETECTION_SPAN,
    LEAK_EVENT,
    TelemetryEventSink,
)
from opentelemetry_instrumentation_memory.otel.semconv import SCHEMA_URL

# Pages on any leak here: a few thousand small objects hold a sliver of the headroom, so rank low.
FAST = dict(snapshot_interval=3600.0, leak_window=16, leak_min_snapshots=12, leak_alert_severity="low")


class Hoarded:
    pass


def test_leaks_and_alerts_become_log_records_and_span_events(instrumentor, telemetry, immediate_alerts):
    instrumentor.instrument(**FAST, **telemetry.providers())
    profiler = get_memory_profiler()
    kept = []
    for _ in range(16):
        kept.extend(Hoarded() for _ in range(300))
        profiler.snapshot()
    assert profiler.flush_callbacks()

    records = [data.log_record for data in telemetry.logs.get_finished_logs()]
    leak_records = [r for r in records if r.event_name == LEAK_EVENT]
    hoarded = [r for r in leak_records if r.attributes["fogcompute.memory.object_type"].endswith(".Hoarded")]
    assert hoarded, [r.attributes for r in leak_records]
    leak = hoarded[0]
    assert leak.attributes["fogcompute.memory.object_type"] == f"{__name__}.Hoarded"
    assert leak.attributes["fogcompute.memory.leak.growth_count"] > 1_000
    assert leak.attributes["fogcompute.memory.leak.severity"] == "low"
    assert leak.severity_number == SeverityNumber.INFO
    assert leak.attributes["fogcompute.memory.leak.bytes_per_object"] > 0
    assert leak.attributes["fogcompute.memory.leak.retained_bytes_per_hour"] > 0
    assert "Hoarded" in leak.body

    alert_records = [r for r in records if r.event_name == ALERT_EVENT]
    leak_alert = [r for r in alert_records if r.attributes["fogcompute.memory.alert.type"] == "leak_detected"]
    assert leak_alert and leak_alert[0].attributes["fogcompute.memory.alert.state"] == "firing"
    assert leak_alert[0].severity_number == SeverityNumber.ERROR
    assert leak_alert[0].attributes["fogcompute.memory.alert.threshold"] == 0.0

    spans = [s for s in telemetry.spans.get_finished_spans() if s.name == DETECTION_SPAN]
    events = [(span, event) for span in spans for event in span.events if event.name == LEAK_EVENT]
    assert len(events) == len(leak_records)  # one span event per log record (onset, escalations)
    span, event = next(
        (span, event)
        for span, event in events
        if event.attributes["fogcompute.memory.object_type"].endswith(".Hoarded")
    )
    assert event.attributes["fogcompute.memory.object_type"] == f"{__name__}.Hoarded"
    # The log record was emitted inside the detection span: trace and span ids link the two.
    assert leak.trace_id == span.context.trace_id and leak.span_id == span.context.span_id
    assert len(kept) == 16 * 300


def test_alert_resolution_is_an_event_too(instrumentor, telemetry, immediate_alerts):
    instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    profiler = get_memory_profiler()
    profiler.heap_warning_percent = 0.0
    profiler.snapshot()
    profiler.heap_warning_percent = 80.0
    for _ in range(3):
        profiler.snapshot()
    assert profiler.flush_callbacks()
    states = [
        (r.log_record.attributes["fogcompute.memory.alert.state"], r.log_record.severity_number)
        for r in telemetry.logs.get_finished_logs()
        if r.log_record.attributes.get("fogcompute.memory.alert.type") == "heap_warning"
    ]
    assert states == [("firing", SeverityNumber.WARN), ("resolved", SeverityNumber.INFO)]


def test_no_events_after_uninstrument(instrumentor, telemetry, immediate_alerts):
    instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    profiler = get_memory_profiler()
    instrumentor.uninstrument()
    profiler.heap_warning_percent = 0.0
    profiler.snapshot()
    profiler.flush_callbacks()
    time.sleep(0.05)
    assert telemetry.logs.get_finished_logs() == ()
    assert telemetry.spans.get_finished_spans() == ()
    profiler.heap_warning_percent = 80.0


def test_log_records_carry_the_time_of_their_event(instrumentor, telemetry, immediate_alerts):
    """``timestamp`` and ``observed_timestamp`` are the event's own time in nanoseconds (the
    alert's, the leak's latest detection: a snapshot's), never null."""
    instrumentor.instrument(**FAST, **telemetry.providers())
    profiler = get_memory_profiler()
    alerts, leaks = [], []
    profiler.register_alert_callback(alerts.append)
    profiler.register_leak_callback(leaks.append)
    kept = []
    profiler.heap_warning_percent = 0.0
    try:
        for _ in range(16):
            kept.extend(Hoarded() for _ in range(300))
            profiler.snapshot()
        assert profiler.flush_callbacks()
    finally:
        profiler.heap_warning_percent = 80.0
    snapshot_times = list(profiler.history.column("timestamp"))
    alert_times = {(a.type, a.state): a.timestamp for a in alerts}
    leak_times = {}
    for leak in leaks:
        leak_times.setdefault(leak.key, []).append(leak.last_detected)

    records = [data.log_record for data in telemetry.logs.get_finished_logs()]
    assert [r for r in records if r.event_name == ALERT_EVENT] and [
        r for r in records if r.event_name == LEAK_EVENT
    ]
    for record in records:
        assert record.timestamp is not None and record.observed_timestamp is not None, record
        assert record.observed_timestamp == record.timestamp
        if record.event_name == ALERT_EVENT:
            key = (
                record.attributes["fogcompute.memory.alert.type"],
                record.attributes["fogcompute.memory.alert.state"],
            )
            candidates = [alert_times[key]]
        else:
            candidates = [t for times in leak_times.values() for t in times]
        assert min(abs(record.timestamp - moment * 1e9) for moment in candidates) < 1e9, record.attributes
        # The event's time is a snapshot's time.
        assert min(abs(record.timestamp - moment * 1e9) for moment in snapshot_times) < 1e9
    assert len(kept) == 16 * 300


def test_a_late_delivered_event_keeps_its_own_time(telemetry):
    """An event delivered an hour after it happened (a slow callback queue) is stamped with when it
    happened, not when it was emitted."""
    snapshot = MemoryProfiler(snapshot_interval=3600.0).snapshot(census=False)
    an_hour_ago = time.time() - 3600.0
    alert = Alert("heap_warning", "warning", "firing", "heap at 85.0%", 85.0, 80.0, an_hour_ago)
    sink = TelemetryEventSink(
        telemetry.tracer_provider.get_tracer(__name__), telemetry.logger_provider.get_logger(__name__)
    )
    sink(DetectionEvents(snapshot=snapshot, leaks=(), alerts=(alert,)))
    (data,) = telemetry.logs.get_finished_logs()
    assert data.log_record.timestamp == round(an_hour_ago * 1e9)
    assert data.log_record.observed_timestamp == data.log_record.timestamp


def test_metrics_log_records_and_spans_come_from_one_instrumentation_scope(instrumentor, telemetry):
    instrumentor.instrument(**FAST, span_memory=True, **telemetry.providers())
    profiler = get_memory_profiler()
    kept = []
    for _ in range(16):
        kept.extend(Hoarded() for _ in range(300))
        profiler.snapshot()
    assert profiler.flush_callbacks()
    with telemetry.tracer_provider.get_tracer("a service").start_as_current_span("request"):
        pass  # one span for MemorySpanProcessor's histogram
    data = telemetry.metric_reader.get_metrics_data()
    metric_scopes = {
        scope_metrics.scope
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
    }
    span_scopes = {
        span.instrumentation_scope
        for span in telemetry.spans.get_finished_spans()
        if span.name == DETECTION_SPAN
    }
    log_scopes = {data.instrumentation_scope for data in telemetry.logs.get_finished_logs()}
    assert len(kept) == 16 * 300 and span_scopes and log_scopes
    scopes = {(s.name, s.version, s.schema_url) for s in metric_scopes | span_scopes | log_scopes}
    assert scopes == {("opentelemetry_instrumentation_memory", __version__, SCHEMA_URL)}
    names = {m.name for s in data.resource_metrics for sm in s.scope_metrics for m in sm.metrics}
    assert {"fogcompute_memory_heap_used_mb", "fogcompute_memory_span_rss_delta_mb"} <= names
