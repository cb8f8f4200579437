"""``MemorySpanProcessor``: which requests grow memory? Each span's change in resident memory.

On start it reads the process's resident memory (one ``pread`` of /proc/self/statm, a few
microseconds; psutil elsewhere) and tracemalloc's traced memory when tracemalloc runs; as the span
ends it sets the differences as span attributes and records them in a histogram by span name. The
names are bounded: the first ``max_span_names`` get their own series, the rest share ``other``.
Concurrent requests share one process, so a span's delta includes what other threads allocated
meanwhile: read it over many spans, by name, not for one.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from collections import OrderedDict
from typing import Optional, Tuple

import psutil
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from ..core.records import MB
from ..core.sampling import fork
from ..version import __version__

RSS_DELTA_ATTRIBUTE = "fogcompute.memory.rss_delta_mb"
TRACED_DELTA_ATTRIBUTE = "fogcompute.memory.traced_delta_mb"
OTHER_SPANS = "other"
DELTA_BOUNDARIES = (-64.0, -16.0, -4.0, -1.0, -0.25, 0.0, 0.25, 1.0, 4.0, 16.0, 64.0, 256.0)
_MAX_OPEN_SPANS = 10_000  # spans started and never ended must not pile up


class _ResidentMemory:
    """Resident bytes of the current process, re-opened after a fork."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._pid = -1
        self._fd: Optional[int] = None

    def read(self) -> int:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            try:
                self._fd = os.open("/proc/self/statm", os.O_RDONLY)
            except OSError:
                self._fd = None
        if self._fd is not None:
            try:
                return int(os.pread(self._fd, 64, 0).split()[1]) * self._page
            except (OSError, ValueError, IndexError):
                self._fd = None
        return psutil.Process().memory_info().rss


def _set_while_ending(span: Span, attributes: dict) -> None:
    """Set attributes in the OnEnding hook. The specification keeps the span writable there; SDKs up
    to at least 1.45 have already frozen its attributes, so they are written past the freeze, before
    the readable copy that exporters see is made."""
    if span.is_recording():
        span.set_attributes(attributes)
        return
    frozen = getattr(span, "_attributes", None)
    if frozen is None or not hasattr(frozen, "_immutable"):
        return
    frozen._immutable = False
    try:
        for key, value in attributes.items():
            frozen[key] = value
    finally:
        frozen._immutable = True


class MemorySpanProcessor(SpanProcessor):
    def __init__(self, meter_provider: Optional[MeterProvider] = None, max_span_names: int = 50) -> None:
        meter = get_meter(__name__.rpartition(".")[0], __version__, meter_provider)
        self._histogram = meter.create_histogram(
            "fogcompute_memory_span_rss_delta_mb",
            unit="{MiB}",
            description="Change in resident memory over each span, by span name",
            explicit_bucket_boundaries_advisory=list(DELTA_BOUNDARIES),
        )
        self._max_span_names = max_span_names
        self._names: "set[str]" = set()
        self._open: "OrderedDict[int, Tuple[int, int]]" = OrderedDict()
        self._lock = threading.Lock()
        self._rss = _ResidentMemory()
        self.enabled = True
        fork.register(self)

    def after_fork_in_child(self) -> None:
        """A fork may have caught another thread holding the lock."""
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        if not self.enabled:
            return
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else -1
        reading = (self._rss.read(), traced)
        with self._lock:
            self._open[id(span)] = reading
            if len(self._open) > _MAX_OPEN_SPANS:
                self._open.popitem(last=False)

    def _on_ending(self, span: Span) -> None:
        with self._lock:
            reading = self._open.pop(id(span), None)
        if reading is None:
            return
        rss_delta = (self._rss.read() - reading[0]) / MB
        attributes = {RSS_DELTA_ATTRIBUTE: rss_delta}
        if reading[1] >= 0 and tracemalloc.is_tracing():
            attributes[TRACED_DELTA_ATTRIBUTE] = (tracemalloc.get_traced_memory()[0] - reading[1]) / MB
        _set_while_ending(span, attributes)
        self._histogram.record(rss_delta, {"span_name": self._bounded(span.name)})

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:  # a span that never reached _on_ending (an older SDK) leaves no reading behind
            self._open.pop(id(span), None)

    def _bounded(self, name: str) -> str:
        if name in self._names:
            return name
        with self._lock:
            if len(self._names) < self._max_span_names:
                self._names.add(name)
                return name
        return OTHER_SPANS

    def shutdown(self) -> None:
        self.enabled = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
