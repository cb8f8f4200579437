"""The compiled census prototype against the floor and the package's census: stall and time.

    PYTHONPATH=. python benchmarks/compiled_census/measure.py [--sizes 100000 1000000 5000000] [--runs 2]

Builds ``_census`` for the running interpreter (CPython 3.12+, needs gcc), then, in a fresh
interpreter per heap size and run, first checks on a quiet heap (collector off, no other thread)
that the compiled count equals ``Counter(map(type, gc.get_objects()))`` exactly, then starts a
thread that wakes every 0.5 ms and records the longest gap between its wake-ups while the main
thread runs each step five times, as ``benchmarks/census_pause.py`` does. Prints a Markdown table:
worst stall and its ratio to a bare ``gc.get_objects()`` (the floor), mean time and its ratio to
the one-call census.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
from typing import Any, Dict, List

from build import build

BENCHMARKS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # for stall.py

CHILD = textwrap.dedent(
    """
    import gc, json, sys, time
    from collections import Counter
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    import _census
    from stall import Ticker
    from opentelemetry_instrumentation_memory.core.sampling.census import (
        count_objects_by_type, type_name,
    )

    class Item: pass
    size = int(sys.argv[1])
    HEAP = [Item() for _ in range(size // 2)]
    PAIRS = [[i] for i in range(size // 2)]
    gc.collect()

    def named():  # what would replace count_objects_by_type: the compiled count, then the names
        counts = {}
        for kind, count in _census.count_types():
            name = type_name(kind)
            counts[name] = counts.get(name, 0) + count
        return counts

    # Exactness, on a quiet heap: no collection, no other thread, caches warmed by a first round.
    gc.disable()
    for _ in range(2):
        named(), count_objects_by_type(), _census.count_types_dict()
    expected = Counter(map(type, gc.get_objects()))
    compiled = dict(_census.count_types())
    expected[Counter] += 1  # ``expected`` itself is alive during the walk
    exact = compiled == dict(expected)
    gc.enable()
    del expected, compiled

    ticker = Ticker().__enter__()
    steps = {
        "gc.get_objects()": gc.get_objects,
        "census in one call": lambda: Counter(map(type, gc.get_objects())),
        "sliced census": count_objects_by_type,
        "compiled count_types()": _census.count_types,
        "compiled, dict-keyed": _census.count_types_dict,
        "compiled, then named": named,
    }
    results = {"objects": len(gc.get_objects()), "exact": exact, "steps": {}}
    for name, step in steps.items():
        worst, total = 0.0, 0.0
        for _ in range(5):
            stall, duration = ticker.stall(step)
            worst, total = max(worst, stall), total + duration
        results["steps"][name] = {"stall_ms": worst * 1000, "mean_ms": total / 5 * 1000}
    ticker.__exit__()
    print(json.dumps(results))
    """
)


def measure(size: int, build_dir: str) -> Dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(size), build_dir, BENCHMARKS],
        capture_output=True,
        text=True,
        check=True,
    )
    result: Dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    build_dir = str(build().parent)
    print(f"Python {platform.python_version()}, {platform.machine()}, runs: {args.runs}")
    for size in args.sizes:
        runs = [measure(size, build_dir) for _ in range(args.runs)]
        objects = ", ".join(f"{run['objects']:,}" for run in runs)
        exact = all(run["exact"] for run in runs)
        print(f"\n{objects} gc objects; compiled count equals Counter's exactly: {exact}\n")
        print("| step | worst stall, ms (x floor) | mean, ms (x one-call census) |")
        print("|---|---|---|")
        steps: List[Dict[str, Dict[str, float]]] = [run["steps"] for run in runs]
        for name in steps[0]:
            stalls, means = [], []
            for figures in steps:
                floor = figures["gc.get_objects()"]["stall_ms"]
                one_call = figures["census in one call"]["mean_ms"]
                stall, mean = figures[name]["stall_ms"], figures[name]["mean_ms"]
                stalls.append(f"{stall:.1f} ({stall / floor:.2f}x)")
                means.append(f"{mean:.1f} ({mean / one_call:.2f}x)")
            print(f"| {name} | {' / '.join(stalls)} | {' / '.join(means)} |")


if __name__ == "__main__":
    main()
