import threading
import time

import pytest

from opentelemetry_instrumentation_memory import MemoryInstrumentor, get_memory_profiler


def profiler_threads():
    return [t for t in threading.enumerate() if t.name.startswith("otel-memory")]


@pytest.fixture
def instrumentor():
    instance = MemoryInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


def test_instrument_starts_the_process_wide_profiler_and_uninstrument_stops_it(instrumentor):
    instrumentor.instrument(snapshot_interval=0.05, top_objects_count=5)
    profiler = get_memory_profiler()
    time.sleep(0.3)
    assert profiler.running
    assert profiler.config.top_objects_count == 5
    assert profiler.get_stats()["total_snapshots"] >= 3
    assert len(profiler.latest_snapshot.top_objects) == 5
    instrumentor.uninstrument()
    assert not profiler.running
    assert profiler_threads() == []


def test_repeated_cycles_leave_no_thread_behind(instrumentor):
    for _ in range(10):
        MemoryInstrumentor().instrument(snapshot_interval=0.01)
        time.sleep(0.02)
        MemoryInstrumentor().uninstrument()
    assert profiler_threads() == []


def test_invalid_configuration_is_a_value_error_and_nothing_starts(instrumentor):
    with pytest.raises(ValueError, match="snapshot_interval.*-1"):
        instrumentor.instrument(snapshot_interval=-1)
    assert not get_memory_profiler().running
    assert not instrumentor.is_instrumented_by_opentelemetry


def test_entry_point_is_registered():
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "memory"]
    assert found and found[0].load() is MemoryInstrumentor
