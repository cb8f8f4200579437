"""How long a census, and each heap walk of the leak diagnosis, stalls the host's other threads,
against listing the heap (the floor), and what each costs against the census.

    python benchmarks/census_pause.py [--sizes 100000 1000000 5000000]

In a fresh interpreter per heap size, a thread that wakes every 0.5 ms records the longest gap
between its wake-ups while the main thread runs each step, seven times: a bare ``gc.get_objects()``
(the floor), the census as one call (``Counter(map(type, gc.get_objects()))``, the previous design),
the sliced census (``count_objects_by_type``), a whole snapshot at the default settings, each heap
walk of the analysis and the leak diagnosis, and last the allocation-site capture's tracemalloc
steps (tracing on, 100,000 objects allocated in its window). Prints for each step the median of its
seven stalls and that median's ratio to the floor's, the ratio of the worst of the seven to the
floor's worst, its mean time against the one-call census, and the longest garbage collection that
ran meanwhile (a collection stalls every thread too, whoever's allocation triggered it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pause_child.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    args = parser.parse_args()
    for size in args.sizes:
        out = subprocess.run([sys.executable, CHILD, str(size)], capture_output=True, text=True, check=True)
        results = json.loads(out.stdout)
        floor = results["gc.get_objects()"]["stall_ms"]
        one_call = results["census in one call"]["mean_ms"]
        print(f"\n{results.pop('objects'):,} objects")  # ratios: stall to the floor, time to the census
        for name, figures in results.items():
            stall, mean = figures["stall_ms"], figures["mean_ms"]
            print(
                f"  {name:26} stall {stall:6.1f} ms ({stall / floor:4.2f}x floor, worst "
                f"{figures['worst_stall_ms'] / results['gc.get_objects()']['worst_stall_ms']:4.2f}x)"
                f"   mean {mean:7.1f} ms ({mean / one_call:4.2f}x one-call census)"
                f"   collection {figures['longest_collection_ms']:5.1f} ms"
            )


if __name__ == "__main__":
    main()
