"""Host latency with the profiler on (issue 14): an asyncio loop's timer lateness and a threaded WSGI
service's request latency, without the profiler, at its defaults, and with a census every interval.

    python benchmarks/host_latency.py [--seconds 60] [--objects 1000000] [--rounds 1] [--json out.json]
    python benchmarks/host_latency.py --workloads asyncio --modes none default --seconds 120

Every run is a fresh interpreter holding a resident heap topped up to ``--objects`` gc objects (half
small instances, half one-item lists, as in census_pause.py). The modes:

- ``none``: the package is not imported.
- ``default``: ``MemoryInstrumentor().instrument()`` with an SDK ``MeterProvider`` whose periodic
  reader exports to a discarding console exporter (what an OTLP user has, minus the network), and no
  settings: a snapshot, and at 1M objects a census, every 60 s (the 1 % budget allows one every
  ~6 s there). A window of S seconds therefore holds about (S + 1.5) // 60 censuses, the first at
  about 58.5 s: the default 60 s window holds one; shorter windows hold none.
- ``every-interval``: the same, with ``census_budget=1.0`` and ``snapshot_interval=--interval``
  (1 s): a census on every snapshot.

The profiler's first census (at start-up: it names the types and walks the module globals) runs
before the measured window, then one second of unmeasured warm-up. The censuses in the window are
counted from the profiler's snapshots and printed with their mean duration and longest GIL hold.

Workloads:

- ``asyncio``: ``await asyncio.sleep(0.001)`` in a loop; each wake-up's lateness (actual - 1 ms).
- ``wsgi``: wsgiref's server with ``socketserver.ThreadingMixIn`` (a thread per connection, as
  werkzeug's threaded server; the standard library, so the benchmark needs no extra) on a loopback
  port, serving a small JSON document. The client runs in this process, outside the server's GIL:
  ``--clients`` threads (4), each sending one request at a time on a new connection (wsgiref speaks
  HTTP/1.0) at ``--rate / --clients`` per second, never catching up after a slow one. Latency is
  from the request's send to the end of its response, so a stall shows in the requests in flight
  during it (at most ``--clients`` per stall; coordinated omission is not corrected).

Prints p50/p99/max in ms per workload and mode and each one's ratio to ``none``; samples of every
round are pooled. Runs go none, default, every-interval, reversed in odd rounds. A full run takes
about rounds x 2 workloads x 3 modes x (seconds + 3 s): 6.3 minutes at the defaults (measured).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any, Dict, List, Optional, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

MODES = ("none", "default", "every-interval")
WORKLOADS = ("asyncio", "wsgi")
WARMUP_SECONDS = 1.0
TIMER_SECONDS = 0.001


class Item:
    pass


HEAP: List[Any] = []  # module-level, as a service's caches are


def build_heap(objects: int) -> None:
    """Tops the process up to about ``objects`` gc-tracked objects: small instances and lists."""
    per_kind = max(0, objects - len(gc.get_objects())) // 2
    HEAP.append([Item() for _ in range(per_kind)])
    HEAP.append([[i] for i in range(per_kind)])
    gc.collect()


class CensusWatch(threading.Thread):
    """Notes each census the profiler takes: polls its latest snapshot five times a second."""

    def __init__(self, profiler: Any) -> None:
        super().__init__(name="census-watch", daemon=True)
        self.profiler = profiler
        self.censuses: List[Tuple[float, float, float]] = []  # (time, census ms, longest hold ms)
        self.stop = threading.Event()

    def run(self) -> None:
        last = None
        while not self.stop.wait(0.2):
            snapshot = self.profiler.latest_snapshot
            if snapshot is not None and snapshot is not last:
                last = snapshot
                if snapshot.census:
                    pause_ms = self.profiler.census_pause_seconds * 1000.0
                    self.censuses.append((snapshot.timestamp, snapshot.census_ms, pause_ms))

    def within(self, started: float, ended: float) -> Dict[str, Any]:
        inside = [census for census in self.censuses if started <= census[0] <= ended]
        config = self.profiler.config
        return {
            "snapshot_interval": config.snapshot_interval,
            "census_budget": config.census_budget,
            "census_interval": self.profiler.census_interval,
            "censuses": len(inside),
            "census_ms": [census[1] for census in inside],
            "census_hold_ms": [census[2] for census in inside],
        }


def start_profiler(mode: str, interval: float) -> Optional[CensusWatch]:
    """Starts the package as a user does; returns its census watch (None in mode ``none``)."""
    if mode == "none":
        return None
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    from opentelemetry_instrumentation_memory import MemoryInstrumentor, get_memory_profiler

    settings = {} if mode == "default" else {"snapshot_interval": interval, "census_budget": 1.0}
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=open(os.devnull, "w")))
    MemoryInstrumentor().instrument(meter_provider=MeterProvider(metric_readers=[reader]), **settings)
    profiler = get_memory_profiler()
    while profiler.latest_snapshot is None:  # the start-up census stays out of the window
        time.sleep(0.05)
    watch = CensusWatch(profiler)
    watch.start()
    return watch


def prepare(mode: str, objects: int, interval: float) -> Tuple[Optional[CensusWatch], Dict[str, Any]]:
    if mode != "none":
        import opentelemetry_instrumentation_memory  # noqa: F401  (its objects count toward the heap)
    build_heap(objects)
    heap = len(gc.get_objects())
    return start_profiler(mode, interval), {"objects": heap}


def censuses(watch: Optional[CensusWatch], started: float, ended: float) -> Dict[str, Any]:
    if watch is None:
        return {"censuses": 0, "census_ms": [], "census_hold_ms": []}
    return watch.within(started, ended)


async def timer_lateness(seconds: float) -> List[float]:
    lateness: List[float] = []
    end = time.perf_counter() + seconds
    while True:
        before = time.perf_counter()
        if before >= end:
            return lateness
        await asyncio.sleep(TIMER_SECONDS)
        lateness.append((time.perf_counter() - before - TIMER_SECONDS) * 1000.0)


def asyncio_child(mode: str, objects: int, seconds: float, interval: float) -> None:
    watch, result = prepare(mode, objects, interval)
    asyncio.run(timer_lateness(WARMUP_SECONDS))
    started = time.time()
    result["samples_ms"] = asyncio.run(timer_lateness(seconds))
    result.update(censuses(watch, started, time.time()))
    print(json.dumps(result), flush=True)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base's name)
        pass


def application(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
    document = {
        "path": environ.get("PATH_INFO", "/"),
        "time": time.time(),
        "items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(10)],
    }
    body = json.dumps(document).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def wsgi_child(mode: str, objects: int, interval: float) -> None:
    """Serves until told: ``start`` and ``stop`` lines on stdin bound the window."""
    watch, result = prepare(mode, objects, interval)
    server = make_server(
        "127.0.0.1", 0, application, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_port}), flush=True)
    sys.stdin.readline()
    started = time.time()
    sys.stdin.readline()
    result.update(censuses(watch, started, time.time()))
    server.shutdown()
    print(json.dumps(result), flush=True)


def child_command(workload: str, mode: str, args: argparse.Namespace) -> List[str]:
    settings = {"--objects": args.objects, "--seconds": args.seconds, "--interval": args.interval}
    options = [str(item) for pair in settings.items() for item in pair]
    return [sys.executable, os.path.abspath(__file__), "--child", workload, mode, *options]


def child_environment() -> Dict[str, str]:
    """This environment without OpenTelemetry's variables, so that ``default`` means the defaults."""
    return {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}


