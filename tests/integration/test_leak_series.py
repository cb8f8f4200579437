"""The active leaks in Prometheus: a series per leak, named by what leaks and who holds it."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler

FAST = dict(leak_window=16, leak_min_snapshots=12, leak_site_capture=False)
HISTORY = {}


class Ticket:
    pass


KEPT = []


def scrape(url):
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {
        family.name: family.samples
        for family in text_string_to_metric_families(text)
        if family.name.startswith("fogcompute_memory_leak_")
    }


def test_each_active_leak_is_a_series_labelled_with_its_kind_owner_and_growth():
    profiler = MemoryProfiler(**FAST)
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    try:
        assert not any(scrape(exporter.url).values())  # nothing leaks yet: no series
        for i in range(24):
            KEPT.extend(Ticket() for _ in range(200))
            HISTORY.update((f"k{i}-{j}", "v" * 64) for j in range(200))
            profiler.snapshot()
        families = scrape(exporter.url)
        growth = {s.labels["leak"]: s for s in families["fogcompute_memory_leak_growth_per_hour"]}
        assert all(set(s.labels) == {"kind", "leak"} for s in growth.values())  # one identity for life
        assert growth[f"{__name__}.HISTORY"].value > 0
        info = {s.labels["leak"]: s for s in families["fogcompute_memory_leak_info"]}
        assert set(info) == set(growth) and all(s.value == 1 for s in info.values())
        kept, history = info[f"{__name__}.KEPT"], info[f"{__name__}.HISTORY"]
        # One bug, one series: the Tickets all sit in KEPT, which is their leak.
        assert f"{__name__}.Ticket" not in info
        assert kept.labels["kind"] == "container" and kept.labels["object_type"] == "list"
        assert (
            kept.labels["entry_type"] == f"{__name__}.Ticket" and kept.labels["owner"] == f"{__name__}.KEPT"
        )
        assert history.labels["kind"] == "container" and history.labels["object_type"] == "dict"
        assert history.labels["owner"] == f"{__name__}.HISTORY"
        retained = {s.labels["leak"]: s.value for s in families["fogcompute_memory_leak_retained_mb"]}
        assert retained[f"{__name__}.HISTORY"] > 0.5  # 4,800 entries of about 150 bytes
        KEPT.clear()
        HISTORY.clear()
        profiler.clear_detected_leaks()
        profiler.snapshot()
        after = scrape(exporter.url).get("fogcompute_memory_leak_growth_per_hour", [])
        remaining = {s.labels["leak"] for s in after}
        assert f"{__name__}.KEPT" not in remaining and f"{__name__}.HISTORY" not in remaining
    finally:
        exporter.close()
