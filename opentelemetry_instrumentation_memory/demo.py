"""A small service with a deliberate leak: ``python -m opentelemetry_instrumentation_memory.demo``.

It snapshots itself every second and prints snapshots, the leak it finds and the alerts it raises,
then stops after ``--seconds`` (45 by default).
"""

from __future__ import annotations

import argparse
import random
import time
from typing import List

from ._alerts import Alert
from ._leaks import Leak
from ._profiler import MemoryProfiler
from ._snapshot import MemorySnapshot


class LeakyRecord:
    """What the demo's request handler forgets to release."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


_forgotten: List[LeakyRecord] = []


def handle_request(rng: random.Random) -> None:
    scratch = [{"id": i, "value": rng.random()} for i in range(200)]  # garbage, freed at once
    del scratch
    _forgotten.append(LeakyRecord(bytes(2048)))


def _print_snapshot(snapshot: MemorySnapshot) -> None:
    top = ", ".join(f"{name}={count}" for name, count in snapshot.top_objects[:3])
    print(
        f"snapshot  heap {snapshot.heap_used_mb:7.1f} MB ({snapshot.heap_percent:5.2f}% of "
        f"{snapshot.heap_size_mb:,.0f} MB, {snapshot.limit_source})  objects {snapshot.total_objects:>8,}"
        f"  top: {top}"
    )


def _print_leak(leak: Leak) -> None:
    print(
        f"LEAK      {leak.object_type}: +{leak.growth_count} objects ({leak.growth_percent:.0f}%), "
        f"{leak.growth_rate_per_hour:,.0f}/h, severity {leak.severity}"
    )


def _print_alert(alert: Alert) -> None:
    print(f"ALERT     [{alert.severity}] {alert.type} {alert.state}: {alert.message}")


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--requests-per-second", type=int, default=200)
    args = parser.parse_args(argv)

    profiler = MemoryProfiler(snapshot_interval=1.0, top_objects_count=10)
    profiler.register_leak_callback(_print_leak)
    profiler.register_alert_callback(_print_alert)
    profiler.start()
    rng = random.Random(7)
    deadline = time.monotonic() + args.seconds
    last_printed = 0.0
    try:
        while time.monotonic() < deadline:
            for _ in range(args.requests_per_second // 10):
                handle_request(rng)
            time.sleep(0.1)
            latest = profiler.latest_snapshot
            if latest is not None and latest.timestamp - last_printed >= 5.0:
                _print_snapshot(latest)
                last_printed = latest.timestamp
    finally:
        profiler.flush_callbacks()
        profiler.stop()
    print("\ndetected leaks:")
    for leak in profiler.get_detected_leaks():
        print(f"  {leak['object_type']}: +{leak['growth_count']} ({leak['severity']})")
    drift = profiler.latest_drift
    if drift is not None:
        print(f"heap drift from baseline: {drift.heap_drift_mb:+.1f} MB ({drift.heap_drift_percent:+.0f}%)")


if __name__ == "__main__":
    main()
