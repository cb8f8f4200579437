"""Host API latency while the profiler diagnoses a leak on a large heap, beside busy host threads.

    python benchmarks/host_calls.py [--objects 1000000] [--seconds 30] [--busy 3]
    python benchmarks/host_calls.py --package-path /tmp/before   # another checkout, side by side

Each run is a fresh interpreter holding ``--objects`` gc objects (half small instances, half
one-item lists), a type and a module-level list that leak, and ``--busy`` threads spinning in pure
Python (CPU-bound host work, which makes every GIL hand-over wait out a switch interval). The
profiler runs a census, the container walk and, once the leaks are found, the holder search every
second (``census_budget=1``). The main thread calls ``configure()``, ``snapshot(census=False)`` and
reads ``detected_leaks`` in turn, every 20 ms, and prints p50/p99/max of each in ms.

With ``--package-path`` given, that checkout is measured first, then this one, and the ratios of
their p99s are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Leaked:
    def __init__(self, index: int) -> None:
        self.index = index


LEAKING: list = []


def _child(objects: int, seconds: float, busy: int) -> dict:
    from opentelemetry_instrumentation_memory import MemoryProfiler

    class Resident:
        __slots__ = ("value",)

        def __init__(self, value: int) -> None:
            self.value = value

    heap = [Resident(i) if i % 2 else [i] for i in range(objects)]
    stop = threading.Event()

    def spin() -> None:
        total = 0
        while not stop.is_set():
            for i in range(10_000):
                total += i

    workers = [threading.Thread(target=spin, daemon=True) for _ in range(busy)]
    for worker in workers:
        worker.start()
    profiler = MemoryProfiler(
        snapshot_interval=1.0,
        census_budget=1.0,
        leak_window=16,
        leak_min_snapshots=8,
        leak_site_capture=False,
    )
    profiler.start()
    timings: dict = {"configure": [], "snapshot(census=False)": [], "detected_leaks": []}
    calls = {
        "configure": lambda: profiler.configure(heap_warning_percent=80.0),
        "snapshot(census=False)": lambda: profiler.snapshot(census=False),
        "detected_leaks": lambda: profiler.detected_leaks,
    }
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        for index in range(step * 200, step * 200 + 200):
            LEAKING.append(Leaked(index))
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000.0)
        step += 1
        time.sleep(0.02)
    found = len(profiler.detected_leaks)
    profiler.stop()
    stop.set()
    del heap
    return {"timings": timings, "leaks": found, "snapshots": profiler.total_snapshots}


def _quantiles(values: list) -> tuple:
    ordered = sorted(values)
    pick = lambda share: ordered[min(len(ordered) - 1, int(share * len(ordered)))]  # noqa: E731
    return pick(0.5), pick(0.99), ordered[-1]


def _run(package_path: str, args: argparse.Namespace) -> dict:
    environment = {**os.environ, "PYTHONPATH": package_path}
    command = [sys.executable, __file__, "--child", str(args.objects), str(args.seconds), str(args.busy)]
    output = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=True, cwd=package_path
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        objects, seconds, busy = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(_child(objects, seconds, busy)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--busy", type=int, default=3)
    parser.add_argument("--package-path", default=None, help="another checkout to measure first")
    args = parser.parse_args()
    runs = [("other", args.package_path)] if args.package_path else []
    runs.append(("this", _HERE))
    results = {}
    for label, path in runs:
        result = _run(path, args)
        results[label] = {name: _quantiles(values) for name, values in result["timings"].items()}
        print(f"{label} ({path}): {result['snapshots']} snapshots, {result['leaks']} leaks found")
        for name, (p50, p99, most) in results[label].items():
            print(f"  {name:24s} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  max {most:8.2f} ms")
    if len(results) == 2:
        for name in results["this"]:
            other, this = results["other"][name][1], results["this"][name][1]
            print(f"  p99 {name:24s} other/this = {other / max(this, 1e-6):.1f}x")


if __name__ == "__main__":
    main()