def run_asyncio(mode: str, args: argparse.Namespace) -> Dict[str, Any]:
    out = subprocess.run(
        child_command("asyncio", mode, args),
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=args.seconds + 300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"asyncio {mode} child failed:\n{out.stderr}")
    result: Dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def load(port: int, seconds: float, clients: int, rate: float) -> List[float]:
    """Request latencies in ms from ``clients`` threads sending ``rate`` requests a second in all."""
    period = clients / rate
    latencies: List[float] = []
    failures: List[BaseException] = []
    end = time.perf_counter() + seconds

    def client(offset: float) -> None:
        next_at = time.perf_counter() + offset
        while next_at < end:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            sent = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", "/")
                connection.getresponse().read()
                connection.close()
            except OSError as error:
                failures.append(error)
                return
            done = time.perf_counter()
            latencies.append((done - sent) * 1000.0)
            next_at = max(next_at + period, done)

    threads = [threading.Thread(target=client, args=(period * i / clients,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} client(s) failed: {failures[0]!r}")
    return latencies


def run_wsgi(mode: str, args: argparse.Namespace) -> Dict[str, Any]:
    server = subprocess.Popen(
        child_command("wsgi", mode, args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_environment(),
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"wsgi {mode} server failed:\n{server.communicate()[1]}")
        port = json.loads(line)["port"]
        load(port, WARMUP_SECONDS, args.clients, args.rate)
        server.stdin.write("start\n")
        server.stdin.flush()
        samples = load(port, args.seconds, args.clients, args.rate)
        stdout, stderr = server.communicate("stop\n", timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    if server.returncode != 0:
        raise RuntimeError(f"wsgi {mode} server failed:\n{stderr}")
    result: Dict[str, Any] = json.loads(stdout.splitlines()[-1])
    result["samples_ms"] = samples
    return result


def percentile(ordered: List[float], share: float) -> float:
    """Nearest-rank percentile of sorted ``ordered``."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def summary(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    samples = sorted(sample for run in runs for sample in run["samples_ms"])
    census_ms = [ms for run in runs for ms in run["census_ms"]]
    holds = [ms for run in runs for ms in run["census_hold_ms"]]
    return {
        "objects": max(run["objects"] for run in runs),
        "samples": len(samples),
        "p50_ms": percentile(samples, 0.50),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": samples[-1] if samples else float("nan"),
        "censuses": len(census_ms),
        "census_mean_ms": sum(census_ms) / len(census_ms) if census_ms else 0.0,
        "census_longest_hold_ms": max(holds, default=0.0),
        # The profiler's settings as it ran, and its census spacing at the end of the last run.
        **{
            key: runs[-1][key]
            for key in ("snapshot_interval", "census_budget", "census_interval")
            if key in runs[-1]
        },
    }


def report(workload: str, figures: Dict[str, Dict[str, Any]]) -> None:
    what = "timer lateness" if workload == "asyncio" else "request latency"
    objects = max(row["objects"] for row in figures.values())
    print(f"\n{workload}: {what}, {objects:,} gc objects")
    print(
        f"  {'mode':15} {'samples':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'p50 x':>6} {'p99 x':>6} {'max x':>6}  censuses (mean ms, longest hold ms)"
    )
    base = figures.get("none")
    for mode, row in figures.items():
        ratios = "".join(
            f" {row[key] / base[key]:6.2f}" if base and base[key] > 0 else f" {'-':>6}"
            for key in ("p50_ms", "p99_ms", "max_ms")
        )
        census = (
            f"{row['censuses']} ({row['census_mean_ms']:.1f}, {row['census_longest_hold_ms']:.1f})"
            if row["censuses"]
            else ("0" if mode == "none" else "0, none in the window")
        )
        if mode != "none":
            census += f"; one every {row['census_interval']:.1f} s (budget {row['census_budget']})"
        print(
            f"  {mode:15} {row['samples']:8d} {row['p50_ms']:8.3f} {row['p99_ms']:8.3f}"
            f" {row['max_ms']:8.2f}{ratios}  {census}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per run")
    parser.add_argument("--objects", type=int, default=1_000_000, help="resident heap, gc objects")
    parser.add_argument("--interval", type=float, default=1.0, help="snapshot_interval of every-interval")
    parser.add_argument("--rounds", type=int, default=1, help="runs per mode, interleaved and pooled")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--clients", type=int, default=4, help="wsgi client threads")
    parser.add_argument("--rate", type=float, default=200.0, help="wsgi requests a second, all clients")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload, mode = args.child
        if workload == "asyncio":
            asyncio_child(mode, args.objects, args.seconds, args.interval)
        else:
            wsgi_child(mode, args.objects, args.interval)
        return
    runs: Dict[str, Dict[str, List[Dict[str, Any]]]] = {
        workload: {mode: [] for mode in args.modes} for workload in args.workloads
    }
    for round_ in range(args.rounds):
        modes = args.modes if round_ % 2 == 0 else list(reversed(args.modes))
        for workload in args.workloads:
            for mode in modes:
                started = time.monotonic()
                run = run_asyncio(mode, args) if workload == "asyncio" else run_wsgi(mode, args)
                runs[workload][mode].append(run)
                print(
                    f"  round {round_ + 1} {workload} {mode}: {len(run['samples_ms'])} samples,"
                    f" {run['censuses']} censuses, {time.monotonic() - started:.0f} s",
                    flush=True,
                )
    results: Dict[str, Any] = {
        "settings": {key: value for key, value in vars(args).items() if key not in ("child", "json")},
        "python": sys.version.split()[0],
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    for workload, by_mode in runs.items():
        figures = {mode: summary(mode_runs) for mode, mode_runs in by_mode.items()}
        report(workload, figures)
        results[workload] = figures
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
