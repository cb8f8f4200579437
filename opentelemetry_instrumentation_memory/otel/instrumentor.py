"""``MemoryInstrumentor``: the process-wide profiler, its instruments and its events, on and off.

``BaseInstrumentor`` is a singleton whose ``__init__`` would run on every construction, so this
class defines none: what ``instrument()`` sets up lives in one ``_Installation`` that
``uninstrument()`` takes down completely.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,  # its module opts out of type checking with a file-wide "type: ignore"
)
from opentelemetry.metrics import MeterProvider, get_meter_provider

from ..core.baseline_signal import install_baseline_reset_signal, uninstall_baseline_reset_signal
from ..core.config import (
    ProfilerConfig,
    flag_from_environment,
    host_from_environment,
    port_from_environment,
    settings_from_environment,
)
from ..core.profiler import MemoryProfiler, get_memory_profiler
from ..core.validation import require_host, require_number
from ..environment_variables import (
    OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL,
    OTEL_PYTHON_MEMORY_PROMETHEUS_HOST,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PORT,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN,
    OTEL_PYTHON_MEMORY_SEMCONV,
    OTEL_PYTHON_MEMORY_SPAN_PROCESSOR,
)
from ..package import _instruments
from ..version import __version__
from .events import TelemetryEventSink
from .exporter import DEFAULT_HOST, MemoryExporter
from .metrics import MemoryMetrics, metrics_for
from .semconv import SCHEMA_URL, require_semconv, semconv_from_environment
from .spans import MemorySpanProcessor

_logger = logging.getLogger(__name__)
_SCOPE = "opentelemetry_instrumentation_memory"
DEFAULT_STOP_TIMEOUT = 5.0


@dataclass
class _Installation:
    profiler: MemoryProfiler
    metrics: MemoryMetrics
    sink: TelemetryEventSink
    exporter: MemoryExporter | None
    spans: MemorySpanProcessor | None
    reset_signal: signal.Signals | None


class MemoryInstrumentor(BaseInstrumentor):
    """Starts profiling this process and reports through OpenTelemetry.

    ``instrument(meter_provider=None, tracer_provider=None, logger_provider=None, **options)``: the
    providers default to the global ones. Options: ``MemoryProfiler`` settings, which take
    precedence over the ``OTEL_PYTHON_MEMORY_*`` variables; ``prometheus_port``,
    ``prometheus_host`` and ``prometheus_port_span`` for an endpoint of the memory metrics' own;
    ``span_memory=True`` for ``MemorySpanProcessor``; ``semconv="process,cpython"`` (or a list) for
    the semantic-convention instruments as well, which takes precedence over ``OTEL_PYTHON_MEMORY_SEMCONV``.
    ``uninstrument(timeout=5.0)`` returns within ``timeout`` seconds.
    """

    _installation: _Installation | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        meter_provider = kwargs.pop("meter_provider", None) or get_meter_provider()
        tracer_provider = kwargs.pop("tracer_provider", None)
        logger_provider = kwargs.pop("logger_provider", None)
        span_memory = kwargs.pop("span_memory", None)
        if span_memory is None:
            span_memory = flag_from_environment(os.environ, OTEL_PYTHON_MEMORY_SPAN_PROCESSOR, False)
        semconv = kwargs.pop("semconv", None)
        if semconv is None:
            semconv = semconv_from_environment(os.environ, OTEL_PYTHON_MEMORY_SEMCONV)
        else:
            semconv = require_semconv("semconv", semconv)
        explicit_port = kwargs.pop("prometheus_port", None)
        port_span: int = kwargs.pop("prometheus_port_span", None) or (
            port_from_environment(os.environ, OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN, 1) or 1
        )
        host = kwargs.pop("prometheus_host", None)
        if host is None:
            host = host_from_environment(os.environ, OTEL_PYTHON_MEMORY_PROMETHEUS_HOST, DEFAULT_HOST)
        else:
            host = require_host("prometheus_host", host)
        # Defaults, then the environment, then keywords: each instrument() is complete in itself.
        settings = {**ProfilerConfig().to_dict(), **settings_from_environment(os.environ), **kwargs}

        profiler = get_memory_profiler()
        profiler.configure(**settings)
        profiler.reset()
        metrics = metrics_for(meter_provider, __version__)
        sink = TelemetryEventSink(
            trace.get_tracer(_SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL),
            _logs.get_logger(_SCOPE, __version__, logger_provider=logger_provider, schema_url=SCHEMA_URL),
        )
        exporter = self._start_exporter(profiler, host, explicit_port, port_span, semconv)
        spans = (
            _span_processor(tracer_provider or trace.get_tracer_provider(), meter_provider)
            if span_memory
            else None
        )
        metrics.attach(profiler, semconv)
        profiler.add_event_sink(sink)
        reset_signal = install_baseline_reset_signal(
            profiler, os.environ, OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL
        )
        profiler.start()
        MemoryInstrumentor._installation = _Installation(
            profiler, metrics, sink, exporter, spans, reset_signal
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        """Takes everything down within ``timeout`` seconds (5 by default), whatever the callbacks
        do and from any thread, the package's own included: called from a callback, the endpoint
        is closed at once and the callback's thread ends once the callback returns. The endpoint
        closes first (in half a second at most): a stuck callback then costs only what is left."""
        timeout = require_number("timeout", kwargs.pop("timeout", DEFAULT_STOP_TIMEOUT), 0.0)
        deadline = time.monotonic() + timeout
        installation, MemoryInstrumentor._installation = MemoryInstrumentor._installation, None
        if installation is None:
            return
        installation.metrics.detach()
        installation.profiler.unregister_callback(installation.sink)
        if installation.spans is not None:
            installation.spans.enabled = False
        if installation.reset_signal is not None:
            uninstall_baseline_reset_signal(installation.reset_signal)
        try:
            if installation.exporter is not None:
                installation.exporter.close(max(deadline - time.monotonic(), 0.0))
        finally:
            installation.profiler.stop(max(deadline - time.monotonic(), 0.0))

    @staticmethod
    def _start_exporter(
        profiler: MemoryProfiler,
        host: str,
        explicit_port: int | None,
        port_span: int,
        semconv: frozenset[str],
    ) -> MemoryExporter | None:
        """The dedicated endpoint, if asked for. A busy port is an error when the port was passed in
        code, and a warning when it came from the environment, so auto-instrumentation never stops
        the host program."""
        port = explicit_port
        if port is None:
            port = port_from_environment(os.environ, OTEL_PYTHON_MEMORY_PROMETHEUS_PORT, None)
            if port is None:
                return None
        exporter = MemoryExporter(host, port, profiler=profiler, port_span=port_span, semconv=semconv)
        try:
            exporter.serve()
        except OSError as error:
            if explicit_port is not None:
                raise
            _logger.warning("memory metrics endpoint not started: %s", error)
            return None
        return exporter


_span_processors: weakref.WeakKeyDictionary[object, MemorySpanProcessor] = weakref.WeakKeyDictionary()


def _span_processor(tracer_provider: object, meter_provider: MeterProvider) -> MemorySpanProcessor | None:
    """The provider's ``MemorySpanProcessor``, added once and re-enabled on later instrumentation."""
    add = getattr(tracer_provider, "add_span_processor", None)
    if add is None:
        _logger.warning("span memory needs an SDK TracerProvider; %r has none", tracer_provider)
        return None
    processor = _span_processors.get(tracer_provider)
    if processor is None:
        processor = _span_processors[tracer_provider] = MemorySpanProcessor(meter_provider)
        add(processor)
    processor.enabled = True
    return processor
