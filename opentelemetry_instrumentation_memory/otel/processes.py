"""One identity per process, and an endpoint per worker, under pre-fork and spawning servers.

gunicorn, uWSGI and Celery instrument their master, then fork the workers; uvicorn ``--workers`` and
``multiprocessing`` with ``spawn`` start workers that auto-instrument afresh. Two things go wrong by
default: the SDK's Prometheus reader (``OTEL_METRICS_EXPORTER=prometheus``) serves only the process
that bound its port (forked workers inherit the socket, nobody accepts on it for them; spawned ones
fail to bind it, and the SDK's whole set-up fails with it); and a process's identity must be the
one its providers use after a fork.

So a process that instruments itself as the main one leaves its children a hand-off in the
environment: its pid (whoever sees another pid there is a worker), and when the SDK's reader
serves it, the port range of the package's own endpoint for workers, with the SDK's reader taken
out of the children's ``OTEL_METRICS_EXPORTER`` (the parent holds its port). Forked children read
the same plan from the parent's exporter (see ``MemoryExporter.serve_in_forked_children``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_PROMETHEUS_HOST,
    OTEL_EXPORTER_PROMETHEUS_PORT,
)
from opentelemetry.sdk.resources import Resource, ServiceInstanceIdResourceDetector

from ..core.config import host_from_environment, port_from_environment
from ..environment_variables import (
    OTEL_PYTHON_MEMORY_PROMETHEUS_HOST,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PORT,
    OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN,
)

_logger = logging.getLogger(__name__)

ROLE = "fogcompute.memory.process.role"
MAIN = "main"
WORKER = "worker"
# Set by the main process for its children; not a setting.
PARENT_PID = "OTEL_PYTHON_MEMORY_PARENT_PID"
DEFAULT_PORT_SPAN = 16
MAX_PORT_SPAN = 1024
SDK_DEFAULT_PORT = 9464  # the SDK reader's own default, per the specification
SDK_DEFAULT_HOST = "localhost"
DEFAULT_HOST = "localhost"  # the package's own endpoint's
_PROMETHEUS = "prometheus"
_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
_RESOURCE_TRACKER = "from multiprocessing.resource_tracker import main"


def role(environ: Mapping[str, str] = os.environ) -> str:
    """``worker`` in a process forked or started by an instrumented main process, else ``main``."""
    parent = environ.get(PARENT_PID, "")
    return WORKER if parent and parent != str(os.getpid()) else MAIN


def identity(base: Resource, base_pid: int, environ: Mapping[str, str] = os.environ) -> Resource:
    """``base`` (made in process ``base_pid``) describing this process: its pid, parent pid and role,
    and, in a forked child, the ``service.instance.id`` the SDK gives the child's providers (the same
    detector, keyed by pid), so that metrics, log records and span events agree."""
    attributes: dict[str, object] = {
        "process.pid": os.getpid(),
        "process.parent_pid": os.getppid(),
        ROLE: role(environ),
    }
    if os.getpid() != base_pid:
        attributes.update(ServiceInstanceIdResourceDetector().detect().attributes)
    return base.merge(Resource(attributes))  # type: ignore[arg-type]


def sdk_reader_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``opentelemetry-instrument`` set up the SDK's Prometheus reader in this process."""
    return _PROMETHEUS in _exporters(environ)


@dataclass(frozen=True)
class EndpointPlan:
    """Where the package's endpoint serves: ``here`` in this process, and in its forked children
    (each on the first free port of ``port`` .. ``port + span - 1``)."""

    host: str
    port: int
    span: int
    here: bool

    @property
    def ports(self) -> str:
        return f"{self.port}-{self.port + self.span - 1}" if self.span > 1 else str(self.port)


