"""Faults injected for real: bad configuration, unreadable sources, a collector that is down or
hangs, scrapes during shutdown, repeated instrumentation, interpreter exit."""

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opentelemetry_instrumentation_memory import (
    MemoryExporter,
    MemoryInstrumentor,
    MemoryProfiler,
    get_memory_profiler,
)
from opentelemetry_instrumentation_memory.core.config import field_names
from opentelemetry_instrumentation_memory.core.sampling.resident import ProcessMemory
from opentelemetry_instrumentation_memory.core.settings import ENVIRONMENT_PREFIX
from opentelemetry_instrumentation_memory.otel.bounds import bounded

from .conftest import free_port, self_signed

VARIABLES = [ENVIRONMENT_PREFIX + name.upper() for name in field_names()] + [
    "OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN",
    "OTEL_PYTHON_MEMORY_PROMETHEUS_HOST",
    "OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL",
]
junk = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["nan", "inf", "-inf", "-1", "0", "1e309", "true", "TRUE", "yes", " 5 ", "0x10", "1_000"]
    ),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True).map(str),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(environment=st.dictionaries(st.sampled_from(VARIABLES), junk, max_size=6))
def test_no_environment_makes_instrument_raise(environment, monkeypatch, telemetry):
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value.replace("\x00", ""))
    instrumentor = MemoryInstrumentor()
    try:
        instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
        assert get_memory_profiler().running
    finally:
        instrumentor.uninstrument()


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(field_names()),
    value=st.one_of(st.text(max_size=5), st.floats(), st.integers(), st.none()),
)
def test_programmatic_misuse_is_a_value_error_naming_the_argument(name, value):
    try:
        MemoryProfiler(**{name: value})
    except ValueError as error:
        assert name in str(error)


def test_type_names_reach_log_records_intact(instrumentor, telemetry):
    name = 'we"ird\\na\nme {ünï} ' + "x" * 300
    Awkward = type(name, (), {})
    instrumentor.instrument(
        snapshot_interval=3600.0, leak_window=16, leak_min_snapshots=12, **telemetry.providers()
    )
    profiler = get_memory_profiler()
    crowd = []
    for _ in range(16):
        crowd.extend(Awkward() for _ in range(200))
        profiler.snapshot()
    profiler.flush_callbacks()
    types = {
        record.log_record.attributes.get("fogcompute.memory.object_type")
        for record in telemetry.logs.get_finished_logs()
    }
    assert bounded(f"{__name__}.{name}") in types  # intact up to the cap of otel/bounds.py


def test_unreadable_process_memory_and_limit_degrade_and_are_reported_once(monkeypatch, caplog):
    def denied(self):
        raise psutil.AccessDenied(os.getpid())

    monkeypatch.setattr(psutil.Process, "memory_info", denied)
    # No /proc/self/statm either (a platform without /proc): psutil is asked, and is denied.
    monkeypatch.setattr(ProcessMemory, "STATM", "/nonexistent/statm")

    def no_limit():
        raise PermissionError("/sys/fs/cgroup/memory.max")

    profiler = MemoryProfiler(limit_reader=no_limit)
    with caplog.at_level(logging.WARNING):
        snapshots = [profiler.snapshot() for _ in range(3)]
    assert all(s.rss_mb > 0 and s.heap_size_mb > 0 and s.limit_source == "physical" for s in snapshots)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert any("psutil" in w for w in warnings) and any("memory limit" in w for w in warnings)


def test_exporter_serves_only_metrics_on_localhost_by_default(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_PROMETHEUS_HOST", raising=False)
    assert MemoryExporter().host == "localhost"
    profiler = MemoryProfiler()
    profiler.snapshot()
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    exporter.serve()  # started twice: still one server
    try:
        base = exporter.url.rsplit("/", 1)[0]
        for path in ("/", "/metrics/../admin", "/favicon.ico", "/debug"):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(base + path, timeout=5)
            assert error.value.code == 404
        assert b"fogcompute_memory_heap_used_mb" in urllib.request.urlopen(exporter.url, timeout=5).read()
    finally:
        exporter.close()


def test_stopping_while_scrapes_are_in_flight():
    profiler = MemoryProfiler()
    profiler.snapshot()
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler)
    exporter.serve()
    url = exporter.url
    outcomes = []

    def scrape():
        for _ in range(50):
            try:
                outcomes.append(len(urllib.request.urlopen(url, timeout=5).read()) > 0)
            except OSError:
                outcomes.append(None)  # refused once closed: the scraper's problem, not the host's

    scrapers = [threading.Thread(target=scrape) for _ in range(4)]
    for thread in scrapers:
        thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    exporter.close()
    assert time.monotonic() - started < 5
    for thread in scrapers:
        thread.join(10)
    assert True in outcomes and not any(t.is_alive() for t in scrapers)


