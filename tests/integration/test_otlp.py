"""Metrics and event log records over OTLP, gRPC and HTTP/protobuf, into real receivers."""

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from opentelemetry_instrumentation_memory import get_memory_profiler
from opentelemetry_instrumentation_memory.otel.events import ALERT_EVENT
from opentelemetry_instrumentation_memory.otel.metrics import instrument_names

from .otlp_receiver import GrpcReceiver, HttpReceiver


@pytest.fixture(params=["grpc", "http/protobuf"])
def pipeline(request):
    receiver = (GrpcReceiver() if request.param == "grpc" else HttpReceiver()).start()
    if request.param == "grpc":
        metric_exporter = GrpcMetricExporter(endpoint=receiver.endpoint, insecure=True)
        log_exporter = GrpcLogExporter(endpoint=receiver.endpoint, insecure=True)
    else:
        metric_exporter = HttpMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics")
        log_exporter = HttpLogExporter(endpoint=f"{receiver.endpoint}/v1/logs")
    resource = Resource.create({"service.name": "checkout", "service.instance.id": "checkout-1"})
    meter_provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)],
        resource=resource,
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    yield (
        receiver,
        dict(
            meter_provider=meter_provider, logger_provider=logger_provider, tracer_provider=TracerProvider()
        ),
    )
    meter_provider.shutdown()
    logger_provider.shutdown()
    receiver.stop()


def test_metrics_and_event_logs_arrive_over_otlp(pipeline, instrumentor, immediate_alerts):
    receiver, providers = pipeline
    instrumentor.instrument(snapshot_interval=3600.0, **providers)
    profiler = get_memory_profiler()
    profiler.heap_warning_percent = 0.0
    profiler.snapshot()
    assert profiler.flush_callbacks()
    assert providers["meter_provider"].force_flush(10_000)
    assert providers["logger_provider"].force_flush(10_000)

    names = receiver.received.metric_names()
    assert set(instrument_names()) <= set(names)
    assert names["fogcompute_memory_heap_used_mb"] == "{MiB}"
    assert names["fogcompute_memory_heap_percent"] == "%"
    assert {
        "service.name": "checkout",
        "service.instance.id": "checkout-1",
    }.items() <= receiver.received.resources()[0].items()

    alerts = [r for r in receiver.received.log_records() if r.event_name == ALERT_EVENT]
    assert len(alerts) == 1
    attributes = {kv.key: kv.value for kv in alerts[0].attributes}
    assert attributes["fogcompute.memory.alert.type"].string_value == "heap_warning"
    assert attributes["fogcompute.memory.alert.state"].string_value == "firing"
    assert alerts[0].severity_number == 13  # WARN
    assert len(alerts[0].trace_id) == 16 and any(alerts[0].trace_id)
