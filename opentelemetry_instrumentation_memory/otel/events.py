"""Leak and alert events as OpenTelemetry log records and span events.

Detection runs on the profiler's thread, where no span is current, so each snapshot that brings
events gets a short span of its own (``fogcompute.memory.detection``): its span events show the
detections in traces, and the log records emitted inside it carry its trace and span ids, which
links each log record to its span. Log records go through the Logs API (``Logger.emit`` with an
``event_name``), so they export over OTLP with whatever logger provider the host set up. Each record
carries the time of its event as ``timestamp`` and ``observed_timestamp`` (nanoseconds since the
epoch): the alert's own time, the leak's latest detection, not the moment the callback thread got to it.

Type names, owner paths and site files are the host's text, of any length: every string attribute
is cut to ``bounds.MAX_VALUE`` characters, every list to ``bounds.MAX_ITEMS`` items and the body
to ``bounds.MAX_BODY`` characters (otel/bounds.py).
"""

from __future__ import annotations

from dataclasses import replace

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from ..core.records import FIRING, Alert, AllocationSite, DetectionEvents, Leak
from .bounds import MAX_BODY, bounded, bounded_items, with_tail

LEAK_EVENT = "fogcompute.memory.leak_detected"
ALERT_EVENT = "fogcompute.memory.alert"
DETECTION_SPAN = "fogcompute.memory.detection"

_LEAK_SEVERITY = {
    "low": SeverityNumber.INFO,
    "medium": SeverityNumber.WARN,
    "high": SeverityNumber.ERROR,
    "critical": SeverityNumber.ERROR,
}
_ALERT_SEVERITY = {"warning": SeverityNumber.WARN, "critical": SeverityNumber.ERROR}

Attributes = dict[str, AttributeValue]


def leak_attributes(leak: Leak) -> Attributes:
    attributes: Attributes = {
        "fogcompute.memory.object_type": bounded(leak.object_type),
        "fogcompute.memory.leak.kind": bounded(leak.kind),
        "fogcompute.memory.leak.severity": bounded(leak.severity),
        "fogcompute.memory.leak.growth_count": leak.growth_count,
        "fogcompute.memory.leak.growth_percent": leak.growth_percent,
        "fogcompute.memory.leak.growth_rate_per_hour": leak.growth_rate_per_hour,
        "fogcompute.memory.leak.current_count": leak.current_count,
        "fogcompute.memory.leak.bytes_per_object": leak.bytes_per_object,
        "fogcompute.memory.leak.retained_bytes": leak.retained_bytes,
        "fogcompute.memory.leak.retained_bytes_per_hour": leak.retained_bytes_per_hour,
    }
    if leak.container:
        attributes["fogcompute.memory.leak.container"] = bounded(leak.container)
    if leak.entry_type:
        attributes["fogcompute.memory.leak.entry_type"] = bounded(leak.entry_type)
    if leak.outside_python:
        attributes["fogcompute.memory.leak.outside_python"] = True
    if leak.retained_by:
        attributes["fogcompute.memory.leak.retained_by"] = bounded_items(
            [with_tail(holder, f" ({share:.0%})") for holder, share in leak.retained_by]
        )
    if leak.sites:
        top = leak.sites[0]
        attributes["fogcompute.memory.leak.sites"] = bounded_items([_site(site) for site in leak.sites])
        attributes["fogcompute.memory.leak.top_site"] = with_tail(top.file, f":{top.line}")
        attributes["fogcompute.memory.leak.top_site.traceback"] = bounded_items(
            top.traceback, newest_last=True
        )
    return attributes


def _site(site: AllocationSite) -> str:
    """``str(site)`` with its file cut first, so the figures after it survive the cut."""
    figures = str(replace(site, file=""))
    return with_tail(site.file, figures)


def alert_attributes(alert: Alert) -> Attributes:
    return {
        "fogcompute.memory.alert.type": bounded(alert.type),
        "fogcompute.memory.alert.severity": bounded(alert.severity),
        "fogcompute.memory.alert.state": bounded(alert.state),
        "fogcompute.memory.alert.value": float(alert.value),
        "fogcompute.memory.alert.threshold": float(alert.threshold),
    }


def _leak_message(leak: Leak) -> str:
    """At most ``MAX_BODY`` characters, each name in it at most ``MAX_VALUE``."""
    if leak.kind == "container":
        of = f" of {bounded(leak.entry_type)}" if leak.entry_type else ""
        what = f"{bounded(leak.container)} ({bounded(leak.object_type)}{of})"
        what += f" grew by {leak.growth_count} entries"
    elif leak.kind == "unattributed":
        where = " outside Python's allocators (a C extension's or library's)" if leak.outside_python else ""
        what = f"resident memory grew by {leak.growth_count} KiB{where}, the leaks found hold under half"
    else:
        what = f"{bounded(leak.object_type)} grew by {leak.growth_count} objects"
    message = (
        f"memory leak: {what} ({leak.growth_rate_per_hour:.0f}/h, "
        f"about {leak.retained_bytes_per_hour / 1048576:.1f} MB/h), severity {leak.severity}"
    )
    if leak.retained_by:
        message += f"; held by {bounded(leak.retained_by[0][0])}"
    if leak.sites:
        message += f"; growing most at {_site(leak.sites[0])}"
    return bounded(message, MAX_BODY)


def _nanoseconds(seconds: float) -> int:
    """``time.time()`` seconds as the integer nanoseconds since the epoch OpenTelemetry expects."""
    return int(round(seconds * 1e9))


class TelemetryEventSink:
    """Turns each snapshot's ``DetectionEvents`` into one span with span events, and log records."""

    def __init__(self, tracer: Tracer, logger: Logger) -> None:
        self._tracer = tracer
        self._logger = logger

    def __call__(self, events: DetectionEvents) -> None:
        snapshot = events.snapshot
        span_attributes: Attributes = {
            "fogcompute.memory.heap_used_mb": snapshot.heap_used_mb,
            "fogcompute.memory.heap_percent": snapshot.heap_percent,
            "fogcompute.memory.usage_source": snapshot.usage_source,
            "fogcompute.memory.total_objects": snapshot.total_objects,
        }
        with self._tracer.start_as_current_span(
            DETECTION_SPAN, kind=SpanKind.INTERNAL, attributes=span_attributes
        ) as span:
            for leak in events.leaks:
                self._emit(
                    span,
                    LEAK_EVENT,
                    leak_attributes(leak),
                    _LEAK_SEVERITY[leak.severity],
                    _leak_message(leak),
                    leak.last_detected,
                )
            for alert in events.alerts:
                severity = _ALERT_SEVERITY[alert.severity] if alert.state == FIRING else SeverityNumber.INFO
                self._emit(
                    span,
                    ALERT_EVENT,
                    alert_attributes(alert),
                    severity,
                    bounded(alert.message, MAX_BODY),
                    alert.timestamp,
                )

    def _emit(
        self,
        span: Span,
        name: str,
        attributes: Attributes,
        severity: SeverityNumber,
        message: str,
        seconds: float,
    ) -> None:
        """``seconds``: when the event happened, as ``time.time()`` gives it."""
        span.add_event(name, attributes)
        nanoseconds = _nanoseconds(seconds)
        self._logger.emit(
            timestamp=nanoseconds,
            observed_timestamp=nanoseconds,
            event_name=name,
            severity_number=severity,
            severity_text=severity.name,
            body=message,
            attributes=attributes,
        )
