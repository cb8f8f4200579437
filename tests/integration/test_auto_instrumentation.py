"""A real program under ``opentelemetry-instrument``: no code change, memory telemetry out."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory.otel.events import LEAK_EVENT
from opentelemetry_instrumentation_memory.otel.metrics import instrument_names

from .conftest import free_port
from .otlp_receiver import GrpcReceiver, HttpReceiver

APP = textwrap.dedent(
    """
    import os, time

    class Leaky:
        pass

    kept = []
    deadline = time.monotonic() + float(os.environ["APP_SECONDS"])
    while time.monotonic() < deadline:
        kept.extend(Leaky() for _ in range(200))
        time.sleep(0.05)
    """
)

FAST = {
    "OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL": "0.1",
    "OTEL_PYTHON_MEMORY_CENSUS_BUDGET": "1",  # count at every snapshot, however short the interval
    "OTEL_PYTHON_MEMORY_LEAK_WINDOW": "16",
    "OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS": "12",
}


def opentelemetry_instrument():
    beside = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    return beside if os.path.exists(beside) else shutil.which("opentelemetry-instrument")


def launch(tmp_path, seconds, app=APP, **environment):
    script = tmp_path / "app.py"
    script.write_text(app)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(APP_SECONDS=str(seconds), OTEL_SERVICE_NAME="leaky-app", **FAST, **environment)
    return subprocess.Popen(
        [opentelemetry_instrument(), sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_prometheus_reader_serves_the_memory_metrics(tmp_path):
    port = free_port()
    app = launch(
        tmp_path,
        seconds=20,
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    try:
        deadline = time.monotonic() + 15
        text = ""
        while time.monotonic() < deadline and "fogcompute_memory_object_count" not in text:
            time.sleep(0.2)
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
        assert app.poll() is None, app.communicate()[1]
        exposed = {
            sample.name for family in text_string_to_metric_families(text) for sample in family.samples
        }
        expected = {
            name + "_total" if name.endswith(("gc_collections", "leak_detections", "snapshots")) else name
            for name in instrument_names()
        }
        assert expected <= exposed
    finally:
        app.kill()
        app.communicate()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_carries_metrics_and_the_leak_event(tmp_path, protocol):
    receiver = (GrpcReceiver() if protocol == "grpc" else HttpReceiver()).start()
    try:
        app = launch(
            tmp_path,
            seconds=4,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="otlp",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRIC_EXPORT_INTERVAL="500",
        )
        _, stderr = app.communicate(timeout=60)
        assert app.returncode == 0, stderr
        assert set(instrument_names()) <= set(receiver.received.metric_names())
        assert {"service.name": "leaky-app"}.items() <= receiver.received.resources()[0].items()
        leaks = [
            {kv.key: kv.value.string_value for kv in record.attributes}
            for record in receiver.received.log_records()
            if record.event_name == LEAK_EVENT
        ]
        # A type leak, or the list holding the objects reported as its leak of them.
        named = {leak["fogcompute.memory.object_type"] for leak in leaks}
        named |= {leak.get("fogcompute.memory.leak.entry_type") for leak in leaks}
        assert "__main__.Leaky" in named, leaks
        assert receiver.received.traces  # the detection spans went out too
    finally:
        receiver.stop()


def test_disabled_instrumentations_leave_it_off(tmp_path):
    receiver = GrpcReceiver().start()
    try:
        app = launch(
            tmp_path,
            seconds=1.5,
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="memory",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="none",
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRIC_EXPORT_INTERVAL="300",
        )
        _, stderr = app.communicate(timeout=60)
        assert app.returncode == 0, stderr
        assert not [name for name in receiver.received.metric_names() if name.startswith("fogcompute_memory")]
    finally:
        receiver.stop()


def test_opentelemetry_instrument_help_lists_the_variables():
    result = subprocess.run(
        [opentelemetry_instrument(), "--help"], capture_output=True, text=True, check=True
    )
    for flag in ("--memory_snapshot_interval", "--memory_top_objects_count", "--memory_prometheus_port"):
        assert flag in result.stdout


def test_a_bad_host_in_the_environment_never_stops_auto_instrumentation(tmp_path):
    """The SDK's Prometheus reader and the package's endpoint, each on its own variables, with a
    host name that encoding rejects: a warning, and both serve, the SDK's reader the main process,
    the package's endpoint its forked worker (the main process is not served twice)."""
    sdk_port, memory_port = free_port(), free_port()
    app = launch(
        tmp_path,
        seconds=15,  # both processes must outlive a slow start under load
        app="import os\nos.fork()\n" + APP,
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(sdk_port),
        OTEL_PYTHON_MEMORY_PROMETHEUS_HOST="ünï..",
        OTEL_PYTHON_MEMORY_PROMETHEUS_PORT=str(memory_port),
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    try:
        served = {}
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and len(served) < 2 and app.poll() is None:
            time.sleep(0.2)
            for port in {sdk_port, memory_port} - set(served):
                try:
                    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
                except OSError:
                    continue
                families = {f.name: f for f in text_string_to_metric_families(text.decode())}
                if "fogcompute_memory_heap_used_mb" in families:
                    served[port] = families["target_info"].samples[0].labels
        assert set(served) == {sdk_port, memory_port}
        assert int(served[memory_port]["process_parent_pid"]) == app.pid
        assert served[memory_port]["service_instance_id"] != served[sdk_port]["service_instance_id"]
    finally:
        app.kill()
        _, stderr = app.communicate()
    assert "Failed to auto initialize" not in stderr
    assert "OTEL_PYTHON_MEMORY_PROMETHEUS_HOST='ünï..' is not an IP address or a host name" in stderr
