"""The HTTP(S) server behind ``MemoryExporter``: prometheus_client's WSGI app, on /metrics only
(and, opted into, the JSON summary at /memory.json and the page at /memory: otel/summary.py,
otel/page.py; the live sampled heap as pprof at /debug/pprof/heap: core/diagnosis/pprof.py).

prometheus_client's own ``start_http_server`` answers every path, does the TLS handshake on the
thread that accepts connections, and gives every connection a thread for as long as the client
likes. Here other paths get 404, and the endpoint's share of the host is bounded whatever clients
do: at most ``max_connections`` connections (and threads) at once; each connection has an overall
deadline, from its acceptance to the end of its response, handshake included; when full, the oldest
connection still sending its request is cut for a newcomer, so that scrapes get through slow
clients; ``accept()`` failing for want of descriptors backs off instead of spinning; a request's
header fields are capped in total bytes and in number (431 beyond, without reading the rest). Client
errors are counted and logged at debug level, at most once a minute, never printed on the host's
stderr.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Mapping, Optional, Tuple
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

from ..core.dispatch import RateLimitedLog
from ..core.validation import require_int, require_number

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

_logger = logging.getLogger(__name__)
_rate_limited = RateLimitedLog(_logger)

METRICS_PATH = "/metrics"
LISTEN_BACKLOG = 128
POLL_SECONDS = 0.5
_EVICTION_WAIT_SECONDS = 1.0
_ACCEPT_BACKOFF_SECONDS = (0.05, 1.0)
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
MAX_REQUEST_LINE = 65536
# After refusing a request whose head is too large: what is read and thrown away, at most, so that
# the client reads the answer instead of a reset (closing with unread data sends one).
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 256 * 1024
_END_OF_HEAD = (b"\r\n", b"\n", b"")


def binds_every_interface(address: str) -> bool:
    """Whether a socket bound to ``address`` (as ``getsockname()`` gives it) listens on every
    interface: ``0.0.0.0``, ``::``, or an IPv4-mapped ``::ffff:0.0.0.0``."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    return parsed.is_unspecified or (mapped is not None and mapped.is_unspecified)


