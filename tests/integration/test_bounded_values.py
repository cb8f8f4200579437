"""Every label value, attribute value and log body that leaves the process is bounded (issue 19, 6).

A class's ``__qualname__`` and a module attribute's name are any strings the host chose: here a
1 MB type name and a 100,000-character global name, through the real Prometheus endpoint, the
in-memory metric reader, log records and span events. Two long names that differ only at their end
must still make two series.
"""

import re
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory import (
    MemoryExporter,
    MemoryProfiler,
    MemorySpanProcessor,
    get_memory_profiler,
)
from opentelemetry_instrumentation_memory.core.records import AllocationSite, DetectionEvents, Leak
from opentelemetry_instrumentation_memory.otel.bounds import MAX_BODY, MAX_ITEMS, MAX_VALUE, bounded
from opentelemetry_instrumentation_memory.otel.events import LEAK_EVENT, TelemetryEventSink
from opentelemetry_instrumentation_memory.otel.leak_metrics import leak_labels

HUGE_TYPE = 1_000_000
HUGE_NAME = 100_000
CUT = re.compile("\u2026#[0-9a-f]{8}$")
FAST = dict(leak_window=16, leak_min_snapshots=12, leak_site_capture=False)
_MODULE = sys.modules[__name__]


def _big_class(last):
    kind = type("Big", (), {})
    kind.__qualname__ = "Q" * HUGE_TYPE + last
    return kind


BIG_A, BIG_B = _big_class("A"), _big_class("B")
HOLDER_A, HOLDER_B = "H" * HUGE_NAME + "a", "H" * HUGE_NAME + "b"  # module globals, named by setattr


def _leak_two_huge_types(snapshot, rounds):
    setattr(_MODULE, HOLDER_A, [])
    setattr(_MODULE, HOLDER_B, [])
    try:
        for _ in range(rounds):
            getattr(_MODULE, HOLDER_A).extend(BIG_A() for _ in range(200))
            getattr(_MODULE, HOLDER_B).extend(BIG_B() for _ in range(200))
            snapshot()
    finally:
        getattr(_MODULE, HOLDER_A).clear()
        getattr(_MODULE, HOLDER_B).clear()


