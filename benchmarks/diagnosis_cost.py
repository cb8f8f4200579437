"""What the leak diagnosis costs, against the type census, on heaps of 100k, 1M and 5M objects.

    python benchmarks/diagnosis_cost.py [--sizes 100000 1000000 5000000]

Each heap is built in a fresh interpreter: small objects of a few classes held by module-level
lists and dicts (so the container walk has globals to read), one of them leaking. Reports the
median of five runs of each step, in milliseconds, and its ratio to ``Counter(map(type, ...))``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, json, statistics, sys, time
    from collections import Counter
    from opentelemetry_instrumentation_memory.core.diagnosis.containers import ContainerWatch
    from opentelemetry_instrumentation_memory.core.diagnosis.owners import find_roots, retained_by

    class Item: pass
    class Leaked: pass
    size = int(sys.argv[1])
    HOLDERS = [[Item() for _ in range(size // 20)] for _ in range(9)]
    TABLES = [{i: (i,) for i in range(size // 40)} for _ in range(10)]
    LEAK = [Leaked() for _ in range(size // 20)]
    gc.collect()

    def timed(step, repeat=5):
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            step()
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    watch = ContainerWatch()
    watch.census()  # the first census reads no globals
    results = {
        "objects": len(gc.get_objects()),
        "type census": timed(lambda: Counter(map(type, gc.get_objects()))),
        "globals walk (every 30th census)": timed(find_roots),
        "container lengths (other censuses)": timed(lambda: watch.census()),
        "large-container heap walk (every 30th census)": timed(lambda: watch._discover(find_roots())),
        "holders of a sample (on a new leak)": timed(lambda: retained_by(["__main__.Leaked"], find_roots())),
    }
    print(json.dumps(results))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    args = parser.parse_args()
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(size)], capture_output=True, text=True, check=True
        )
        results = json.loads(out.stdout)
        census = results["type census"]
        print(f"\n{results['objects']:,} objects")
        for name, value in results.items():
            if name != "objects":
                print(f"  {name:48} {value:9.1f} ms  {value / census:5.2f}x census")


if __name__ == "__main__":
    main()
