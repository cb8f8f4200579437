import socket
import subprocess

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_instrumentation_memory import ALERT_RULES, MemoryInstrumentor, get_memory_profiler

from ..unit.running import IMMEDIATE_ALERTS


def self_signed(directory, name: str, server: bool = True):
    """A self-signed certificate and key made by openssl: (certificate path, key path)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    extra = ["-addext", "subjectAltName=IP:127.0.0.1"] if server else []
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key)]
    command += ["-out", str(cert), "-days", "1", "-subj", f"/CN={name}", *extra]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Telemetry:
    """In-memory OpenTelemetry providers, and what they received."""

    def __init__(self):
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.logs = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))

    def providers(self):
        return dict(
            meter_provider=self.meter_provider,
            tracer_provider=self.tracer_provider,
            logger_provider=self.logger_provider,
        )

    def metric_points(self):
        """{metric name: [(attributes, value), ...]} from one collection."""
        points = {}
        data = self.metric_reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points[metric.name] = [
                        (dict(p.attributes), p.value if hasattr(p, "value") else p.count)
                        for p in metric.data.data_points
                    ]
        return points


@pytest.fixture
def telemetry():
    yield Telemetry()


@pytest.fixture
def instrumentor():
    instance = MemoryInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    get_memory_profiler().alert_rules = ALERT_RULES


@pytest.fixture
def immediate_alerts():
    """The process-wide profiler's alerts fire at the first snapshot their condition holds (no
    durations), for tests of what follows a firing; the shipped definitions come back after."""
    get_memory_profiler().alert_rules = IMMEDIATE_ALERTS
    yield
    get_memory_profiler().alert_rules = ALERT_RULES