def test_a_silent_tls_client_does_not_block_scrapes(tmp_path):
    cert, key = self_signed(tmp_path, "127.0.0.1")
    import ssl

    profiler = MemoryProfiler()
    profiler.snapshot()
    exporter = MemoryExporter(
        host="127.0.0.1", port=0, profiler=profiler, certfile=str(cert), keyfile=str(key)
    )
    exporter.serve()
    try:
        silent = socket.create_connection(("127.0.0.1", exporter.port))  # connects, never handshakes
        context = ssl.create_default_context(cafile=str(cert))
        started = time.monotonic()
        assert b"fogcompute_memory" in urllib.request.urlopen(exporter.url, timeout=5, context=context).read()
        assert time.monotonic() - started < 2
        silent.close()
    finally:
        exporter.close()


def test_client_certificates_are_required_when_asked(tmp_path):
    import ssl

    server_cert, server_key = self_signed(tmp_path, "server")
    client_cert, client_key = self_signed(tmp_path, "client", server=False)
    profiler = MemoryProfiler()
    profiler.snapshot()
    exporter = MemoryExporter(
        host="127.0.0.1",
        port=0,
        profiler=profiler,
        certfile=str(server_cert),
        keyfile=str(server_key),
        client_cafile=str(client_cert),
        client_auth_required=True,
    )
    exporter.serve()
    try:
        anonymous = ssl.create_default_context(cafile=str(server_cert))
        with pytest.raises(OSError):
            urllib.request.urlopen(exporter.url, timeout=5, context=anonymous).read()
        known = ssl.create_default_context(cafile=str(server_cert))
        known.load_cert_chain(str(client_cert), str(client_key))
        assert b"fogcompute_memory" in urllib.request.urlopen(exporter.url, timeout=5, context=known).read()
    finally:
        exporter.close()


def test_repeated_instrumentation_leaks_no_thread_socket_or_sink(telemetry):
    process = psutil.Process()
    MemoryInstrumentor().instrument(
        snapshot_interval=0.01, prometheus_port=0, prometheus_host="127.0.0.1", **telemetry.providers()
    )
    MemoryInstrumentor().uninstrument()
    fds, threads = process.num_fds(), threading.active_count()
    for _ in range(25):
        MemoryInstrumentor().instrument(
            snapshot_interval=0.01, prometheus_port=0, prometheus_host="127.0.0.1", **telemetry.providers()
        )
        time.sleep(0.01)
        MemoryInstrumentor().uninstrument()
    assert process.num_fds() <= fds
    assert threading.active_count() <= threads
    assert get_memory_profiler()._dispatcher._callbacks.get("detection", []) == []


def test_interpreter_exit_while_the_loop_runs_is_clean():
    script = (
        "from opentelemetry_instrumentation_memory import MemoryInstrumentor\n"
        "MemoryInstrumentor().instrument(snapshot_interval=0.01, census_budget=1.0)\n"
        "x = [object() for _ in range(100000)]\n"
    )
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stderr == "", result.stderr


