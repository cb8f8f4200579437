"""Real OTLP receivers for the tests: a gRPC server and an HTTP/protobuf endpoint, built on the
``opentelemetry-proto`` service definitions, that decode and keep what the real exporters send."""

from __future__ import annotations

import gzip
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Received:
    """Everything received, decoded, by signal."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metrics: List[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.logs: List[logs_service_pb2.ExportLogsServiceRequest] = []
        self.traces: List[trace_service_pb2.ExportTraceServiceRequest] = []

    def metric_names(self) -> Dict[str, str]:
        """{metric name: unit}."""
        with self.lock:
            return {
                metric.name: metric.unit
                for request in self.metrics
                for resource in request.resource_metrics
                for scope in resource.scope_metrics
                for metric in scope.metrics
            }

    def schema_urls(self) -> Dict[str, str]:
        """{metric name: its scope's schema URL}."""
        with self.lock:
            return {
                metric.name: scope.schema_url
                for request in self.metrics
                for resource in request.resource_metrics
                for scope in resource.scope_metrics
                for metric in scope.metrics
            }

    def log_records(self) -> list:
        with self.lock:
            return [
                record
                for request in self.logs
                for resource in request.resource_logs
                for scope in resource.scope_logs
                for record in scope.log_records
            ]

    def resources(self) -> List[dict]:
        with self.lock:
            return [
                {kv.key: kv.value.string_value for kv in resource.resource.attributes}
                for request in self.metrics
                for resource in request.resource_metrics
            ]


class GrpcReceiver(
    metrics_service_pb2_grpc.MetricsServiceServicer,
    logs_service_pb2_grpc.LogsServiceServicer,
    trace_service_pb2_grpc.TraceServiceServicer,
):
    def __init__(self) -> None:
        self.received = Received()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(self, self._server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> "GrpcReceiver":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def Export(self, request, context):  # noqa: N802 - the generated service's method name
        with self.received.lock:
            if isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
                self.received.metrics.append(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()
            if isinstance(request, logs_service_pb2.ExportLogsServiceRequest):
                self.received.logs.append(request)
                return logs_service_pb2.ExportLogsServiceResponse()
            self.received.traces.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()


_HTTP_PATHS = {
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest, "metrics"),
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest, "logs"),
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, "traces"),
}


class HttpReceiver:
    def __init__(self, port: int = 0) -> None:
        self.received = received = Received()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's method name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message, signal = _HTTP_PATHS.get(self.path, (None, None))
                if message is None or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                with received.lock:
                    getattr(received, signal).append(message.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "HttpReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