def endpoint_plan(host: str | None, span: int | None, environ: Mapping[str, str]) -> EndpointPlan | None:
    """The endpoint the environment asks for, or None.

    With the SDK's Prometheus reader serving this process, the package's endpoint serves its workers
    only (the process would otherwise be served twice), from ``OTEL_PYTHON_MEMORY_PROMETHEUS_PORT``
    or else the port after the SDK's (the SDK's port is read for that only: the range starts past
    it). Otherwise it serves here if that variable is set. The host is always the package's
    ``OTEL_PYTHON_MEMORY_PROMETHEUS_HOST`` (default ``localhost``), never the SDK reader's: an
    operator who opens the SDK's port to the network has not opened every worker's.
    """
    if _multiprocessing_helper():
        return None
    port = port_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_PORT, None)
    if span is None:
        span = _span_from_environment(environ)
    if sdk_reader_configured(environ):
        if port is None:
            sdk_port = port_from_environment(environ, OTEL_EXPORTER_PROMETHEUS_PORT, SDK_DEFAULT_PORT)
            port = min((sdk_port or SDK_DEFAULT_PORT) + 1, 65535)
        if host is None:
            host = host_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_HOST, SDK_DEFAULT_HOST)
            _say_the_sdk_host_is_not_read(environ, host)
        return EndpointPlan(host, port, span, here=False)
    if port is None:
        return None
    if host is None:
        host = host_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_HOST, SDK_DEFAULT_HOST)
    return EndpointPlan(host, port, span, here=True)


def _say_the_sdk_host_is_not_read(environ: Mapping[str, str], host: str) -> None:
    """The SDK reader's host set to something beyond loopback: its workers' endpoints used to bind
    it too; say where they bind now, and which variable moves them."""
    sdk_host = environ.get(OTEL_EXPORTER_PROMETHEUS_HOST, "").strip()
    if environ.get(OTEL_PYTHON_MEMORY_PROMETHEUS_HOST, "").strip():
        return  # the operator chose the workers' host
    if not sdk_host or sdk_host == host or sdk_host == "localhost":
        return
    try:
        if ipaddress.ip_address(sdk_host).is_loopback:
            return
    except ValueError:
        pass
    _logger.warning(
        "%s=%s is the SDK Prometheus reader's; the workers' memory metrics endpoints bind %s "
        "(%s, default localhost): set that to be scraped from elsewhere",
        OTEL_EXPORTER_PROMETHEUS_HOST,
        sdk_host[:80],
        host,
        OTEL_PYTHON_MEMORY_PROMETHEUS_HOST,
    )


def hand_off(plan: EndpointPlan | None, environ: MutableMapping[str, str]) -> dict[str, str | None]:
    """Leaves this main process's children what they need to serve themselves; returns the previous
    values, for ``restore``."""
    changes: dict[str, str] = {PARENT_PID: str(os.getpid())}
    if plan is not None and not plan.here:
        others = [name for name in _exporters(environ) if name != _PROMETHEUS]
        changes[OTEL_METRICS_EXPORTER] = ",".join(others) or "none"
        changes[OTEL_PYTHON_MEMORY_PROMETHEUS_PORT] = str(plan.port)
        changes[OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN] = str(plan.span)
        changes[OTEL_PYTHON_MEMORY_PROMETHEUS_HOST] = plan.host
    previous = {name: environ.get(name) for name in changes}
    environ.update(changes)
    return previous


def restore(previous: Mapping[str, str | None], environ: MutableMapping[str, str]) -> None:
    for name, value in previous.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def resource_tracker(argv: Sequence[str] = sys.orig_argv) -> bool:
    """Whether this interpreter is multiprocessing's resource tracker, started as ``python [flags]
    -c "from multiprocessing.resource_tracker import main;main(FD)"`` by the first process of a
    program (uvicorn's supervisor, a spawning pool) to use a semaphore or shared memory. It inherits
    the environment, and with it the auto-instrumentation, but runs none of the program's code and
    lives as long as the program: the profiler's thread, memory and log records there are waste
    (its log export failed on the tracker's closed files)."""
    command = list(argv)
    return any(
        flag == "-c" and code.lstrip().startswith(_RESOURCE_TRACKER)
        for flag, code in zip(command, command[1:])
    )


def _multiprocessing_helper() -> bool:
    """multiprocessing's resource tracker and fork server: interpreters that inherit the
    auto-instrumentation with the environment, but run none of the service's work."""
    command = " ".join(sys.orig_argv)
    return any(helper in command for helper in _HELPERS)


def _span_from_environment(environ: Mapping[str, str]) -> int:
    span = port_from_environment(environ, OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN, DEFAULT_PORT_SPAN)
    if span is None or not 1 <= span <= MAX_PORT_SPAN:
        _logger.warning(
            "%s=%s is not between 1 and %d; using the default %d",
            OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN,
            span,
            MAX_PORT_SPAN,
            DEFAULT_PORT_SPAN,
        )
        return DEFAULT_PORT_SPAN
    return span


def _exporters(environ: Mapping[str, str]) -> list:
    return [name.strip() for name in environ.get(OTEL_METRICS_EXPORTER, "").split(",") if name.strip()]
