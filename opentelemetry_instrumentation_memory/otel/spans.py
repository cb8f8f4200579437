"""``MemorySpanProcessor``: which requests grow memory? Each span's change in resident memory.

Only the span processor's public hooks are used. In ``on_start`` the span is writable: the
processor reads the process's resident memory (one ``pread`` of /proc/self/statm, a few
microseconds; psutil elsewhere), and sets it as ``fogcompute.memory.rss_start_mb`` (with
tracemalloc's traced memory as ``fogcompute.memory.traced_start_mb`` when tracemalloc runs). In
``on_end`` the span is read-only, so the change over the span is not a span attribute: it is
recorded in the ``fogcompute_memory_span_rss_delta_mb`` histogram by span name. The names are
bounded: the first ``max_span_names`` get their own series, the rest share ``other``, and each is cut
to ``bounds.MAX_VALUE`` characters (a span name is the host's text, of any length). Concurrent
requests share one process, so a span's delta includes what other threads allocated meanwhile:
read it over many spans, by name, not for one.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections import OrderedDict

from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from ..core.records import MB
from ..core.sampling import fork
from ..core.sampling.resident import ProcessMemory
from ..version import __version__
from . import SCOPE
from .bounds import bounded
from .semconv import SCHEMA_URL

RSS_START_ATTRIBUTE = "fogcompute.memory.rss_start_mb"
TRACED_START_ATTRIBUTE = "fogcompute.memory.traced_start_mb"
OTHER_SPANS = "other"
DELTA_BOUNDARIES = (-64.0, -16.0, -4.0, -1.0, -0.25, 0.0, 0.25, 1.0, 4.0, 16.0, 64.0, 256.0)
_MAX_OPEN_SPANS = 10_000  # spans started and never ended must not pile up

_SpanKey = tuple[int, int]  # (trace_id, span_id): on_end gets a readable copy, not the started span


def _key(span: ReadableSpan) -> _SpanKey | None:
    context = span.context
    return None if context is None else (context.trace_id, context.span_id)


class MemorySpanProcessor(SpanProcessor):
    def __init__(self, meter_provider: MeterProvider | None = None, max_span_names: int = 50) -> None:
        meter = get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
        self._histogram = meter.create_histogram(
            "fogcompute_memory_span_rss_delta_mb",
            unit="{MiB}",
            description="Change in resident memory over each span, by span name",
            explicit_bucket_boundaries_advisory=list(DELTA_BOUNDARIES),
        )
        self._max_span_names = max_span_names
        self._names: set[str] = set()
        self._open: OrderedDict[_SpanKey, int] = OrderedDict()
        self._lock = threading.Lock()
        self._memory = ProcessMemory()
        self.enabled = True
        fork.register(self, restarts_threads=False)

    def after_fork_in_child(self) -> None:
        """A fork may have caught another thread holding the lock."""
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        key = _key(span)
        if not self.enabled or key is None:
            return
        rss = self._memory.resident()
        span.set_attribute(RSS_START_ATTRIBUTE, rss / MB)
        if tracemalloc.is_tracing():
            span.set_attribute(TRACED_START_ATTRIBUTE, tracemalloc.get_traced_memory()[0] / MB)
        with self._lock:
            self._open[key] = rss
            if len(self._open) > _MAX_OPEN_SPANS:
                self._open.popitem(last=False)

    def on_end(self, span: ReadableSpan) -> None:
        key = _key(span)
        if key is None:
            return
        with self._lock:
            started = self._open.pop(key, None)
        if started is None or not self.enabled:
            return
        self._histogram.record(
            (self._memory.resident() - started) / MB, {"span_name": self._bounded(span.name)}
        )

    def _bounded(self, name: str) -> str:
        if name in self._names:  # holds bounded names only, and bounding a bounded name changes nothing
            return name
        name = bounded(name)
        with self._lock:
            if name in self._names or len(self._names) < self._max_span_names:
                self._names.add(name)
                return name
        return OTHER_SPANS

    def shutdown(self) -> None:
        self.enabled = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
