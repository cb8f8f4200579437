"""The opt-in JSON summary served beside ``/metrics`` (``/memory.json``): what the terminal report
and the page read.

It carries what the metrics already carry and nothing more: the memory figures and the time to the
limit as numbers, and each active leak with exactly its series' labels (``leak_metrics.leak_labels``:
bounded, owner paths naming dict keys by digest unless literal keys were asked for), its growth per
hour and retained MB; the same leaks, in the same order, as the per-leak series.
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
    return {"version": VERSION, "pid": os.getpid(), "memory": memory, "leaks": _leaks(profiler)}


def summary_json(profiler: MemoryProfiler) -> bytes:
    return json.dumps(summary(profiler), allow_nan=False).encode("utf-8")
