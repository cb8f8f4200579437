"""The active leaks in Prometheus: one series per leak, labelled with what it is and where it grows.

``fogcompute_memory_leak_growth_per_hour`` (objects, or entries for a container) and
``fogcompute_memory_leak_retained_mb`` carry ``kind``, ``leak`` (the type, or the container's owner
path), ``object_type``, ``severity``, ``owner`` (the dominant holder, or the container) and ``site``
(the top allocation site, ``file:line``), each cut to ``bounds.MAX_VALUE`` characters. Only active
leaks are reported, at most ``MAX_LEAKS`` of them (the fastest by bytes), and the SDK forgets the
sets no longer reported, so the series follow the leaks without piling up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from ..core.profiler import MemoryProfiler
from ..core.records import Leak
from .bounds import bounded, with_tail
from .retention import forget_unreported

__all__ = ["MAX_LEAKS", "LeakMetrics", "leak_labels"]

MAX_LEAKS = 20
PREFIX = "fogcompute_memory_"

Callback = Callable[[CallbackOptions], Iterable[Observation]]


def leak_labels(leak: Leak) -> dict[str, str]:
    owner = leak.container or (leak.retained_by[0][0] if leak.retained_by else "")
    site = with_tail(leak.sites[0].file, f":{leak.sites[0].line}") if leak.sites else ""
    return {
        "kind": bounded(leak.kind),
        "leak": bounded(leak.key),
        "object_type": bounded(leak.object_type),
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

    @staticmethod
    def _leaks(profiler: MemoryProfiler) -> list[Leak]:
        leaks = sorted(profiler.active_leaks, key=lambda leak: -leak.retained_bytes_per_hour)
        return leaks[:MAX_LEAKS]

    def _report(
        self, instrument: object, profiler: MemoryProfiler, value: Callable[[Leak], float]
    ) -> list[Observation]:
        observations = [Observation(value(leak), leak_labels(leak)) for leak in self._leaks(profiler)]
        reported = [dict(observation.attributes or {}) for observation in observations]
        forget_unreported(instrument, lambda attributes: dict(attributes) in reported)
        return observations

    def _growth_per_hour(self, profiler: MemoryProfiler) -> list[Observation]:
        return self._report(self._growth, profiler, lambda leak: leak.growth_rate_per_hour)

    def _retained_mb(self, profiler: MemoryProfiler) -> list[Observation]:
        return self._report(self._retained, profiler, lambda leak: leak.retained_bytes / 2**20)
