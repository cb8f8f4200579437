"""Running a profiler's loop beside a real workload thread, until a condition or a deadline."""

import threading
import time
from dataclasses import replace

from opentelemetry_instrumentation_memory import ALERT_RULES

# A profiler that finds a leak within about fifteen snapshots, a census at each.
FAST_LEAKS = dict(snapshot_interval=0.05, census_budget=1.0, leak_window=16, leak_min_snapshots=12)


def run_beside(profiler, work, until, timeout=60):
    """Start ``work(stop)`` on a thread and the profiler's loop; stop both once ``until()`` holds."""
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(stop,))
    worker.start()
    profiler.start()
    try:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()
        profiler.stop()


# The shipped alert definitions without their durations: an alert fires at the first snapshot its
# condition holds, so that a test of what follows a firing need not wait minutes.
IMMEDIATE_ALERTS = tuple(replace(rule, for_seconds=0.0) for rule in ALERT_RULES)
