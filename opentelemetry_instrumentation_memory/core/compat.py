"""The seed API's other spellings, kept working: async twins and dict views.

The profiler's model is records (dataclasses with ``to_dict()``) and synchronous methods; the
original quick start also awaited ``take_snapshot()``/``compare_to_baseline()`` and read leaks and
statistics as dicts. Those live here, each a thin view of the model.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from .analysis.history import SnapshotHistory
from .config import ProfilerConfig
from .records import Alert, BaselineDrift, Leak, MemorySnapshot

__all__ = ["SeedCompatibility"]


class _Profiler(Protocol):
    """What the views below read of ``MemoryProfiler``."""

    @property
    def running(self) -> bool: ...
    @property
    def config(self) -> ProfilerConfig: ...
    @property
    def latest_snapshot(self) -> MemorySnapshot | None: ...
    @property
    def total_snapshots(self) -> int: ...
    @property
    def history(self) -> SnapshotHistory: ...
    @property
    def active_leaks(self) -> list[Leak]: ...
    @property
    def detected_leaks(self) -> list[Leak]: ...
    @property
    def active_alerts(self) -> list[Alert]: ...
    @property
    def tracked_types(self) -> int: ...
    @property
    def tracemalloc_tracing(self) -> bool: ...
    @property
    def callback_failures(self) -> int: ...
    @property
    def dropped_events(self) -> int: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = 5.0) -> bool: ...
    def snapshot(self, census: bool = True) -> MemorySnapshot: ...
    def baseline_drift(self) -> BaselineDrift: ...


class SeedCompatibility:
    """Mixed into ``MemoryProfiler``."""

    async def start_memory_profiler(self: _Profiler) -> None:
        self.start()

    async def stop_memory_profiler(self: _Profiler) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    async def take_snapshot(self: _Profiler) -> MemorySnapshot:
        return await asyncio.get_running_loop().run_in_executor(None, self.snapshot)

    async def compare_to_baseline(self: _Profiler) -> BaselineDrift:
        return await asyncio.get_running_loop().run_in_executor(None, self.baseline_drift)

    def get_detected_leaks(self: _Profiler) -> list[dict[str, Any]]:
        """Every leak seen since the last ``clear_detected_leaks()``, most recent last, as dicts
        (``Leak.to_dict()`` and ``active``)."""
        active = {leak.key for leak in self.active_leaks}
        return [{**leak.to_dict(), "active": leak.key in active} for leak in self.detected_leaks]

    def get_stats(self: _Profiler) -> dict[str, Any]:
        latest = self.latest_snapshot
        return {
            "running": self.running,
            "total_snapshots": self.total_snapshots,
            "history_length": len(self.history),
            "detected_leaks": len(self.detected_leaks),
            "active_leaks": len(self.active_leaks),
            "active_alerts": len(self.active_alerts),
            "tracked_types": self.tracked_types,
            "snapshot_interval": self.config.snapshot_interval,
            "tracemalloc_enabled": self.tracemalloc_tracing,
            "last_snapshot_time": latest.timestamp if latest else None,
            "last_snapshot_duration_ms": latest.duration_ms if latest else None,
            "callback_failures": self.callback_failures,
            "dropped_events": self.dropped_events,
        }
