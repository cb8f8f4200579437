"""``MemoryExporter``: the memory metrics on a Prometheus endpoint of their own (port 9202).

It owns a meter provider with a ``PrometheusMetricReader`` bound to a dedicated registry (never
prometheus_client's global one), served by prometheus_client's WSGI app on /metrics only, with TLS
and client certificates as options. Its variables are the package's own
(``OTEL_PYTHON_MEMORY_PROMETHEUS_HOST`` / ``_PORT``): ``OTEL_EXPORTER_PROMETHEUS_HOST`` / ``_PORT``
belong to the SDK's Prometheus reader, which may serve in the same process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Dict, Iterable, Mapping, Optional, Tuple

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry

from ..core.config import flag_from_environment, host_from_environment, port_from_environment
from ..core.diagnosis.pprof import heap_pprof
from ..core.profiler import MemoryProfiler, get_memory_profiler
from ..core.sampling import fork
from ..core.validation import require_bool, require_host, require_int
from ..environment_variables import (
    OTEL_PYTHON_MEMORY_PROMETHEUS_HOST,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PORT,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PPROF,
    OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY,
    OTEL_PYTHON_MEMORY_SEMCONV,
)
from ..version import __version__
from . import discovery, processes
from .metrics import metrics_for
from .page import PAGE_PATH, page
from .semconv import require_semconv, semconv_from_environment
from .server import (
    MetricsServer,
    Page,
    TLSOptions,
    binds_every_interface,
    names_every_interface,
    serve_metrics,
)
from .summary import SUMMARY_PATH, summary_json

PPROF_PATH = "/debug/pprof/heap"  # where Go serves its heap profile, and pprof tools look

_logger = logging.getLogger(__name__)

DEFAULT_PORT = 9202
DEFAULT_HOST = processes.DEFAULT_HOST
_said_every_interface = False  # inherited by forked children: said once per family of processes


class MemoryExporter:
    """Serves ``/metrics`` for one profiler (the process-wide one unless another is set).

    ``host`` and ``port`` default to ``OTEL_PYTHON_MEMORY_PROMETHEUS_HOST`` / ``_PORT``, then to
    ``localhost:9202``; bind ``0.0.0.0`` to be scraped from outside a container. With
    ``port_span`` N, the first free port of ``port`` .. ``port + N - 1`` is used, so that the worker
    processes of one server each get one (a forked child of a serving exporter takes the next free
    one itself, and so does one of an exporter told to ``serve_in_forked_children``). Its
    ``target_info`` names the process: ``process.pid``, ``process.parent_pid``, its role (``main`` or
    ``worker``) and the ``service.instance.id`` its providers use; with
    ``OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR`` it announces itself there (see ``discovery``).
    ``certfile`` and ``keyfile`` turn on TLS; ``client_cafile`` with ``client_auth_required`` asks
    for client certificates. ``semconv`` names the semantic-convention groups served as well
    (otel/semconv.py; default ``OTEL_PYTHON_MEMORY_SEMCONV``). ``summary`` serves the JSON summary
    at ``/memory.json`` too, for the terminal report (otel/summary.py; default
    ``OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY``, off); ``page`` the page at ``/memory`` and the
    summary it reads (otel/page.py; default ``OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE``, off); ``pprof``
    the live sampled heap as a gzip'd pprof profile at ``/debug/pprof/heap`` (core/diagnosis/pprof.py;
    default ``OTEL_PYTHON_MEMORY_PROMETHEUS_PPROF``, off): its lines name the program's code.
    """

    def __init__(
        self,
        host: Optional[str] = None,
        port: Optional[int] = None,
        *,
        profiler: Optional[MemoryProfiler] = None,
        certfile: Optional[str] = None,
        keyfile: Optional[str] = None,
        client_cafile: Optional[str] = None,
        client_auth_required: bool = False,
        port_span: int = 1,
        semconv: Optional[Iterable[str]] = None,
        summary: Optional[bool] = None,
        page: Optional[bool] = None,
        pprof: Optional[bool] = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.pprof = (
            flag_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_PPROF, False)
            if pprof is None
            else require_bool("pprof", pprof)
        )
        self.page = (
            flag_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE, False)
            if page is None
            else require_bool("page", page)
        )
        self.summary = (
            flag_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY, False)
            if summary is None
            else require_bool("summary", summary)
        )
        self._semconv = (
            semconv_from_environment(environ, OTEL_PYTHON_MEMORY_SEMCONV)
            if semconv is None
            else require_semconv("semconv", semconv)
        )
        if host is None:
            self.host = host_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_HOST, DEFAULT_HOST)
        else:
            self.host = require_host("host", host)
        if port is None:
            port = port_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_PORT, DEFAULT_PORT)
        self.port: int = require_int("port", port, 0, 65535)
        self.base_port = self.port
        self.port_span = require_int("port_span", port_span, 1, 1024)
        if bool(certfile) != bool(keyfile):
            raise ValueError(
                f"certfile and keyfile go together, got certfile={certfile!r}, keyfile={keyfile!r}"
            )
        self._tls = (
            TLSOptions(certfile, keyfile, client_cafile, client_auth_required)
            if certfile and keyfile
            else None
        )
        self._profiler = profiler
        self._sd_directory = discovery.directory(environ)
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._serving: Optional[Tuple[MetricsServer, threading.Thread, MeterProvider]] = None
        self._resource: Optional[Resource] = None
        self._resource_pid = os.getpid()
        self._serve_children = False
        self._settled = threading.Event()  # set once serve() has bound a port or failed
        fork.register(self)

    def serve_in_forked_children(self) -> None:
        """Serve in every child forked from now on (until ``close()``), though not in this process:
        for a main process whose own figures go out another way, such as the SDK's Prometheus
        reader."""
        with self._lock:
            if self._resource is None:
                self._resource, self._resource_pid = Resource.create(), os.getpid()
            self._serve_children = True
        if names_every_interface(self.host):
            _say_every_interface(self.host)

    def after_fork_in_child(self) -> None:
        """The listening socket belongs to the parent: close the child's copy, and serve anew on
        another port of the span, on a thread (the child must not wait for it here)."""
        self._lock = threading.Lock()
        self._settled = threading.Event()
        serving, self._serving = self._serving, None
        if serving is not None:
            serving[0].socket.close()
        if serving is None and not self._serve_children:
            return
        self.port = self.base_port
        self._serve_children = False
        threading.Thread(target=self._serve_in_child, name="otel-memory-metrics-server", daemon=True).start()

    def _serve_in_child(self) -> None:
        try:
            self.serve()
        except OSError as error:
            _logger.warning(
                "the memory metrics of this worker (pid %d) are not served: %s; set %s (or "
                "prometheus_port_span in code) to more than the number of worker processes (now %d)",
                os.getpid(),
                error,
                OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN,
                self.port_span,
            )
        finally:
            self._settled.set()

    def wait_until_serving(self, timeout: float) -> bool:
        """Whether it serves, after waiting up to ``timeout`` seconds for a forked child's endpoint
        to bind its port (``port`` is the bound one from then on)."""
        self._settled.wait(timeout)
        return self.running

    def set_memory_profiler(self, profiler: MemoryProfiler) -> None:
        self._profiler = profiler

    @property
    def running(self) -> bool:
        return self._serving is not None

    def connection_counts(self) -> Dict[str, int]:
        """The endpoint's connections by outcome (accepted, refused, evicted, deadline,
        client_errors, ...), since it started serving; empty when not serving."""
        serving = self._serving
        return serving[0].counts() if serving is not None else {}

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}/metrics"

    def serve(self) -> None:
        """Start serving on a daemon thread; a no-op when already serving.

        A port already in use raises ``OSError`` naming the host and port.
        """
        with self._lock:
            if self._serving is not None:
                return
            self.registry = CollectorRegistry()
            reader = PrometheusMetricReader(registry=self.registry, scope_info_enabled=False)
            if self._resource is None:
                self._resource, self._resource_pid = Resource.create(), os.getpid()
            resource = processes.identity(self._resource, self._resource_pid)
            provider = MeterProvider(metric_readers=[reader], resource=resource)
            metrics_for(provider, __version__).attach(self._profiler or get_memory_profiler(), self._semconv)
            try:
                server, thread = self._bind_first_free_port()
            except OSError:
                provider.shutdown()
                raise
            self.port = server.server_port
            self._serving = (server, thread, provider)
            self._settled.set()
        every_interface = binds_every_interface(str(server.server_address[0]))
        if every_interface:
            _say_every_interface(self.host)
        if self._sd_directory is not None:
            discovery.announce(
                self._sd_directory, self.host, self.port, {"role": processes.role()}, every_interface
            )

    def _bind_first_free_port(self) -> Tuple[MetricsServer, threading.Thread]:
        last = min(self.base_port + self.port_span - 1, 65535) if self.base_port else 0
        port = self.base_port
        profiler = self._profiler or get_memory_profiler()
        pages: Dict[str, Page] = {}
        if self.summary or self.page:
            pages[SUMMARY_PATH] = Page("application/json", lambda: summary_json(profiler))
        if self.page:
            pages[PAGE_PATH] = page()
        if self.pprof:
            pages[PPROF_PATH] = Page("application/octet-stream", lambda: _heap_pprof(profiler))
        while True:
            try:
                return serve_metrics(self.host, port, self.registry, self._tls, pages=pages)
            except OSError as error:
                if port >= last:
                    ports = f"{self.base_port}-{last}" if last != self.base_port else str(port)
                    raise OSError(
                        error.errno, f"cannot serve /metrics on {self.host}:{ports}: {error.strerror}"
                    ) from error
                port += 1

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving; a scrape in flight completes first."""
        with self._lock:
            serving, self._serving = self._serving, None
            self._serve_children = False
        if serving is None:
            return
        discovery.withdraw()
        server, thread, provider = serving
        server.shutdown()
        server.server_close()
        thread.join(timeout)
        provider.shutdown()

    async def start(self) -> None:
        self.serve()

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)


