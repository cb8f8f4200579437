"""The HTTP(S) server behind ``MemoryExporter``: prometheus_client's WSGI app, on /metrics only.

prometheus_client's own ``start_http_server`` answers every path and does the TLS handshake on the
thread that accepts connections, so one client that never completes it stalls every scrape. Here
other paths get 404, the handshake happens on the connection's own thread, and a connection that
sends nothing is dropped after a timeout.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Iterable, Optional, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

METRICS_PATH = "/metrics"
CONNECTION_TIMEOUT_SECONDS = 10.0


class _QuietHandler(WSGIRequestHandler):
    timeout = CONNECTION_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Scrapes are not the host program's log lines."""


def _only_metrics(registry: CollectorRegistry):
    metrics = make_wsgi_app(registry)

    def app(environ: dict, start_response) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found: metrics are served at /metrics\n"]
        return metrics(environ, start_response)

    return app


def _tls_context(certfile: str, keyfile: str, client_cafile: Optional[str], client_auth_required: bool):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    if client_cafile:
        context.load_verify_locations(cafile=client_cafile)
        context.verify_mode = ssl.CERT_REQUIRED if client_auth_required else ssl.CERT_OPTIONAL
    return context


def serve_metrics(
    host: str,
    port: int,
    registry: CollectorRegistry,
    certfile: Optional[str] = None,
    keyfile: Optional[str] = None,
    client_cafile: Optional[str] = None,
    client_auth_required: bool = False,
) -> Tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` at ``/metrics`` on a daemon thread; returns the server and its thread."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingWSGIServer):
        address_family = family

    server = make_server(host, port, _only_metrics(registry), Server, handler_class=_QuietHandler)
    if certfile and keyfile:
        context = _tls_context(certfile, keyfile, client_cafile, client_auth_required)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, name="otel-memory-metrics-server", daemon=True)
    thread.start()
    return server, thread
