"""The active leaks in Prometheus: one series per leak and figure, one info series saying what it is.

``fogcompute_memory_leak_growth_per_hour`` (objects, or entries for a container) and
``fogcompute_memory_leak_retained_mb`` carry only the leak's identity, ``kind`` and ``leak`` (the
type, or the container's owner path): they stay one series for the leak's life, while what is
learnt of it changes. ``fogcompute_memory_leak_info`` (always 1) carries that identity and
``object_type``, ``entry_type`` (a container's leaking entry type), ``severity``, ``owner`` (the
dominant holder, or the container) and ``site`` (the top allocation site, ``file:line``); join it on
``kind, leak``. Each value is cut to ``bounds.MAX_VALUE`` characters. Only active leaks are
reported, at most ``MAX_LEAKS`` of them (the fastest by bytes), and the SDK forgets the sets no
longer reported, so the series follow the leaks without piling up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from ..core.profiler import MemoryProfiler
from ..core.records import Leak
from .bounds import bounded, with_tail
from .retention import forget_unreported

__all__ = ["MAX_LEAKS", "LeakMetrics", "leak_identity", "leak_labels"]

MAX_LEAKS = 20
PREFIX = "fogcompute_memory_"

Callback = Callable[[CallbackOptions], Iterable[Observation]]


# The site of growth Python's allocators did not make: no line will come.
OUTSIDE_PYTHON = "outside Python's allocators"


def leak_identity(leak: Leak) -> dict[str, str]:
    return {"kind": bounded(leak.kind), "leak": bounded(leak.key)}


def leak_labels(leak: Leak) -> dict[str, str]:
    """The info series' labels: the identity and what is known of the leak now."""
    owner = leak.container or (leak.retained_by[0][0] if leak.retained_by else "")
    site = with_tail(leak.sites[0].file, f":{leak.sites[0].line}") if leak.sites else ""
    if leak.outside_python:
        site = OUTSIDE_PYTHON
    return {
        **leak_identity(leak),
        "object_type": bounded(leak.object_type),
        "entry_type": bounded(leak.entry_type),
        "severity": bounded(leak.severity),
        "owner": bounded(owner),
        "site": bounded(site),
    }


class LeakMetrics:
    """The two per-leak gauges on one meter; ``callback`` wraps a reader of the attached profiler."""

    def __init__(
        self, meter: Meter, callback: Callable[[Callable[[MemoryProfiler], Iterable[Observation]]], Callback]
    ) -> None:
        self._growth = meter.create_observable_gauge(
            PREFIX + "leak_growth_per_hour",
            callbacks=[callback(self._growth_per_hour)],
            unit="{object}",
            description="Growth per hour of each active leak: its type's objects, or its container's entries",
        )
        self._retained = meter.create_observable_gauge(
            PREFIX + "leak_retained_mb",
            callbacks=[callback(self._retained_mb)],
            unit="{MiB}",
            description="Estimated memory held by each active leak's objects or entries",
        )
        self._info = meter.create_observable_gauge(
            PREFIX + "leak_info",
            callbacks=[callback(self._what)],
            description="Always 1: what each active leak is (types, owner, severity, line), by kind, leak",
        )

    @staticmethod
    def _leaks(profiler: MemoryProfiler) -> list[Leak]:
        leaks = sorted(profiler.active_leaks, key=lambda leak: -leak.retained_bytes_per_hour)
        return leaks[:MAX_LEAKS]

    def _report(
        self,
        instrument: object,
        profiler: MemoryProfiler,
        value: Callable[[Leak], float],
        labels: Callable[[Leak], dict[str, str]] = leak_identity,
    ) -> list[Observation]:
        observations = [Observation(value(leak), labels(leak)) for leak in self._leaks(profiler)]
        reported = [dict(observation.attributes or {}) for observation in observations]
        forget_unreported(instrument, lambda attributes: dict(attributes) in reported)
        return observations

    def _growth_per_hour(self, profiler: MemoryProfiler) -> list[Observation]:
        return self._report(self._growth, profiler, lambda leak: leak.growth_rate_per_hour)

    def _retained_mb(self, profiler: MemoryProfiler) -> list[Observation]:
        return self._report(self._retained, profiler, lambda leak: leak.retained_bytes / 2**20)

    def _what(self, profiler: MemoryProfiler) -> list[Observation]:
        return self._report(self._info, profiler, lambda leak: 1.0, leak_labels)
