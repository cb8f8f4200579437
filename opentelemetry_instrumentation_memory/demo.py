"""A small service with a deliberate leak: ``python -m opentelemetry_instrumentation_memory.demo``.

It re-runs itself under ``opentelemetry-instrument`` (as a service would be run, with no code
change), with metrics on a Prometheus reader at http://localhost:9202/metrics and log records on the
console. It snapshots itself every second, prints snapshots, the leak it finds and where its alerts
stand (pending until held for their rule's duration), reads its own /metrics at the end, and stops
after ``--seconds`` (60 by default).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
import urllib.request

from .core.analysis.alerts import ACTIVE
from .core.profiler import get_memory_profiler
from .core.records import Alert, Leak, MemorySnapshot
from .otel.instrumentor import MemoryInstrumentor

_CHILD_MARKER = "OTEL_PYTHON_MEMORY_DEMO_CHILD"
_SECONDS_TO_THE_LINE = 45  # the verdict and its line at about 30 s, with a margin for a loaded machine
_DEMO_ENVIRONMENT = {
    "OTEL_SERVICE_NAME": "memory-demo",
    "OTEL_METRICS_EXPORTER": "prometheus",
    "OTEL_EXPORTER_PROMETHEUS_PORT": "9202",
    "OTEL_LOGS_EXPORTER": "console",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL": "1",
    "OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT": "10",
    "OTEL_PYTHON_MEMORY_WARMUP_SECONDS": "10",
    # A census a second (the default 1 % would space them out to every 2-4 s on this small heap):
    # the leak is found, with its line, about 30 s in, well within the demo's minute.
    "OTEL_PYTHON_MEMORY_CENSUS_BUDGET": "0.05",
    # A 45-second demo never leaks 1 % of a real machine's memory, so its leaks rank low; in
    # production only high and critical ones raise leak_detected.
    "OTEL_PYTHON_MEMORY_LEAK_ALERT_SEVERITY": "low",
}


class LeakyRecord:
    """What the demo's request handler forgets to release."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


_forgotten: list[LeakyRecord] = []
_seen_tokens: dict[str, bytes] = {}  # a dedup cache nobody ever trims


def handle_request(rng: random.Random, number: int) -> None:
    scratch = [{"id": i, "value": rng.random()} for i in range(200)]  # garbage, freed at once
    del scratch
    _forgotten.append(LeakyRecord(bytes(2048)))
    _seen_tokens[f"token-{number}"] = os.urandom(256)


def _print_snapshot(snapshot: MemorySnapshot) -> None:
    top = ", ".join(f"{name}={count}" for name, count in snapshot.top_objects[:3])
    print(
        f"snapshot  heap {snapshot.heap_used_mb:7.1f} MB ({snapshot.heap_percent:5.2f}% of "
        f"{snapshot.heap_size_mb:,.0f} MB, {snapshot.limit_source})  objects {snapshot.total_objects:>8,}"
        f"  top: {top}"
    )


def _print_leak(leak: Leak) -> None:
    entries = f" of {leak.entry_type}" if leak.entry_type else ""
    what = f"{leak.container} ({leak.object_type}{entries})" if leak.kind == "container" else leak.object_type
    if leak.sites:
        print(f"LEAK      {what} grows most at {leak.sites[0]}")
        for frame in leak.sites[0].traceback[-3:]:
            print(f"            {frame}")
        return
    unit = "entries" if leak.kind == "container" else "objects"
    held = f", held by {leak.retained_by[0][0]}" if leak.retained_by else ""
    print(
        f"LEAK      {leak.kind} {what}: +{leak.growth_count} {unit}, {leak.growth_rate_per_hour:,.0f}/h, "
        f"~{leak.retained_bytes_per_hour / 2**20:,.0f} MB/h, severity {leak.severity}{held}"
    )


def _print_alert(alert: Alert) -> None:
    print(f"ALERT     [{alert.severity}] {alert.type} {alert.state}: {alert.message}")


def _relaunch_under_opentelemetry_instrument(argv: list[str]) -> None:
    """Replace this process with the same demo run by ``opentelemetry-instrument``, if installed."""
    beside = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    launcher = beside if os.path.exists(beside) else shutil.which("opentelemetry-instrument")
    if launcher is None:
        print("opentelemetry-instrument not found (pip install opentelemetry-distro): running without export")
        return
    environment: dict[str, str] = {**_DEMO_ENVIRONMENT, **os.environ, _CHILD_MARKER: "1"}
    shown = " ".join(f"{key}={environment[key]}" for key in _DEMO_ENVIRONMENT)
    print(
        f"$ {shown} opentelemetry-instrument python -m {__spec__.name} {' '.join(argv)}".rstrip(), flush=True
    )
    os.execve(launcher, [launcher, sys.executable, "-m", __spec__.name, *argv], environment)


def _print_own_metrics() -> None:
    port = os.environ.get("OTEL_EXPORTER_PROMETHEUS_PORT", "9202")
    url = f"http://localhost:{port}/metrics"
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError as error:
        print(f"\n{url} not reachable: {error}")
        return
    wanted = (
        "fogcompute_memory_heap_used_mb",
        "fogcompute_memory_heap_percent",
        "fogcompute_memory_active_leaks",
    )
    print(f"\nfrom {url}:")
    for line in text.splitlines():
        if line.startswith((*wanted, "fogcompute_memory_leak_retained_mb", "fogcompute_memory_leak_info")):
            print(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--requests-per-second", type=int, default=200)
    args = parser.parse_args(argv)
    if os.environ.get(_CHILD_MARKER) is None:
        if args.seconds < _SECONDS_TO_THE_LINE:
            print(
                f"note: the leak and its line come about 30 s in; --seconds {args.seconds:g} may end before"
            )
        _relaunch_under_opentelemetry_instrument(argv)

    profiler = get_memory_profiler()
    if not profiler.running:  # not auto-instrumented: turn it on in code instead
        MemoryInstrumentor().instrument(snapshot_interval=1.0, top_objects_count=10)
    profiler.register_leak_callback(_print_leak)
    profiler.register_alert_callback(_print_alert)
    rng = random.Random(7)
    deadline = time.monotonic() + args.seconds
    last_printed = 0.0
    served = 0
    while time.monotonic() < deadline:
        for _ in range(args.requests_per_second // 10):
            handle_request(rng, served)
            served += 1
        time.sleep(0.1)
        latest = profiler.latest_snapshot
        if latest is not None and latest.timestamp - last_printed >= 5.0:
            _print_snapshot(latest)
            last_printed = latest.timestamp
    profiler.flush_callbacks()
    print("\ndetected leaks:")
    for leak in profiler.get_detected_leaks():
        top = leak["sites"][0] if leak["sites"] else None
        where = f" at {top['file']}:{top['line']}" if top else ""
        name = leak["container"] or leak["object_type"]
        entries = f" of {leak['entry_type']}" if leak["entry_type"] else ""
        print(f"  {leak['kind']:9} {name}{entries}: +{leak['growth_count']}{where}")
    held = {name: state for name, state in profiler.alert_states.items() if state}
    shown = [f"{name} {'firing' if state == ACTIVE else 'pending'}" for name, state in held.items()]
    print("alerts: " + (", ".join(shown) or "none pending") + " (each fires once held for its rule's for:)")
    drift = profiler.latest_drift
    if drift is not None:
        print(f"heap drift from baseline: {drift.heap_drift_mb:+.1f} MB ({drift.heap_drift_percent:+.0f}%)")
    _print_own_metrics()


if __name__ == "__main__":
    main()
