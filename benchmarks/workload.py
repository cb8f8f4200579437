"""One host workload for the overhead benchmark; prints its throughput (operations per second).

    python benchmarks/workload.py {request|allocation} SECONDS CORE [INTERVAL {on|off}]

With INTERVAL it runs profiled (a snapshot every INTERVAL seconds, tracemalloc on or off).
"""

from __future__ import annotations

import json
import os
import sys
import time


def request(state: dict) -> None:
    """Parse a JSON body, build a response, render it: a typical request handler's work."""
    body = json.loads('{"user": 42, "items": [1, 2, 3, 4, 5], "query": "memory profiler"}')
    response = {"user": body["user"], "total": sum(body["items"]), "words": body["query"].split()}
    state["last"] = json.dumps(response)


def allocation(state: dict) -> None:
    """Build and drop many small containers: the worst case for tracemalloc and the GC."""
    state["last"] = [{"index": i, "tags": [i, i + 1]} for i in range(50)]


def main() -> None:
    kind, seconds, core = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    # A resident heap of some 200,000 objects, so that a census costs what it would in a service.
    resident = [{"id": i, "name": str(i)} for i in range(100_000)] + [[i] for i in range(100_000)]
    # Both copies import the package, so that they carry the same heap: what differs is only
    # whether the profiler runs.
    from opentelemetry_instrumentation_memory import MemoryProfiler

    profiler = None
    if len(sys.argv) > 4:
        profiler = MemoryProfiler(
            snapshot_interval=float(sys.argv[4]), enable_tracemalloc=sys.argv[5] == "on"
        )
        profiler.start()
    work = request if kind == "request" else allocation
    state: dict = {}
    operations = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            work(state)
        operations += 100
    if profiler is not None:
        profiler.stop()
    print(len(resident), operations / seconds)


if __name__ == "__main__":
    main()