def names_every_interface(host: str) -> bool:
    """Whether binding ``host`` listens on every interface without a name lookup: ``""`` and the
    numeric spellings the C library reads as the unspecified address (``0``, ``0x0``, ``0.0``,
    ``0.0.0.0``, ``::``...). A host name that resolves to it is caught once bound."""
    if host == "":
        return True
    try:
        found = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return False
    return any(binds_every_interface(str(sockaddr[0])) for *_, sockaddr in found)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one endpoint may hold: connections (each a thread and a descriptor) and their time."""

    max_connections: int = 16
    request_deadline_seconds: float = 10.0
    max_header_bytes: int = 16 * 1024  # all header lines of a request together, line ends included
    max_header_count: int = 64

    def __post_init__(self) -> None:
        require_int("max_connections", self.max_connections, 1, 10_000)
        require_number("request_deadline_seconds", self.request_deadline_seconds, 0.0, 3600.0, False)
        require_int("max_header_bytes", self.max_header_bytes, 256, 1 << 20)
        require_int("max_header_count", self.max_header_count, 1, 1000)


@dataclass(frozen=True)
class TLSOptions:
    """TLS for the endpoint; ``client_cafile`` asks for client certificates, which
    ``client_auth_required`` makes mandatory."""

    certfile: str
    keyfile: str
    client_cafile: Optional[str] = None
    client_auth_required: bool = False

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile)
        if self.client_cafile:
            context.load_verify_locations(cafile=self.client_cafile)
            context.verify_mode = ssl.CERT_REQUIRED if self.client_auth_required else ssl.CERT_OPTIONAL
        return context


WSGIApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Page:
    """A path served beside /metrics: its content type, what makes its body (on each request) and
    headers of its own."""

    content_type: str
    body: Callable[[], bytes]
    headers: Tuple[Tuple[str, str], ...] = ()


def _only_metrics(registry: CollectorRegistry, pages: Mapping[str, Page]) -> WSGIApp:
    """/metrics, and the opt-in ``pages`` by path."""
    metrics = make_wsgi_app(registry)

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        page = pages.get(environ.get("PATH_INFO", ""))
        if page is not None:
            body = page.body()
            start_response(
                "200 OK",
                [
                    ("Content-Type", page.content_type),
                    ("Cache-Control", "no-store"),
                    ("X-Content-Type-Options", "nosniff"),
                    *page.headers,
                ],
            )
            return [body]
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found: metrics are served at /metrics\n"]
        return metrics(environ, start_response)

    return app


@dataclass
class _Connection:
    deadline: float
    responding: bool = False
    cut: bool = False


class _ResponseHandler(ServerHandler):
    """wsgiref's handler, whose failures (a client gone mid-response, an application error) are
    counted and logged instead of printed on stderr."""

    request_handler: "_RequestHandler"

    def log_exception(self, exc_info: "OptExcInfo") -> None:
        if exc_info[1] is not None:
            self.request_handler.server.note_error(exc_info[1], self.request_handler.client_address)


class _RequestHandler(WSGIRequestHandler):
    """One request per connection, as wsgiref serves them, silent, with the connection's deadline
    as its socket timeout."""

    server: "MetricsServer"

    def setup(self) -> None:
        self.request.settimeout(self.server.limits.request_deadline_seconds)
        super().setup()

    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if len(self.raw_requestline) > MAX_REQUEST_LINE:
            self._refuse(414)
            return
        if not self.raw_requestline:
            return  # the client went away
        head = self._read_head()
        if head is None:
            self._refuse(431)
            return
        # http.server parses the header fields from rfile: give it the bounded copy read above.
        received, self.rfile = self.rfile, io.BytesIO(head)
        try:
            parsed = self.parse_request()
        finally:
            self.rfile = received
        if not parsed:
            return
        if not self.server.mark_responding(self.request):
            return
        # No error stream: log_exception, its only reader, is overridden (typeshed wants one).
        handler = _ResponseHandler(self.rfile, self.wfile, None, self.get_environ())  # type: ignore[arg-type]
        handler.request_handler = self
        handler.run(self.server.metrics_app)

    def _read_head(self) -> Optional[bytes]:
        """The header lines up to and including the empty one, or None as soon as they exceed the
        limits (never more than the byte limit and one buffer read)."""
        limits = self.server.limits
        lines = []
        total = 0
        while True:
            line = self.rfile.readline(limits.max_header_bytes - total + 1)
            total += len(line)
            if total > limits.max_header_bytes:
                return None
            lines.append(line)
            if line in _END_OF_HEAD:
                return b"".join(lines)
            if len(lines) > limits.max_header_count:
                return None

    def _refuse(self, code: int) -> None:
        """Answers ``code`` and closes; what the client still sends is read and thrown away for a
        moment (bounded in time and bytes), so that it reads the answer rather than a reset."""
        self.requestline = self.command = ""
        self.request_version = "HTTP/1.0"
        self.close_connection = True
        self.server.count("too_large")
        try:
            self.send_error(code)
            self.wfile.flush()
            self.request.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _LINGER_SECONDS
            drained = 0
            while drained < _LINGER_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.request.settimeout(remaining)
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Scrapes are not the host program's log lines."""


