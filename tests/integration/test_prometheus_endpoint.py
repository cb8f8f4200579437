"""A real exporter on a real socket, read over HTTP and parsed with prometheus_client's parser."""

import socket
import ssl
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler
from opentelemetry_instrumentation_memory.otel.bounds import bounded

from .conftest import self_signed

EXPECTED = {
    # family: (type, label names)
    "fogcompute_memory_heap_size_mb": ("gauge", set()),
    "fogcompute_memory_heap_used_mb": ("gauge", set()),
    "fogcompute_memory_heap_percent": ("gauge", set()),
    "fogcompute_memory_total_objects": ("gauge", set()),
    "fogcompute_memory_gc_collections_gen0": ("gauge", set()),
    "fogcompute_memory_gc_collections_gen1": ("gauge", set()),
    "fogcompute_memory_gc_collections_gen2": ("gauge", set()),
    "fogcompute_memory_gc_collections": ("counter", {"generation"}),
    "fogcompute_memory_tracemalloc_current_mb": ("gauge", set()),
    "fogcompute_memory_tracemalloc_peak_mb": ("gauge", set()),
    "fogcompute_memory_rss_mb": ("gauge", set()),
    "fogcompute_memory_vms_mb": ("gauge", set()),
    "fogcompute_memory_active_leaks": ("gauge", set()),
    "fogcompute_memory_leak_detections": ("counter", {"severity"}),
    "fogcompute_memory_baseline_drift_percent": ("gauge", set()),
    "fogcompute_memory_baseline_drift_mb": ("gauge", set()),
    "fogcompute_memory_object_count": ("gauge", {"object_type"}),
}


def scrape(url, context=None):
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        return response.read().decode()


def families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


@pytest.fixture
def profiler():
    instance = MemoryProfiler(top_objects_count=5, warmup_seconds=0)
    instance.snapshot()
    return instance


@pytest.fixture
def exporter(profiler):
    instance = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    instance.serve()
    yield instance
    instance.close()


def test_every_family_with_its_type_and_labels(exporter, profiler):
    found = families(scrape(exporter.url))
    for name, (kind, labels) in EXPECTED.items():
        assert name in found, name
        family = found[name]
        assert family.type == kind, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) == labels, (name, sample.labels)
    generations = {s.labels["generation"]: s.value for s in found["fogcompute_memory_gc_collections"].samples}
    assert generations == {str(g): float(c) for g, c in enumerate(profiler.latest_snapshot.gc_collections)}
    heap = found["fogcompute_memory_heap_used_mb"].samples[0].value
    assert heap == pytest.approx(profiler.latest_snapshot.heap_used_mb)
    limit = found["fogcompute_memory_limit_info"].samples[0]
    assert limit.labels == {"source": profiler.latest_snapshot.limit_source} and limit.value == 1


def test_object_count_follows_the_top_n(exporter, profiler):
    class Swarm:
        pass

    swarm = [Swarm() for _ in range(200_000)]
    profiler.snapshot()
    counts = {
        s.labels["object_type"]: s.value
        for s in families(scrape(exporter.url))["fogcompute_memory_object_count"].samples
    }
    assert len(counts) == 5 and counts[f"{__name__}.{Swarm.__qualname__}"] == 200_000
    del swarm
    profiler.snapshot()
    counts = {
        s.labels["object_type"]
        for s in families(scrape(exporter.url))["fogcompute_memory_object_count"].samples
    }
    assert len(counts) == 5 and f"{__name__}.{Swarm.__qualname__}" not in counts  # fell out, not reported


def test_awkward_type_names_are_exported_intact(exporter, profiler):
    name = 'we"ird\\na\nme {ünï} ' + "x" * 300
    Awkward = type(name, (), {})
    crowd = [Awkward() for _ in range(300_000)]
    profiler.snapshot()
    text = scrape(exporter.url)
    counts = {
        s.labels["object_type"]: s.value for s in families(text)["fogcompute_memory_object_count"].samples
    }
    assert counts[bounded(f"{__name__}.{name}")] == len(crowd)  # escaped intact; cut at 256 (bounds.py)
    assert all(
        line.startswith("#") or line.startswith("fogcompute_") or line.startswith("target_info")
        for line in text.splitlines()
        if line
    )


def test_a_scrape_never_takes_a_snapshot(exporter, profiler):
    before = profiler.total_snapshots
    for _ in range(5):
        scrape(exporter.url)
    assert profiler.total_snapshots == before


def test_the_global_registry_is_left_alone(exporter):
    assert not [m for m in REGISTRY.collect() if m.name.startswith("fogcompute_memory")]


def test_a_busy_port_is_an_error_that_names_it(profiler):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=str(port)):
            MemoryExporter(host="127.0.0.1", port=port, profiler=profiler).serve()


def test_host_and_port_come_from_the_package_variables_never_the_sdk_readers(monkeypatch):
    """``OTEL_EXPORTER_PROMETHEUS_*`` configure the SDK's own Prometheus reader: under
    ``OTEL_METRICS_EXPORTER=prometheus`` reading them too would make both bind one port."""
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.3")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "9464")
    monkeypatch.delenv("OTEL_PYTHON_MEMORY_PROMETHEUS_HOST", raising=False)
    monkeypatch.delenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", raising=False)
    assert (MemoryExporter().host, MemoryExporter().port) == ("localhost", 9202)
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_HOST", "127.0.0.2")
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", "9333")
    exporter = MemoryExporter()
    assert (exporter.host, exporter.port) == ("127.0.0.2", 9333)


def test_invalid_port_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="port.*70000"):
        MemoryExporter(port=70000)


def test_stop_and_restart(profiler):
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    url = exporter.url
    exporter.close()
    with pytest.raises(urllib.error.URLError):
        scrape(url)
    exporter.serve()
    try:
        assert "fogcompute_memory_heap_used_mb" in scrape(exporter.url)
    finally:
        exporter.close()


def test_tls(tmp_path, profiler):
    cert, key = self_signed(tmp_path, "127.0.0.1")
    exporter = MemoryExporter(
        host="127.0.0.1", port=0, profiler=profiler, certfile=str(cert), keyfile=str(key)
    )
    exporter.serve()
    try:
        assert exporter.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        assert "fogcompute_memory_heap_used_mb" in scrape(exporter.url, context)
        with pytest.raises(OSError):  # plain HTTP is refused
            scrape(exporter.url.replace("https://", "http://"))
        assert "fogcompute_memory_heap_used_mb" in scrape(exporter.url, context)
    finally:
        exporter.close()
