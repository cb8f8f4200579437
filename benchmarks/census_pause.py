"""How long a census, and each heap walk of the leak diagnosis, stalls the host's other threads,
against listing the heap (the floor), and what each costs against the census.

    python benchmarks/census_pause.py [--sizes 100000 1000000 5000000]

In a fresh interpreter per heap size, a thread that wakes every 0.5 ms records the longest gap
between its wake-ups while the main thread runs, five times each: a bare ``gc.get_objects()``, the
census as one call (``Counter(map(type, gc.get_objects()))``, the previous design), the sliced
census (``count_objects_by_type``) and the diagnosis's steps. Prints the worst stall of each and its
ratio to the floor, and its mean time against the one-call census.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, json, sys, threading, time
    from collections import Counter
    from opentelemetry_instrumentation_memory.core.analysis.leaks import LeakDetector
    from opentelemetry_instrumentation_memory.core.diagnosis.containers import ContainerWatch
    from opentelemetry_instrumentation_memory.core.diagnosis.holders import retained_by
    from opentelemetry_instrumentation_memory.core.diagnosis.owners import find_roots
    from opentelemetry_instrumentation_memory.core.sampling.census import count_objects_by_type
    from opentelemetry_instrumentation_memory.core.sampling.sizes import ObjectSizer

    class Item: pass
    size = int(sys.argv[1])
    HEAP = [Item() for _ in range(size // 2)]
    PAIRS = [[i] for i in range(size // 2)]
    gc.collect()
    stop = threading.Event()
    gaps = []

    def ticker():
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.0005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.2)
    counts = count_objects_by_type()  # names the types, as the profiler's first census does
    watch = ContainerWatch()
    watch.census()
    watch.census()  # the second census walks the globals; the next ones read lengths only
    detector = LeakDetector()
    for i in range(30):
        detector.observe(float(i), counts)
    steps = {
        "gc.get_objects()": lambda: gc.get_objects(),
        "census in one call": lambda: Counter(map(type, gc.get_objects())),
        "sliced census": lambda: count_objects_by_type(),
        "leak detector pass": lambda: detector.observe(time.time(), counts),
        "container lengths": watch.census,
        "globals walk": lambda: find_roots(),
        "large-container walk": lambda: ContainerWatch()._discover(find_roots()),
        "holders of a sample": lambda: retained_by(["__main__.Item"], find_roots()),
        "bytes per object": lambda: ObjectSizer(ttl=0)(["__main__.Item"]),
    }
    results = {"objects": len(gc.get_objects())}
    for name, step in steps.items():
        worst, total = 0.0, 0.0
        for _ in range(5):
            time.sleep(0.05)
            gaps.clear()
            started = time.perf_counter()
            step()
            total += time.perf_counter() - started
            time.sleep(0.01)
            worst = max(worst, max(gaps, default=0.0))
        results[name] = {"stall_ms": worst * 1000, "mean_ms": total / 5 * 1000}
    stop.set()
    thread.join()
    print(json.dumps(results))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    args = parser.parse_args()
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(size)], capture_output=True, text=True, check=True
        )
        results = json.loads(out.stdout)
        floor = results["gc.get_objects()"]["stall_ms"]
        one_call = results["census in one call"]["mean_ms"]
        print(f"\n{results.pop('objects'):,} objects")  # ratios: stall to the floor, time to the census
        for name, figures in results.items():
            stall, mean = figures["stall_ms"], figures["mean_ms"]
            print(
                f"  {name:20} worst stall {stall:7.1f} ms ({stall / floor:4.2f}x floor)"
                f"   mean {mean:7.1f} ms ({mean / one_call:4.2f}x one-call census)"
            )


if __name__ == "__main__":
    main()
