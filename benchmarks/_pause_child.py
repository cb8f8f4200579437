"""One heap size of ``census_pause.py``, in a fresh interpreter: ``python _pause_child.py OBJECTS``.

Prints, as JSON, for each step run seven times: the median and the worst of the longest stall of a
thread waking every 0.5 ms, the mean time, and the longest garbage collection during it.
"""

import gc
import json
import sys
import time
import tracemalloc
from collections import Counter

from stall import Ticker

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.analysis.baseline import Baseline
from opentelemetry_instrumentation_memory.core.analysis.leaks import LeakDetector
from opentelemetry_instrumentation_memory.core.diagnosis.containers import ContainerWatch
from opentelemetry_instrumentation_memory.core.diagnosis.holders import retained_by
from opentelemetry_instrumentation_memory.core.diagnosis.owners import find_roots
from opentelemetry_instrumentation_memory.core.diagnosis.sites import attributed_sites, growing_sites
from opentelemetry_instrumentation_memory.core.sampling.census import count_objects_by_type, objects_of
from opentelemetry_instrumentation_memory.core.sampling.sizes import ObjectSizer


class Item:
    pass


class Fresh:
    pass


FRESH_TYPE = "__main__.Fresh"
size = int(sys.argv[1])
HEAP = [Item() for _ in range(size // 2)]
PAIRS = [[i] for i in range(size // 2)]
gc.collect()
ticker = Ticker().__enter__()
counts = count_objects_by_type()  # names the types, as the profiler's first census does
watch = ContainerWatch()
watch.census()
watch.census()  # the second census walks the globals; the next ones read lengths only
watch._discover(find_roots())  # the first heap walk for large containers searches their owners
detector = LeakDetector()
for i in range(30):
    detector.observe(float(i), counts)
profiler = MemoryProfiler(leak_site_capture=False, warmup_seconds=0.0)
for _ in range(3):
    profiler.snapshot()  # past the first census and the baseline
first = profiler.latest_snapshot
baseline = Baseline(first, counts)
FRESH = []


def traced_window():
    """The site capture's window: tracing on, 100,000 objects allocated meanwhile."""
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    FRESH.extend(Fresh() for _ in range(100_000))
    return before


steps = {
    "gc.get_objects()": lambda: gc.get_objects(),
    "census in one call": lambda: Counter(map(type, gc.get_objects())),
    "sliced census": lambda: count_objects_by_type(),
    "whole snapshot": lambda: profiler.snapshot(),
    "leak detector pass": lambda: detector.observe(time.time(), counts),
    "baseline comparison": lambda: baseline.compare(first, counts, 20, 50.0, 100),
    "container lengths": watch.census,
    "globals walk": lambda: find_roots(),
    "first large-container walk": lambda: ContainerWatch()._discover(find_roots()),
    "large-container walk": lambda: watch._discover(find_roots()),
    "holders of a sample": lambda: retained_by(["__main__.Item"], find_roots()),
    "bytes per object": lambda: ObjectSizer(ttl=0)(["__main__.Item"]),
}
traced_steps = {
    "tracemalloc snapshot": lambda: tracemalloc.take_snapshot(),
    "sites of located objects": lambda: attributed_sites(objects_of([FRESH_TYPE], 2000)[FRESH_TYPE], 5, ""),
    "whole-heap diff": lambda: growing_sites(BEFORE, tracemalloc.take_snapshot(), 5, ""),
}
results = {"objects": len(gc.get_objects())}


collections = []  # (generation, seconds) of each garbage collection: a stall of the host's own
collection_began = [0.0]


def timed_collections(phase, info):
    if phase == "start":
        collection_began[0] = time.perf_counter()
    else:
        collections.append((info["generation"], time.perf_counter() - collection_began[0]))


gc.callbacks.append(timed_collections)


RUNS = 7


def measure(name, step):
    stalls, total, longest_collection = [], 0.0, 0.0
    for _ in range(RUNS):
        collections.clear()
        stall, duration = ticker.stall(step)
        stalls.append(stall)
        total += duration
        longest_collection = max([longest_collection] + [seconds for _, seconds in collections])
    stalls.sort()
    results[name] = {
        "stall_ms": stalls[RUNS // 2] * 1000,
        "worst_stall_ms": stalls[-1] * 1000,
        "mean_ms": total / RUNS * 1000,
        "longest_collection_ms": longest_collection * 1000,
    }


for name, step in steps.items():
    measure(name, step)
BEFORE = traced_window()
for name, step in traced_steps.items():
    measure(name, step)
tracemalloc.stop()
ticker.__exit__()
print(json.dumps(results))