def _say_every_interface(host: str) -> None:
    """Once per process (and not again in its forked children, nor in workers, whose main process
    said it): the endpoint is reachable from every network the host is on."""
    global _said_every_interface
    if _said_every_interface or processes.role() == processes.WORKER:
        return
    _said_every_interface = True
    _logger.warning(
        "the memory metrics endpoint binds every interface (%s=%r, or host= in code): it is "
        "reachable from every network this host is on; set it to one interface's address, or to "
        "localhost, unless that is meant",
        OTEL_PYTHON_MEMORY_PROMETHEUS_HOST,
        host,
    )


_process_exporter: Optional[MemoryExporter] = None
_process_exporter_lock = threading.Lock()


def _renew_process_exporter_lock() -> None:
    global _process_exporter_lock
    _process_exporter_lock = threading.Lock()


fork.register_function(_renew_process_exporter_lock)


def get_memory_exporter() -> MemoryExporter:
    """The process-wide exporter, created on first call with the defaults above."""
    global _process_exporter
    with _process_exporter_lock:
        if _process_exporter is None:
            _process_exporter = MemoryExporter()
        return _process_exporter


def _heap_pprof(profiler: MemoryProfiler) -> bytes:
    """The live sampled heap (empty while heap sampling is off or not built)."""
    rows = profiler.heap_profile.sampler.live() if profiler.heap_sampling_active else []
    return heap_pprof(rows, profiler.config.heap_sampling_interval)
