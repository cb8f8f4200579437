"""The Prometheus names are the same from the Python reader and from the Collector.

The Collector's ``prometheus`` exporter names metrics with prometheus/otlptranslator (strategy
``UnderscoreEscapingWithSuffixes``, the default). No Collector binary can be installed here, so
``collector_name`` below restates its documented rules, checked first against the examples its
documentation gives.
"""

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler
from opentelemetry_instrumentation_memory.otel.metrics import COUNTER, INSTRUMENTS, PREFIX

UNIT_MAP = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
PER_UNIT_MAP = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}


def _clean(unit):
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:]", "_", unit)).lstrip("_")


def collector_name(name, unit, kind):
    tokens = [token for token in re.split(r"[^a-zA-Z0-9:]+", name) if token]
    main, _, per = unit.partition("/")
    main = main.strip()
    main = UNIT_MAP.get(main, main) if main and not set("{}") & set(main) else ""
    per = per.strip()
    per = "per_" + PER_UNIT_MAP.get(per, per) if per and not set("{}") & set(per) else ""
    main, per = _clean(main), _clean(per)
    if main in tokens:
        main = ""
    per = "" if per == "per_" else per.rstrip("_")
    if per in tokens:
        per = ""
    if per:
        main = main.rstrip("_")
    tokens += [suffix for suffix in (main, per) if suffix]
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    return "_".join(tokens)


@pytest.mark.parametrize(
    "name, unit, kind, expected",
    [  # the examples of otlptranslator's documentation
        ("http.server.duration", "s", "histogram", "http_server_duration_seconds"),
        ("requests.count", "1", "counter", "requests_count_total"),
        ("memory.usage", "By", "gauge", "memory_usage_bytes"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("throughput", "By/s", "gauge", "throughput_bytes_per_second"),
        ("queue.length", "{item}", "gauge", "queue_length"),
        ("heap.percent", "%", "gauge", "heap_percent"),
    ],
)
def test_the_restated_rules_match_the_documented_examples(name, unit, kind, expected):
    assert collector_name(name, unit, kind) == expected


REQUIRED = {
    "fogcompute_memory_heap_size_mb",
    "fogcompute_memory_heap_used_mb",
    "fogcompute_memory_heap_percent",
    "fogcompute_memory_total_objects",
    "fogcompute_memory_gc_collections_gen0",
    "fogcompute_memory_gc_collections_gen1",
    "fogcompute_memory_gc_collections_gen2",
    "fogcompute_memory_gc_collections_total",
    "fogcompute_memory_tracemalloc_current_mb",
    "fogcompute_memory_tracemalloc_peak_mb",
    "fogcompute_memory_rss_mb",
    "fogcompute_memory_vms_mb",
    "fogcompute_memory_active_leaks",
    "fogcompute_memory_leak_detections_total",
    "fogcompute_memory_baseline_drift_percent",
    "fogcompute_memory_baseline_drift_mb",
    "fogcompute_memory_object_count",
}
CONTAINER = {
    "fogcompute_memory_container_usage_bytes",
    "fogcompute_memory_container_working_set_bytes",
    "fogcompute_memory_container_memory_bytes",
}


def test_python_reader_and_collector_agree_on_every_name():
    profiler = MemoryProfiler(warmup_seconds=0)
    profiler.snapshot()
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    try:
        import urllib.request

        text = urllib.request.urlopen(exporter.url, timeout=5).read().decode()
    finally:
        exporter.close()
    exposed = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    from_collector = {
        collector_name(PREFIX + spec.name, spec.unit, "counter" if spec.kind == COUNTER else "gauge")
        for spec in INSTRUMENTS
        if spec.always
        or (profiler.baseline_settled and spec.name.startswith("baseline_drift"))
        or (profiler.latest_snapshot.container is not None and spec.name.startswith("container_"))
        or (profiler.latest_snapshot.pss_bytes is not None and spec.name == "process_pss_bytes")
        or (profiler.latest_snapshot.uss_bytes is not None and spec.name == "process_uss_bytes")
    }
    assert from_collector == exposed - {"target_info", "fogcompute_memory_gc_pause_max_seconds"}
    assert collector_name(PREFIX + "time_to_limit_seconds", "s", "gauge") == PREFIX + "time_to_limit_seconds"
    assert collector_name(PREFIX + "gc_pause_max_seconds", "s", "gauge") in exposed
    assert collector_name(PREFIX + "gc_pause_seconds", "s", "histogram") == PREFIX + "gc_pause_seconds"
    assert REQUIRED <= exposed
    if profiler.latest_snapshot.container is not None:  # inside a cgroup with memory accounting
        assert CONTAINER <= exposed
    assert not any(unit == "1" for unit in (spec.unit for spec in INSTRUMENTS))
