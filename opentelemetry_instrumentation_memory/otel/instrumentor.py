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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    settings_from_environment,
)
from ..core.profiler import MemoryProfiler, get_memory_profiler
from ..core.validation import require_host, require_int, require_number
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
from . import SCOPE, processes
from .events import TelemetryEventSink
from .metrics import MemoryMetrics, metrics_for
from .semconv import SCHEMA_URL, require_semconv, semconv_from_environment
from .spans import MemorySpanProcessor

if TYPE_CHECKING:
    from .exporter import MemoryExporter

_logger = logging.getLogger(__name__)
DEFAULT_STOP_TIMEOUT = 5.0


@dataclass
class _Installation:
    profiler: MemoryProfiler
    metrics: MemoryMetrics
    sink: TelemetryEventSink
    exporter: MemoryExporter | None
    spans: MemorySpanProcessor | None
    reset_signal: signal.Signals | None
    handed_off: dict[str, str | None] = field(default_factory=dict)  # environment to restore


class MemoryInstrumentor(BaseInstrumentor):
    """Starts profiling this process and reports through OpenTelemetry.

    ``instrument(meter_provider=None, tracer_provider=None, logger_provider=None, **options)``: the
    providers default to the global ones. Options: ``MemoryProfiler`` settings, which take
    precedence over the ``OTEL_PYTHON_MEMORY_*`` variables; ``prometheus_port``,
    ``prometheus_host`` and ``prometheus_port_span`` for an endpoint of the memory metrics' own;
    ``span_memory=True`` for ``MemorySpanProcessor``; ``semconv="process,cpython"`` (or a list) for
    the semantic-convention instruments as well, which takes precedence over ``OTEL_PYTHON_MEMORY_SEMCONV``.
    ``uninstrument(timeout=5.0)`` returns within ``timeout`` seconds.

    From the environment, workers of pre-fork and spawning servers each get that endpoint on a port
    of their own (see ``processes``): by default when the SDK's Prometheus reader serves this process.
    In multiprocessing's resource tracker, which inherits auto-instrumentation but runs none of the
    program's code, ``instrument()`` starts nothing.
    """

    _installation: _Installation | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        if processes.resource_tracker():
            _logger.debug("multiprocessing's resource tracker (pid %d) is not profiled", os.getpid())
            return
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
        explicit_span = kwargs.pop("prometheus_port_span", None)
        if explicit_span is not None:
            explicit_span = require_int("prometheus_port_span", explicit_span, 1, processes.MAX_PORT_SPAN)
        host = kwargs.pop("prometheus_host", None)
        if host is not None:
            host = require_host("prometheus_host", host)
        if explicit_port is not None:
            if host is None:
                host = host_from_environment(
                    os.environ, OTEL_PYTHON_MEMORY_PROMETHEUS_HOST, processes.DEFAULT_HOST
                )
            plan: processes.EndpointPlan | None = processes.EndpointPlan(
                host, explicit_port, explicit_span or 1, here=True
            )
        else:
            plan = processes.endpoint_plan(host, explicit_span, os.environ)
        # Defaults, then the environment, then keywords: each instrument() is complete in itself.
        settings = {**ProfilerConfig().to_dict(), **settings_from_environment(os.environ), **kwargs}

        profiler = get_memory_profiler()
        profiler.configure(**settings)
        profiler.reset()
        metrics = metrics_for(meter_provider, __version__)
        sink = TelemetryEventSink(
            trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL),
            _logs.get_logger(SCOPE, __version__, logger_provider=logger_provider, schema_url=SCHEMA_URL),
        )
        exporter = self._start_exporter(profiler, plan, semconv, explicit=explicit_port is not None)
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
        handed_off = (
            processes.hand_off(plan, os.environ) if processes.role(os.environ) == processes.MAIN else {}
        )
        MemoryInstrumentor._installation = _Installation(
            profiler, metrics, sink, exporter, spans, reset_signal, handed_off
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
        processes.restore(installation.handed_off, os.environ)
        try:
            if installation.exporter is not None:
                installation.exporter.close(max(deadline - time.monotonic(), 0.0))
        finally:
            installation.profiler.stop(max(deadline - time.monotonic(), 0.0))

    @staticmethod
    def _start_exporter(
        profiler: MemoryProfiler,
        plan: processes.EndpointPlan | None,
        semconv: frozenset[str],
        explicit: bool,
    ) -> MemoryExporter | None:
        """The dedicated endpoint, if asked for: serving here, or in forked children only. A busy
        port is an error when the port was passed in code, and a warning when it came from the
        environment, so auto-instrumentation never stops the host program."""
        if plan is None:
            return None
        from .exporter import MemoryExporter  # prometheus_client loads only for an endpoint

        exporter = MemoryExporter(
            plan.host, plan.port, profiler=profiler, port_span=plan.span, semconv=semconv
        )
        if not plan.here:
            exporter.serve_in_forked_children()
            return exporter
        try:
            exporter.serve()
        except OSError as error:
            if explicit:
                raise
            _logger.warning(
                "memory metrics endpoint not started: %s; set %s (and %s) to free ports",
                error,
                OTEL_PYTHON_MEMORY_PROMETHEUS_PORT,
                OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN,
            )
            return None
        if plan.port and exporter.port != plan.port and processes.role(os.environ) == processes.MAIN:
            _logger.warning(
                "memory metrics endpoint: port %d is busy, serving on %d instead (%s)",
                plan.port,
                exporter.port,
                OTEL_PYTHON_MEMORY_PROMETHEUS_PORT,
            )
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
