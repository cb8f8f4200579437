"""A clean Flask service, as a healthy production service is: nothing in it leaks.

- Requests allocate and free: each builds a few hundred small records, encodes them and drops them.
- Bounded caches, each filled past its size: an ``lru_cache(maxsize=PROFILE_CACHE_SIZE)`` asked for
  keys cycling over several times as many, and a dict its code caps at ``RENDERING_CAP`` entries
  (oldest evicted).
- A batch job every ``BATCH_SECONDS`` on a thread of each worker: ``BATCH_DICTS`` dicts (each with a
  list, so that they are gc-tracked) built, summed and dropped, a burst of collections every time.
  One also runs inside every tracemalloc window, the worst case for the monitor's own memory: its
  traces take tens of megabytes while it runs.
- A reference table loaded lazily: ``CATALOG_START`` entries at import, then ``CATALOG_PER_SECOND``
  more a second (a few hundred bytes each) from ``CATALOG_FROM_SECONDS`` after the worker starts,
  until it holds ``CATALOG_SIZE``; never more. That is a transient growth of one type, steady for
  minutes, then flat: while it grows, the leak detector cannot tell it from a leak (it may report a
  low one: a few KB a second), and a low leak still growing a quarter window after it was found gets
  a leak-site capture. The package has no call to request a capture; this is how the service gets
  one (its tracemalloc window) inside the run, after the warm-up, without leaking.

Served by ``opentelemetry-instrument gunicorn -c healthy_gunicorn_conf.py`` for
tests/integration/test_healthy_service.py. Each second the worker's scheduler thread notes whether
tracemalloc is tracing (``tracing-<pid>.jsonl`` in ``MEMORY_SERVICE_RECORDS``): the capture's window,
seen from the host's side; and the memory used, the monitor's own part and the drift from the
baseline, as the profiler last read them (``memory-<pid>.jsonl``).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import tracemalloc
from typing import Dict

from flask import Flask, jsonify

from opentelemetry_instrumentation_memory import get_memory_profiler

PROFILE_CACHE_SIZE = 256
PROFILE_KEYS = 2048  # the lru_cache is asked for eight times as many keys as it keeps
RENDERING_CAP = 500
RECORDS_PER_REQUEST = 300
BATCH_SECONDS = 20.0
BATCH_DICTS = 150_000
CATALOG_START = 200
CATALOG_FROM_SECONDS = 150.0  # after the README's 120 s warm-up: the baseline is settled by then
CATALOG_PER_SECOND = 5
CATALOG_SIZE = 3_200  # reached 750 s after the worker starts

RECORDS = os.environ.get("MEMORY_SERVICE_RECORDS", "")
STARTED = time.monotonic()

app = Flask(__name__)


class Profile:
    def __init__(self, key: int) -> None:
        self.key = key
        self.name = f"user-{key}"


class Rendering:
    def __init__(self, key: int) -> None:
        self.key = key
        self.html = f"<p>{key}</p>"


class CatalogEntry:
    def __init__(self, key: int) -> None:
        self.key = key
        self.label = f"sku-{key:06d}"


@functools.lru_cache(maxsize=PROFILE_CACHE_SIZE)
def profile(key: int) -> Profile:
    return Profile(key)


_renderings: Dict[int, Rendering] = {}
_renderings_lock = threading.Lock()
_catalog: Dict[int, CatalogEntry] = {key: CatalogEntry(key) for key in range(CATALOG_START)}
_batches = {"runs": 0, "last_total": 0}


def _catalog_target(uptime: float) -> int:
    grown = int(max(0.0, uptime - CATALOG_FROM_SECONDS) * CATALOG_PER_SECOND)
    return min(CATALOG_SIZE, CATALOG_START + grown)


def _run_batch() -> None:
    rows = [{"id": i, "name": f"row-{i}", "tags": [i, i + 1]} for i in range(BATCH_DICTS)]
    _batches["last_total"] = sum(row["tags"][1] for row in rows)
    _batches["runs"] += 1
    del rows


def _note_pending_alerts() -> None:
    """Alerts whose condition holds (pending, or firing): what ``for:`` would hide from callbacks."""
    held = {name: state for name, state in get_memory_profiler().alert_states.items() if state}
    if RECORDS and held:
        line = json.dumps({"pid": os.getpid(), "uptime": time.monotonic() - STARTED, "held": held})
        with open(os.path.join(RECORDS, f"pending-{os.getpid()}.jsonl"), "a") as out:
            out.write(line + "\n")


def _note_tracing() -> None:
    if RECORDS and tracemalloc.is_tracing():
        line = json.dumps({"pid": os.getpid(), "time": time.time(), "uptime": time.monotonic() - STARTED})
        with open(os.path.join(RECORDS, f"tracing-{os.getpid()}.jsonl"), "a") as out:
            out.write(line + "\n")


def _note_memory() -> None:
    """The memory used as the profiler last read it, its own part, and the drift it alerts on."""
    profiler = get_memory_profiler()
    snapshot = profiler.latest_snapshot
    if RECORDS and snapshot is not None:
        line = {
            "uptime": time.monotonic() - STARTED,
            "used_mb": snapshot.heap_used_mb,
            "own_mb": profiler.own_memory_mb,
            "drift_percent": profiler.alert_signals.get("baseline_drift_percent"),
            "tracing": tracemalloc.is_tracing(),
        }
        with open(os.path.join(RECORDS, f"memory-{os.getpid()}.jsonl"), "a") as out:
            out.write(json.dumps(line) + "\n")


def _scheduler() -> None:
    next_batch = STARTED + BATCH_SECONDS
    batched_while_tracing = False
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        target = _catalog_target(now - STARTED)
        while len(_catalog) < target:
            key = len(_catalog)
            _catalog[key] = CatalogEntry(key)
        tracing = tracemalloc.is_tracing()
        if now >= next_batch or (tracing and not batched_while_tracing):
            next_batch = now + BATCH_SECONDS
            _run_batch()
        batched_while_tracing = tracing
        _note_tracing()
        _note_memory()
        _note_pending_alerts()


threading.Thread(target=_scheduler, name="healthy-app-scheduler", daemon=True).start()


@app.route("/work/<int:number>")
def work(number: int):
    records = [{"request": number, "item": i, "values": [i, i * 2]} for i in range(RECORDS_PER_REQUEST)]
    size = len(json.dumps(records))
    del records
    cached = profile(number % PROFILE_KEYS)
    with _renderings_lock:
        if len(_renderings) >= RENDERING_CAP:
            del _renderings[next(iter(_renderings))]
        _renderings[number] = Rendering(number)
    return jsonify(pid=os.getpid(), size=size, profile=cached.name)


@app.route("/__state")
def state():
    info = profile.cache_info()
    return jsonify(
        pid=os.getpid(),
        uptime=time.monotonic() - STARTED,
        profile_cache=info.currsize,
        profile_misses=info.misses,
        renderings=len(_renderings),
        catalog=len(_catalog),
        batches=_batches["runs"],
    )