class MetricsServer(WSGIServer):
    """A WSGI server with a thread per connection, bounded (see the module's docstring)."""

    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: Tuple[str, int],
        app: WSGIApp,
        limits: ConnectionLimits,
        tls: Optional[TLSOptions] = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.limits = limits
        self._counts: "Counter[str]" = Counter()
        self._counts_lock = threading.Lock()
        self._connections: Dict[socket.socket, _Connection] = {}
        self._slots = threading.Condition()
        self._accept_backoff = _ACCEPT_BACKOFF_SECONDS[0]
        self.metrics_app = app
        super().__init__(address, _RequestHandler)
        if tls is not None:
            try:
                context = tls.context()
            except BaseException:
                self.server_close()
                raise
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def counts(self) -> Dict[str, int]:
        """Connections by outcome: accepted, refused, evicted, deadline, closed, too_large (a request
        line or header fields over the limits), client_errors, server_errors, accept_failures."""
        with self._counts_lock:
            return dict(self._counts)

    def count(self, outcome: str) -> None:
        with self._counts_lock:
            self._counts[outcome] += 1

    def get_request(self) -> Tuple[socket.socket, Any]:
        """``accept()``; when the process is out of descriptors or memory, waits before the next
        attempt (doubling up to a second) instead of spinning on a listening socket that stays
        readable."""
        try:
            accepted = super().get_request()
        except OSError as error:
            if error.errno in _OUT_OF_RESOURCES:
                self.count("accept_failures")
                _rate_limited.log(logging.WARNING, "accept", "metrics endpoint cannot accept: %s", error)
                time.sleep(self._accept_backoff)
                self._accept_backoff = min(2 * self._accept_backoff, _ACCEPT_BACKOFF_SECONDS[1])
            raise
        self._accept_backoff = _ACCEPT_BACKOFF_SECONDS[0]
        return accepted

    def process_request(self, request: Any, client_address: Any) -> None:
        """Runs the connection on a thread of its own if a slot is free, or can be freed by cutting
        the oldest connection still sending its request; otherwise closes it at once."""
        with self._slots:
            if len(self._connections) >= self.limits.max_connections:
                victim = self._cut_oldest_unfinished_request()
                if victim is None or not self._slots.wait_for(
                    lambda: len(self._connections) < self.limits.max_connections, _EVICTION_WAIT_SECONDS
                ):
                    self.count("refused")
                    self.shutdown_request(request)
                    return
            self._connections[request] = _Connection(time.monotonic() + self.limits.request_deadline_seconds)
        self.count("accepted")
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="otel-memory-metrics-connection",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError as error:  # the host is out of threads
            self.count("refused")
            _rate_limited.log(logging.WARNING, "thread", "metrics endpoint cannot start a thread: %s", error)
            self._release(request)

    def _cut_oldest_unfinished_request(self) -> Optional[socket.socket]:
        """Cuts the oldest connection that has not yet sent its whole request (the caller holds the
        slots' lock) and returns it, or None if every connection is being answered."""
        waiting = [(c.deadline, s) for s, c in self._connections.items() if not (c.responding or c.cut)]
        if not waiting:
            return None
        victim = min(waiting, key=lambda pair: pair[0])[1]
        self._cut(victim, "evicted")
        return victim

    def _cut(self, request: socket.socket, reason: str) -> None:
        """Ends a connection another thread serves: its blocked read or write returns at once, and
        that thread closes the socket. Never closes it here, where the descriptor could be reused."""
        self._connections[request].cut = True
        self.count(reason)
        try:
            socket.socket.shutdown(request, socket.SHUT_RDWR)
        except OSError:
            pass

    def mark_responding(self, request: socket.socket) -> bool:
        """The request is complete: from now on the connection is not cut for a newcomer."""
        with self._slots:
            connection = self._connections.get(request)
            if connection is None or connection.cut:
                return False
            connection.responding = True
            return True

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception as error:
            self.note_error(error, client_address)
        finally:
            self._release(request)

    def _release(self, request: socket.socket) -> None:
        self.shutdown_request(request)
        with self._slots:
            self._connections.pop(request, None)
            self._slots.notify_all()

    def service_actions(self) -> None:
        """Runs between accepts, at least every ``POLL_SECONDS``: cuts the connections past their
        deadline."""
        now = time.monotonic()
        with self._slots:
            for request in [s for s, c in self._connections.items() if now >= c.deadline and not c.cut]:
                self._cut(request, "deadline")

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver's would print a traceback on the host's stderr."""
        self.count("client_errors")
        _rate_limited.log(logging.DEBUG, "client", "metrics endpoint: error serving %s", client_address)

    def note_error(self, error: BaseException, client_address: Any) -> None:
        """A client that is slow, goes away or speaks no TLS is the client's problem: counted, and
        logged at debug level. An application error is the package's: a warning, with its traceback.
        Both at most once a minute."""
        if isinstance(error, OSError):
            self.count("client_errors")
            _rate_limited.log(
                logging.DEBUG, "client", "metrics endpoint: client %s: %r", client_address, error
            )
        else:
            self.count("server_errors")
            _rate_limited.log(
                logging.WARNING, "server", "metrics endpoint failed to answer a scrape", exc_info=error
            )

    def server_close(self) -> None:
        """Stops listening; connections still sending their request are cut, answers in flight
        finish within their deadline."""
        super().server_close()
        with self._slots:
            for request in [s for s, c in self._connections.items() if not (c.responding or c.cut)]:
                self._cut(request, "closed")


def serve_metrics(
    host: str,
    port: int,
    registry: CollectorRegistry,
    tls: Optional[TLSOptions] = None,
    limits: ConnectionLimits = ConnectionLimits(),
    pages: Optional[Mapping[str, Page]] = None,
) -> Tuple[MetricsServer, threading.Thread]:
    """Serve ``registry`` at ``/metrics`` (and the opt-in ``pages`` at their paths) on a daemon
    thread; returns the server and its thread."""
    server = MetricsServer((host, port), _only_metrics(registry, pages or {}), limits, tls)
    thread = threading.Thread(
        target=server.serve_forever, args=(POLL_SECONDS,), name="otel-memory-metrics-server", daemon=True
    )
    thread.start()
    return server, thread