class _HangingServer:
    """Accepts connections and never answers: a collector that hangs."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.connections = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                self.connections.append(self.socket.accept()[0])
            except OSError:
                return

    def close(self):
        self.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept, so the port is released
        self.socket.close()
        self._thread.join(5)
        for connection in self.connections:
            connection.close()


@pytest.mark.parametrize("failure", ["refused", "hanging"])
def test_a_collector_down_or_hanging_never_blocks_the_host_and_export_resumes(
    failure, instrumentor, immediate_alerts
):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from .otlp_receiver import HttpReceiver

    hanging = _HangingServer() if failure == "hanging" else None
    port = hanging.port if hanging else free_port()
    endpoint = f"http://127.0.0.1:{port}"
    meter_provider = MeterProvider(
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=1), export_interval_millis=200
            )
        ]
    )
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", timeout=1), schedule_delay_millis=200
        )
    )
    instrumentor.instrument(
        snapshot_interval=0.05,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        tracer_provider=TracerProvider(),
    )
    profiler = get_memory_profiler()
    try:
        slowest = 0.0
        for _ in range(40):  # the host's own calls stay fast while every export fails
            started = time.monotonic()
            profiler.heap_warning_percent = 0.0 if profiler.heap_warning_percent else 80.0
            profiler.snapshot(census=False)
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        assert slowest < 0.5
        rss_down = psutil.Process().memory_info().rss
        if hanging:
            hanging.close()
        receiver = HttpReceiver(port).start()  # the collector comes back
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (
                receiver.received.metric_names() and receiver.received.log_records()
            ):  # alerts keep firing and resolving: records the exporter gave up on are not awaited
                profiler.heap_warning_percent = 0.0 if profiler.heap_warning_percent else 80.0
                profiler.snapshot()
                time.sleep(0.1)
            assert "fogcompute_memory_heap_used_mb" in receiver.received.metric_names()
            assert receiver.received.log_records()
        finally:
            receiver.stop()
        assert psutil.Process().memory_info().rss < rss_down + (64 << 20)
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()
        logger_provider.shutdown()


def _until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def _fill_the_callback_queue(profiler):
    """Real alerts, each firing and resolving: more events than the 1000-event queue holds."""
    dropped = profiler.get_stats()["dropped_events"]
    while profiler.get_stats()["dropped_events"] == dropped:
        profiler.heap_warning_percent = 0.0
        profiler.snapshot(census=False)
        profiler.heap_warning_percent = 80.0
        profiler.snapshot(census=False)  # it resolves


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("stopped_by", ["profiler.stop", "instrumentor.uninstrument"])
def test_stop_returns_within_its_timeout_with_a_stuck_callback_and_a_full_queue(
    stopped_by, instrumentor, telemetry, immediate_alerts
):
    port = free_port()
    instrumentor.instrument(
        snapshot_interval=3600.0, prometheus_port=port, prometheus_host="127.0.0.1", **telemetry.providers()
    )
    profiler = get_memory_profiler()
    release, entered = threading.Event(), threading.Event()

    def webhook_without_timeout(alert):
        entered.set()
        release.wait(60)

    profiler.register_alert_callback(webhook_without_timeout)
    stopper = (
        (lambda: profiler.stop(timeout=2))
        if stopped_by == "profiler.stop"
        else (lambda: instrumentor.uninstrument(timeout=2))
    )
    try:
        _fill_the_callback_queue(profiler)
        assert entered.wait(5)
        thread = threading.Thread(target=stopper, daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(10)  # bounded even when stopping hangs
        assert not thread.is_alive() and time.monotonic() - started < 3.0
        assert not profiler.running
        if stopped_by == "instrumentor.uninstrument":
            assert _refused(port)
    finally:
        release.set()
        profiler.unregister_callback(webhook_without_timeout)


def test_uninstrument_from_a_callback_closes_the_endpoint_and_the_port_can_be_reused(
    instrumentor, telemetry, immediate_alerts
):
    port = free_port()
    options = dict(snapshot_interval=3600.0, prometheus_port=port, prometheus_host="127.0.0.1")
    instrumentor.instrument(**options, **telemetry.providers())
    profiler = get_memory_profiler()
    loop_thread = next(t for t in threading.enumerate() if t.name == "otel-memory-profiler")
    outcome = {}

    def tear_down_on_alert(alert):
        outcome["thread"] = threading.current_thread()
        try:
            MemoryInstrumentor().uninstrument()
        except Exception as error:  # noqa: BLE001 - the test reports whatever escaped
            outcome["error"] = error
        outcome["done"] = True

    profiler.register_alert_callback(tear_down_on_alert)
    try:
        profiler.heap_warning_percent = 0.0
        profiler.snapshot(census=False)  # the alert fires; its callback tears everything down
        assert _until(lambda: outcome.get("done"))
        assert "error" not in outcome, outcome.get("error")
        assert outcome["thread"].name == "otel-memory-callbacks"
        assert _refused(port)
        assert _until(lambda: not outcome["thread"].is_alive() and not loop_thread.is_alive())
        assert not instrumentor.is_instrumented_by_opentelemetry
    finally:
        profiler.unregister_callback(tear_down_on_alert)
    instrumentor.instrument(**options, **telemetry.providers())  # the same port again
    scrape = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    assert b"fogcompute_memory" in scrape


def test_the_package_adds_nothing_to_interpreter_exit_whatever_its_threads_do():
    """Its threads are daemons and it registers no exit handler: a stuck callback over a full queue,
    a running loop and an endpoint with an idle client connected cost the exit nothing. (A collector
    that never answers delays exit by the SDK's own export timeouts: docs/OPERATIONS.md.)"""
    script = (
        "import socket, threading, time\n"
        "from dataclasses import replace\n"
        "from opentelemetry_instrumentation_memory import ALERT_RULES, MemoryInstrumentor\n"
        "from opentelemetry_instrumentation_memory import get_memory_profiler\n"
        "MemoryInstrumentor().instrument(snapshot_interval=0.01, prometheus_port=0,"
        " prometheus_host='127.0.0.1')\n"
        "profiler = get_memory_profiler()\n"
        "profiler.alert_rules = [replace(rule, for_seconds=0.0) for rule in ALERT_RULES]\n"
        "idle = socket.create_connection(('127.0.0.1', MemoryInstrumentor._installation.exporter.port))\n"
        "profiler.register_alert_callback(lambda alert: threading.Event().wait())\n"
        "while profiler.get_stats()['dropped_events'] == 0:\n"
        "    profiler.heap_warning_percent = 0.0\n"
        "    profiler.snapshot(census=False)\n"
        "    profiler.heap_warning_percent = 80.0\n"
        "    profiler.snapshot(census=False)\n"
        "print(time.monotonic(), flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    exited = time.monotonic()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert exited - float(result.stdout.split()[-1]) < 2.0
