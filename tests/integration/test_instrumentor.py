import logging
import threading
import time
from importlib.metadata import entry_points

import pytest

from opentelemetry_instrumentation_memory import MemoryInstrumentor, get_memory_profiler
from opentelemetry_instrumentation_memory.environment_variables import OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL
from opentelemetry_instrumentation_memory.otel.metrics import instrument_names


def profiler_threads():
    return [t for t in threading.enumerate() if t.name.startswith("otel-memory")]


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_instrument_starts_the_profiler_and_uninstrument_stops_it(instrumentor, telemetry):
    before = get_memory_profiler().total_snapshots
    instrumentor.instrument(snapshot_interval=0.05, top_objects_count=5, **telemetry.providers())
    profiler = get_memory_profiler()
    wait_for(lambda: profiler.total_snapshots >= before + 3)
    assert profiler.running and profiler.config.top_objects_count == 5
    points = telemetry.metric_points()
    assert set(instrument_names()) <= set(points)
    assert len(points["fogcompute_memory_object_count"]) == 5
    assert points["fogcompute_memory_active_leaks"] == [({}, 0)]  # a quiet heap: zero, not None
    instrumentor.uninstrument()
    assert not profiler.running
    assert profiler_threads() == []
    # Every callback reports nothing once uninstrumented; the pause histogram keeps its cumulative
    # counts, as a counter would, but gains no more.
    left = telemetry.metric_points()
    assert set(left) <= {"fogcompute_memory_gc_pause_seconds"}
    assert telemetry.metric_points() == left


def test_cycles_leave_no_thread_and_no_duplicated_series(telemetry):
    for _ in range(10):
        MemoryInstrumentor().instrument(snapshot_interval=0.01, **telemetry.providers())
        time.sleep(0.03)
        MemoryInstrumentor().uninstrument()
    assert profiler_threads() == []
    MemoryInstrumentor().instrument(snapshot_interval=0.01, **telemetry.providers())
    try:
        before = get_memory_profiler().total_snapshots
        wait_for(lambda: get_memory_profiler().total_snapshots > before)
        points = telemetry.metric_points()
        assert len(points["fogcompute_memory_heap_used_mb"]) == 1
        assert len(points["fogcompute_memory_gc_collections"]) == 3
    finally:
        MemoryInstrumentor().uninstrument()


def test_keyword_arguments_beat_environment_variables(instrumentor, telemetry, monkeypatch):
    monkeypatch.setenv(OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL, "7")
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT", "4")
    instrumentor.instrument(top_objects_count=6, **telemetry.providers())
    config = get_memory_profiler().config
    assert (config.snapshot_interval, config.top_objects_count) == (7.0, 6)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL", "soon"),
        ("OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL", "-3"),
        ("OTEL_PYTHON_MEMORY_ENABLE_TRACEMALLOC", "maybe"),
        ("OTEL_PYTHON_MEMORY_HEAP_WARNING_PERCENT", "180"),
        ("OTEL_PYTHON_MEMORY_HISTORY_SIZE", "1.5"),
        ("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", "ninety"),
    ],
)
def test_malformed_environment_warns_and_uses_the_default(
    instrumentor, telemetry, monkeypatch, caplog, variable, value
):
    monkeypatch.setenv(variable, value)
    with caplog.at_level(logging.WARNING):
        instrumentor.instrument(**telemetry.providers())
    assert get_memory_profiler().running
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(variable in message and repr(value) in message for message in warnings), warnings
    assert "default" in " ".join(warnings)


def test_invalid_keyword_is_a_value_error_and_nothing_starts(instrumentor, telemetry):
    with pytest.raises(ValueError, match="snapshot_interval.*-1"):
        instrumentor.instrument(snapshot_interval=-1, **telemetry.providers())
    assert not get_memory_profiler().running
    assert not instrumentor.is_instrumented_by_opentelemetry


def test_entry_points_are_registered():
    (instrumentor,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "memory"]
    assert instrumentor.load() is MemoryInstrumentor
    (variables,) = [
        ep for ep in entry_points(group="opentelemetry_environment_variables") if ep.name == "memory"
    ]
    module = variables.load()
    names = [name for name in dir(module) if name.startswith("OTEL_PYTHON_MEMORY_")]
    from opentelemetry_instrumentation_memory.core.config import field_names

    assert {f"OTEL_PYTHON_MEMORY_{field.upper()}" for field in field_names()} <= set(names)
    assert all(getattr(module, name) == name for name in names)


def test_dedicated_endpoint_from_the_environment(instrumentor, telemetry, monkeypatch):
    import urllib.request

    from .conftest import free_port

    port = free_port()
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", str(port))
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_HOST", "127.0.0.1")
    instrumentor.instrument(**telemetry.providers())
    wait_for(lambda: get_memory_profiler().total_snapshots > 0)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "fogcompute_memory_heap_used_mb " in text
    instrumentor.uninstrument()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_busy_port_from_the_environment_is_a_warning_and_the_program_goes_on(
    instrumentor, telemetry, monkeypatch, caplog
):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", str(port))
        monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_HOST", "127.0.0.1")
        with caplog.at_level(logging.WARNING):
            instrumentor.instrument(**telemetry.providers())
        assert get_memory_profiler().running
        assert any(str(port) in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        instrumentor.uninstrument()
        with pytest.raises(OSError, match=str(port)):
            instrumentor.instrument(
                prometheus_port=port, prometheus_host="127.0.0.1", **telemetry.providers()
            )
        assert not get_memory_profiler().running
