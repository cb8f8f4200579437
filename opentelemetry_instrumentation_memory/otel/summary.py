"""The opt-in JSON summary served beside ``/metrics`` (``/memory.json``): what the terminal report
and the page read.

It carries what the metrics already carry and nothing more: the memory figures and the time to the
limit as numbers, and each active leak with exactly its info series' labels (``leak_metrics.leak_labels``:
bounded, owner paths naming dict keys by digest unless literal keys were asked for), its growth per
hour and retained MB; the same leaks, in the same order, as the per-leak series. ``history`` is the
heap and its limit over the profiler's history ring, its last ``MAX_SNAPSHOTS`` (what
``heap_used_mb`` and ``heap_size_mb`` scraped over time would show), thinned to ``MAX_POINTS``, for
the page's chart.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from ..core.profiler import MemoryProfiler
from .leak_metrics import MAX_LEAKS, leak_labels

__all__ = ["SUMMARY_PATH", "summary", "summary_json"]

SUMMARY_PATH = "/memory.json"
VERSION = 1
MAX_POINTS = 500
MAX_SNAPSHOTS = 10 * MAX_POINTS  # read per request: a ring of a million stays cheap to serve
_HISTORY = ("timestamp", "heap_used_mb", "heap_size_mb")


def _leaks(profiler: MemoryProfiler) -> List[Dict[str, Any]]:
    leaks = sorted(profiler.active_leaks, key=lambda leak: -leak.retained_bytes_per_hour)[:MAX_LEAKS]
    return [
        {
            **leak_labels(leak),
            "growth_per_hour": leak.growth_rate_per_hour,
            "retained_mb": round(leak.retained_bytes / 2**20, 3),
        }
        for leak in leaks
    ]


def _history(profiler: MemoryProfiler) -> Dict[str, List[float]]:
    """The last ``MAX_SNAPSHOTS`` of the history's columns, oldest first, every n-th so that at most
    ``MAX_POINTS`` remain (the latest always among them). The profiler's thread appends meanwhile:
    the columns are read again while a snapshot came between the first read and the last."""
    history = profiler.history
    for _ in range(5):
        columns = [history.column(name, MAX_SNAPSHOTS) for name in _HISTORY]
        if history.column("timestamp", 1) == columns[0][-1:]:
            break
    length = min(len(column) for column in columns)
    step = -(-length // MAX_POINTS)
    kept = range((length - 1) % step, length, step) if length else range(0)
    return {name: [round(column[i], 3) for i in kept] for name, column in zip(_HISTORY, columns)}


def summary(profiler: MemoryProfiler) -> Dict[str, Any]:
    """The summary as a dict (``memory`` is None before the first snapshot)."""
    snapshot = profiler.latest_snapshot
    memory = None
    if snapshot is not None:
        memory = {
            "timestamp": snapshot.timestamp,
            "heap_used_mb": round(snapshot.heap_used_mb, 3),
            "heap_size_mb": round(snapshot.heap_size_mb, 3),
            "heap_percent": round(snapshot.heap_percent, 3),
            "limit_source": snapshot.limit_source,
            "time_to_limit_seconds": profiler.time_to_limit_seconds,
        }
    return {
        "version": VERSION,
        "pid": os.getpid(),
        "memory": memory,
        "leaks": _leaks(profiler),
        "history": _history(profiler),
    }


def summary_json(profiler: MemoryProfiler) -> bytes:
    return json.dumps(summary(profiler), allow_nan=False).encode("utf-8")
