"""A small Flask service holding what every service holds: an ``lru_cache``, a dict its code caps,
a ``deque`` with a ``maxlen``, sessions that expire, and a batch list filled and cleared. With
``MEMORY_SERVICE_LEAKY=1`` it also keeps one record per request in a module-level list: a leak.

Served by gunicorn (``gunicorn_conf.py`` instruments each worker) for tests/integration/test_real_service.py;
``/__memory`` shows what the worker's profiler concluded.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List

from flask import Flask, jsonify

from opentelemetry_instrumentation_memory import get_memory_profiler

# Per request: 3 profiles, 2 renderings, 2 events; at 20 requests a second and a snapshot every
# half second, each cache fills over 20-25 snapshots, then stays full.
PROFILES_PER_REQUEST, PROFILE_CACHE_SIZE = 3, 600
RENDERINGS_PER_REQUEST, RENDERING_CAP = 2, 500
EVENTS_PER_REQUEST, RECENT_EVENTS = 2, 400
SESSION_TTL_SECONDS = 2.0
BATCH_ITEMS_PER_REQUEST, BATCH_SECONDS = 20, 3.0
AUDIT_BODY_BYTES = 4_096  # the leaky service keeps each request's body: 80 KiB a second
LEAKY = os.environ.get("MEMORY_SERVICE_LEAKY") == "1"

app = Flask(__name__)


class Profile:
    def __init__(self, key: int) -> None:
        self.key = key
        self.name = f"user-{key}"


class Rendering:
    def __init__(self, key: int) -> None:
        self.key = key
        self.html = f"<p>{key}</p>"


class Event:
    def __init__(self, request: int) -> None:
        self.request = request


class Session:
    def __init__(self, request: int, created: float) -> None:
        self.request = request
        self.created = created


class BatchItem:
    def __init__(self, request: int) -> None:
        self.request = request


class AuditRecord:
    def __init__(self, request: int) -> None:
        self.request = request
        self.body = bytes(AUDIT_BODY_BYTES)  # what was said: the record's bulk


@functools.lru_cache(maxsize=PROFILE_CACHE_SIZE)
def profile(key: int) -> Profile:
    return Profile(key)


_renderings: Dict[int, Rendering] = {}
_recent: Deque[Event] = deque(maxlen=RECENT_EVENTS)
_sessions: Dict[int, Session] = {}
_batch: List[BatchItem] = []
_batch_started = time.monotonic()
_audit: List[AuditRecord] = []  # the leak: nothing ever removes a record

_seen_alerts: List[Dict[str, Any]] = []
_seen_leaks: List[Dict[str, Any]] = []
_seen_lock = threading.Lock()


def _remember(kept: List[Dict[str, Any]]):
    def callback(event: Any) -> None:
        with _seen_lock:
            kept.append(event.to_dict())

    return callback


get_memory_profiler().register_alert_callback(_remember(_seen_alerts))
get_memory_profiler().register_leak_callback(_remember(_seen_leaks))


@app.route("/work/<int:request_number>")
def work(request_number: int):
    global _batch_started
    now = time.monotonic()
    for offset in range(PROFILES_PER_REQUEST):
        profile(request_number * PROFILES_PER_REQUEST + offset)
    for offset in range(RENDERINGS_PER_REQUEST):
        if len(_renderings) >= RENDERING_CAP:
            del _renderings[next(iter(_renderings))]
        key = request_number * RENDERINGS_PER_REQUEST + offset
        _renderings[key] = Rendering(key)
    _recent.extend(Event(request_number) for _ in range(EVENTS_PER_REQUEST))
    _sessions[request_number] = Session(request_number, now)
    for key in [key for key, session in _sessions.items() if now - session.created > SESSION_TTL_SECONDS]:
        del _sessions[key]
    _batch.extend(BatchItem(request_number) for _ in range(BATCH_ITEMS_PER_REQUEST))
    if now - _batch_started > BATCH_SECONDS:
        _batch.clear()
        _batch_started = now
    if LEAKY:
        _audit.append(AuditRecord(request_number))
    return jsonify(ok=True)


@app.route("/__memory")
def memory():
    profiler = get_memory_profiler()
    profiler.flush_callbacks(2.0)
    with _seen_lock:
        alerts, leaks = list(_seen_alerts), list(_seen_leaks)
    return jsonify(
        pid=os.getpid(),
        snapshots=profiler.total_snapshots,
        detected_leaks=profiler.get_detected_leaks(),
        active_leaks=[leak.to_dict() for leak in profiler.active_leaks],
        active_alerts=[alert.to_dict() for alert in profiler.active_alerts],
        alert_states=profiler.alert_states,
        alert_transitions=alerts,
        leak_events=leaks,
    )
