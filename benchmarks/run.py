"""The benchmark suite: the profiler side by side with the floor and its peers, in one run.

    python benchmarks/run.py            # full suite, ~10 minutes; --quick for a ~2 minute pass

Writes benchmarks/results/latest.json and latest.md. Ratios are measured within one process run
(interleaved, best of several) so that they hold on a noisy machine; figures are wall-clock.
Needs the package plus objgraph and pympler (pip install ".[benchmark]").
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from opentelemetry_instrumentation_memory import LeakDetector, MemoryExporter, MemoryProfiler
from opentelemetry_instrumentation_memory.core.analysis.history import SnapshotHistory
from opentelemetry_instrumentation_memory.core.sampling.census import count_objects_by_type
from opentelemetry_instrumentation_memory.otel.metrics import metrics_for

RESULTS = Path(__file__).parent / "results"
WORKLOAD = Path(__file__).parent / "workload.py"
PYMPLER_CAP = 100_000  # pympler's summary costs ~10 µs an object: 5M objects would take minutes


class Node:
    __slots__ = ("value", "next")

    def __init__(self, value: int) -> None:
        self.value = value
        self.next = None


class Record:
    def __init__(self, key: int) -> None:
        self.key = key


def build_heap(objects: int) -> list:
    """Tops the process up to about ``objects`` gc-tracked objects, of kinds a service might hold.

    (A dict or tuple holding only atoms is untracked by CPython, so lists and instances are used.)
    """
    per_kind = max(0, objects - len(gc.get_objects())) // 3  # the process's own objects count too
    return [
        [Node(i) for i in range(per_kind)],
        [Record(i) for i in range(per_kind)],
        [[i] for i in range(per_kind)],
    ]


def best_ms(function: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best * 1000.0


def machine() -> Dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def snapshot_costs(sizes: List[int], repeats: int) -> List[Dict[str, object]]:
    import objgraph
    from pympler import muppy, summary

    rows = []
    for size in sizes:
        heap = build_heap(size)
        gc.collect()
        tracked = len(gc.get_objects())
        profiler = MemoryProfiler(top_objects_count=20)
        for _ in range(5):
            profiler.snapshot()
        reps = max(2, repeats if size <= 1_000_000 else repeats // 2)
        row: Dict[str, object] = {"objects": tracked}
        # Interleaved: each round measures every contender once, so drift hits all alike.
        timings: Dict[str, List[float]] = {}
        contenders = {
            "gc_get_objects_ms": lambda: gc.get_objects(),
            "counter_map_type_ms": lambda: Counter(map(type, gc.get_objects())),
            "census_ms": count_objects_by_type,
            "full_snapshot_ms": profiler.snapshot,
            "objgraph_ms": lambda: objgraph.most_common_types(limit=20),
        }
        for _ in range(reps):
            for name, function in contenders.items():
                timings.setdefault(name, []).append(best_ms(function, 1))
        row.update({name: min(values) for name, values in timings.items()})
        if size <= PYMPLER_CAP:
            row["pympler_ms"] = best_ms(lambda: summary.summarize(muppy.get_objects()), 2)
        else:
            row["pympler_ms"] = None
        row["snapshot_vs_counter"] = row["full_snapshot_ms"] / row["counter_map_type_ms"]
        row["objgraph_vs_snapshot"] = row["objgraph_ms"] / row["full_snapshot_ms"]
        row["ns_per_object"] = row["full_snapshot_ms"] * 1e6 / tracked
        rows.append(row)
        print(f"  snapshot at {tracked:,} objects: {row['full_snapshot_ms']:.1f} ms", flush=True)
        del heap, profiler
        gc.collect()
    return rows


def cheap_path(repeats: int) -> Dict[str, float]:
    profiler = MemoryProfiler()
    profiler.snapshot()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        profiler.snapshot(census=False)
        samples.append((time.perf_counter() - started) * 1000.0)
    return {"p50_ms": statistics.median(samples), "p95_ms": sorted(samples)[int(len(samples) * 0.95)]}


def scrape_and_collection(sizes: List[int], scrapes: int) -> List[Dict[str, object]]:
    rows = []
    for size in sizes:
        heap = build_heap(size)
        profiler = MemoryProfiler()
        profiler.snapshot()
        exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
        exporter.serve()
        latencies = []
        for _ in range(scrapes):
            started = time.perf_counter()
            urllib.request.urlopen(exporter.url, timeout=10).read()
            latencies.append((time.perf_counter() - started) * 1000.0)
        exporter.close()
        reader = InMemoryMetricReader()
        metrics_for(MeterProvider(metric_readers=[reader]), "bench").attach(profiler)
        collections = []
        for _ in range(scrapes):
            started = time.perf_counter()
            reader.get_metrics_data()
            collections.append((time.perf_counter() - started) * 1000.0)
        rows.append(
            {
                "objects": len(gc.get_objects()),
                "scrape_p50_ms": statistics.median(latencies),
                "scrape_p95_ms": sorted(latencies)[int(len(latencies) * 0.95)],
                "otlp_collection_p50_ms": statistics.median(collections),
                "snapshots_during_scrapes": profiler.total_snapshots - 1,
            }
        )
        del heap
        gc.collect()
    return rows


def host_overhead(seconds: float, long_seconds: float) -> List[Dict[str, object]]:
    """Two copies of a workload run at once, one per core, one profiled: their throughput ratio.

    Running them side by side (then with cores swapped) exposes both to the same machine noise.
    """
    cases = [
        ("request", "60", "off", long_seconds),
        ("request", "5", "off", seconds),
        ("request", "1", "off", seconds),
        ("request", "60", "on", long_seconds),
        ("allocation", "60", "off", long_seconds),
        ("allocation", "1", "off", seconds),
        ("allocation", "60", "on", long_seconds),
    ]
    rows = []
    for workload, interval, tracemalloc_mode, duration in cases:
        ratios = []
        for profiled_core in (0, 1):
            bare_core = 1 - profiled_core
            processes = {
                label: subprocess.Popen(
                    [sys.executable, str(WORKLOAD), workload, str(duration), str(core), *arguments],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for label, core, arguments in (
                    ("bare", bare_core, []),
                    ("profiled", profiled_core, [interval, tracemalloc_mode]),
                )
            }
            results = {
                label: float(process.communicate()[0].split()[-1]) for label, process in processes.items()
            }
            ratios.append(results["profiled"] / results["bare"])
        ratio = statistics.mean(ratios)
        rows.append(
            {
                "workload": workload,
                "interval_s": float(interval),
                "tracemalloc": tracemalloc_mode,
                "seconds": duration,
                "throughput_ratio": ratio,
                "overhead_percent": (1 - ratio) * 100,
            }
        )
        print(
            f"  {workload} at {interval} s, tracemalloc {tracemalloc_mode}: {(1 - ratio) * 100:+.2f} %",
            flush=True,
        )
    return rows


def retained_memory() -> Dict[str, float]:
    profiler_heap = build_heap(100_000)
    snapshot = MemoryProfiler().snapshot()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    history = SnapshotHistory(1000)
    for _ in range(1000):
        history.append(snapshot)
    history_bytes = tracemalloc.get_traced_memory()[0] - before
    before = tracemalloc.get_traced_memory()[0]
    profiler = MemoryProfiler(history_size=1000)
    for index in range(1000):
        profiler.snapshot(census=index % 10 == 0)
    profiler_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del profiler_heap
    return {
        "history_1000_snapshots_kb": history_bytes / 1024,
        "profiler_after_1000_snapshots_kb": profiler_bytes / 1024,
        "tracked_types": profiler.get_stats()["tracked_types"],
    }


def detection_pass(types: int, passes: int) -> Dict[str, float]:
    rng = random.Random(1)
    bases = {f"app.Type{i}": rng.choice((10, 100, 1_000, 10_000, 100_000)) for i in range(types)}
    detector = LeakDetector()
    samples = []
    for index in range(passes):
        counts = {name: max(0, int(base + rng.gauss(0, base * 0.05))) for name, base in bases.items()}
        started = time.perf_counter()
        detector.observe(index * 60.0, counts)
        samples.append((time.perf_counter() - started) * 1000.0)
    return {"types": types, "p50_ms": statistics.median(samples[48:]), "max_ms": max(samples[48:])}


def span_cost(spans: int) -> Dict[str, float]:
    """Per-span cost of MemorySpanProcessor: spans started and ended with and without it."""
    from opentelemetry.sdk.trace import TracerProvider

    from opentelemetry_instrumentation_memory import MemorySpanProcessor

    plain = TracerProvider().get_tracer("bench")
    measured_provider = TracerProvider()
    measured_provider.add_span_processor(
        MemorySpanProcessor(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    )
    measured = measured_provider.get_tracer("bench")

    def run(tracer) -> float:
        started = time.perf_counter()
        for index in range(spans):
            with tracer.start_as_current_span(f"GET /items/{index % 20}"):
                pass
        return (time.perf_counter() - started) / spans * 1e6

    bare = min(run(plain) for _ in range(3))
    with_processor = min(run(measured) for _ in range(3))
    return {"span_us": bare, "span_with_processor_us": with_processor, "added_us": with_processor - bare}


def gc_callback_cost(repeats: int) -> Dict[str, float]:
    """Throughput of allocation-heavy code with and without the GC pause callback installed."""
    from opentelemetry_instrumentation_memory.core.sampling.gcpauses import GCPauses

    def work() -> None:
        for _ in range(200):
            [[i] for i in range(500)]

    pauses = GCPauses()
    bare, hooked = [], []
    for _ in range(repeats):
        bare.append(best_ms(work, 1))
        pauses.install()
        hooked.append(best_ms(work, 1))
        pauses.uninstall()
    return {
        "bare_ms": min(bare),
        "with_callback_ms": min(hooked),
        "overhead_percent": (min(hooked) / min(bare) - 1) * 100,
    }


def markdown(results: Dict[str, object]) -> str:
    lines = [
        "| heap (gc objects) | gc.get_objects() | Counter(map(type)) | census | **full snapshot** "
        "| objgraph | pympler | snapshot / Counter | objgraph / snapshot |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["snapshot"]:
        pympler = f"{row['pympler_ms']:.0f} ms" if row["pympler_ms"] is not None else "not run (too slow)"
        lines.append(
            f"| {row['objects']:,} | {row['gc_get_objects_ms']:.2f} ms "
            f"| {row['counter_map_type_ms']:.2f} ms | {row['census_ms']:.2f} ms "
            f"| **{row['full_snapshot_ms']:.2f} ms** | {row['objgraph_ms']:.1f} ms | {pympler} "
            f"| {row['snapshot_vs_counter']:.2f}x | {row['objgraph_vs_snapshot']:.1f}x |"
        )
    cheap = results["cheap_path"]
    lines += [
        "",
        f"Cheap path (no census): p50 {cheap['p50_ms'] * 1000:.0f} µs, p95 {cheap['p95_ms'] * 1000:.0f} µs.",
        "",
    ]
    lines += [
        "| heap | /metrics scrape p50 | p95 | OTLP collection p50 | snapshots taken by scrapes |",
        "|---|---|---|---|---|",
    ]
    for row in results["scrape"]:
        lines.append(
            f"| {row['objects']:,} | {row['scrape_p50_ms']:.2f} ms | {row['scrape_p95_ms']:.2f} ms | "
            f"{row['otlp_collection_p50_ms']:.2f} ms | {row['snapshots_during_scrapes']} |"
        )
    lines += [
        "",
        "| workload | interval | tracemalloc | run | throughput ratio | overhead |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["overhead"]:
        lines.append(
            f"| {row['workload']} | {row['interval_s']:.0f} s | {row['tracemalloc']} "
            f"| {row['seconds']:.0f} s | {row['throughput_ratio']:.4f} | {row['overhead_percent']:+.2f} % |"
        )
    memory, detection = results["memory"], results["detection"]
    spans, gc_cost = results["spans"], results["gc_callback"]
    lines += [
        "",
        f"History of 1000 snapshots: {memory['history_1000_snapshots_kb']:.0f} KB. Whole profiler after "
        f"1000 snapshots ({memory['tracked_types']} types tracked): "
        f"{memory['profiler_after_1000_snapshots_kb']:.0f} KB.",
        "",
        f"Leak detection pass over {detection['types']} types: p50 {detection['p50_ms']:.2f} ms, "
        f"max {detection['max_ms']:.2f} ms.",
        "",
        f"MemorySpanProcessor: a span costs {spans['span_us']:.1f} µs bare and "
        f"{spans['span_with_processor_us']:.1f} µs with it (+{spans['added_us']:.1f} µs a span).",
        "",
        f"GC pause callback: allocation-heavy code {gc_cost['overhead_percent']:+.2f} % "
        f"({gc_cost['bare_ms']:.1f} ms bare, {gc_cost['with_callback_ms']:.1f} ms with the callback).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller heaps and shorter runs")
    args = parser.parse_args()
    sizes = [10_000, 100_000, 1_000_000] if args.quick else [10_000, 100_000, 1_000_000, 5_000_000]
    results: Dict[str, object] = {"machine": machine()}
    print("snapshot cost", flush=True)
    results["snapshot"] = snapshot_costs(sizes, repeats=3 if args.quick else 5)
    results["cheap_path"] = cheap_path(2_000)
    print("scrape and collection", flush=True)
    results["scrape"] = scrape_and_collection([10_000, 1_000_000], scrapes=50 if args.quick else 200)
    results["memory"] = retained_memory()
    results["detection"] = detection_pass(700, 200)
    results["spans"] = span_cost(20_000)
    results["gc_callback"] = gc_callback_cost(15)
    print("host overhead", flush=True)
    results["overhead"] = host_overhead(
        seconds=5 if args.quick else 15, long_seconds=10 if args.quick else 62
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (RESULTS / "latest.md").write_text(table)
    print()
    print(table)


if __name__ == "__main__":
    main()