def _strings(value):
    """The strings of an attribute value: itself, or a list's items."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def _assert_bounded_attributes(attributes):
    for name, value in attributes.items():
        if isinstance(value, (list, tuple)):
            assert len(value) <= MAX_ITEMS, (name, len(value))
        for text in _strings(value):
            assert len(text) <= MAX_VALUE, (name, len(text))
            text.encode("utf-8")  # valid UTF-8


def test_huge_type_and_owner_names_are_capped_on_the_endpoint_and_stay_distinct():
    profiler = MemoryProfiler(top_objects_count=10, **FAST)
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    try:
        _leak_two_huge_types(profiler.snapshot, 24)
        with urllib.request.urlopen(exporter.url, timeout=10) as response:
            text = response.read().decode("utf-8")
    finally:
        exporter.close()
    assert len(text) < 256 * 1024, len(text)  # the exposition stays bounded: not megabytes of names
    families = {family.name: family.samples for family in text_string_to_metric_families(text)}
    for samples in families.values():
        for sample in samples:
            assert all(len(value) <= MAX_VALUE for value in sample.labels.values()), sample.name

    prefix = f"{__name__}.{'Q' * 100}"
    # Each type's objects all sit in one list: each is reported as its list's leak, entries of the type.
    leaks = [
        s.labels for s in families["fogcompute_memory_leak_info"] if s.labels["entry_type"].startswith(prefix)
    ]
    assert len({labels["leak"] for labels in leaks}) == 2, leaks  # the two types, two series
    assert len({labels["entry_type"] for labels in leaks}) == 2, leaks
    for labels in leaks:
        assert CUT.search(labels["entry_type"]) and len(labels["entry_type"]) == MAX_VALUE
        # a global name this long is data: the core writes it as a digest, well within the cap
        assert labels["owner"].startswith(f"{__name__}.<attribute #") and len(labels["owner"]) <= 256
    assert len({labels["owner"] for labels in leaks}) == 2  # each held by its own global
    counted = [s.labels["object_type"] for s in families["fogcompute_memory_object_count"]]
    assert len({name for name in counted if name.startswith(prefix)}) == 2, counted


def test_log_records_span_events_and_metric_points_are_capped(instrumentor, telemetry):
    instrumentor.instrument(
        snapshot_interval=3600.0,
        leak_alert_severity="low",
        top_objects_count=10,
        **FAST,
        **telemetry.providers(),
    )
    profiler = get_memory_profiler()
    _leak_two_huge_types(profiler.snapshot, 16)
    assert profiler.flush_callbacks()

    records = [data.log_record for data in telemetry.logs.get_finished_logs()]
    assert records
    for record in records:
        _assert_bounded_attributes(record.attributes)
        assert len(record.body) <= MAX_BODY
    big = [
        r
        for r in records
        if r.event_name == LEAK_EVENT
        and r.attributes.get("fogcompute.memory.leak.entry_type", "").startswith(f"{__name__}.QQQ")
    ]  # each type in its own list: reported as that list's leak
    assert len({r.attributes["fogcompute.memory.leak.entry_type"] for r in big}) == 2
    holders = {r.attributes["fogcompute.memory.leak.container"] for r in big}
    assert len(holders) == 2 and all(h.startswith(f"{__name__}.<attribute #") for h in holders), holders

    events = [event for span in telemetry.spans.get_finished_spans() for event in span.events]
    assert events
    for event in events:
        _assert_bounded_attributes(event.attributes)

    points = telemetry.metric_points()
    for series in points.values():
        for attributes, _ in series:
            _assert_bounded_attributes(attributes)
    counted = {a["object_type"] for a, _ in points["fogcompute_memory_object_count"]}
    assert len({name for name in counted if name.startswith(f"{__name__}.QQQ")}) == 2


def test_a_record_with_endless_sites_and_frames_is_capped_in_count_and_length(telemetry):
    """The core bounds its lists today; the export does not rely on it."""
    long_file = "f" * HUGE_NAME
    frames = tuple(f"{long_file}{i}.py:{i}" for i in range(100))
    sites = tuple(AllocationSite(f"{long_file}{i}.py", i, 1024, 1, frames) for i in range(100))
    leak = Leak(
        object_type="Q" * HUGE_TYPE,
        severity="high",
        growth_count=5000,
        growth_percent=50.0,
        growth_rate_per_hour=1e6,
        current_count=15000,
        first_detected=0.0,
        last_detected=1.0,
        sites=sites,
        kind="container",
        container="C" * HUGE_TYPE,
        retained_by=tuple((f"{'H' * HUGE_NAME}{i}", 0.01) for i in range(100)),
    )
    snapshot = MemoryProfiler().snapshot()
    sink = TelemetryEventSink(
        telemetry.tracer_provider.get_tracer("t"), telemetry.logger_provider.get_logger("t")
    )
    sink(DetectionEvents(snapshot, (leak,), ()))
    (record,) = [
        d.log_record for d in telemetry.logs.get_finished_logs() if d.log_record.event_name == LEAK_EVENT
    ]
    _assert_bounded_attributes(record.attributes)
    assert len(record.body) <= MAX_BODY
    traceback = record.attributes["fogcompute.memory.leak.top_site.traceback"]
    assert traceback[-1] == bounded(frames[-1])  # the frames nearest the allocation are the ones kept
    held = record.attributes["fogcompute.memory.leak.retained_by"]
    assert len(set(held)) == MAX_ITEMS and held[-1] == "\u2026 69 more"
    assert all(h.endswith(" (1%)") for h in held[:-1])  # the name is cut, never the share after it
    assert record.attributes["fogcompute.memory.leak.top_site"].endswith(":0")
    assert all(" KiB in " in site for site in record.attributes["fogcompute.memory.leak.sites"][:-1])
    (event,) = [e for s in telemetry.spans.get_finished_spans() for e in s.events if e.name == LEAK_EVENT]
    _assert_bounded_attributes(event.attributes)
    labels = leak_labels(leak)
    assert all(len(value) <= MAX_VALUE for value in labels.values()), labels
    assert CUT.search(labels["leak"]) and labels["site"].endswith(":0") and "\u2026#" in labels["site"]


def test_huge_span_names_are_capped_in_the_histogram_and_stay_distinct(telemetry):
    processor = MemorySpanProcessor(meter_provider=telemetry.meter_provider)
    telemetry.tracer_provider.add_span_processor(processor)
    tracer = telemetry.tracer_provider.get_tracer("app")
    for last in "ab":
        with tracer.start_as_current_span("S" * HUGE_TYPE + last):
            pass
    names = [a["span_name"] for a, _ in telemetry.metric_points()["fogcompute_memory_span_rss_delta_mb"]]
    assert len(set(names)) == 2 and all(len(name) == MAX_VALUE and CUT.search(name) for name in names)


def test_bounded_keeps_short_text_and_cuts_long_text_to_valid_utf8():
    assert bounded("tests.Row") == "tests.Row"
    assert bounded("Row\udcff") == "Row\\udcff"  # an escape, as text: valid UTF-8
    long_a, long_b = "\udcff" * 1000 + "a", "\udcff" * 1000 + "b"
    cut_a, cut_b = bounded(long_a), bounded(long_b)
    assert cut_a != cut_b and len(cut_a) == len(cut_b) == MAX_VALUE
    cut_a.encode("utf-8")
    assert bounded(long_a) == cut_a  # stable
    assert len(bounded("x" * 5000, MAX_BODY)) == MAX_BODY
