"""Real forks: the child describes itself, the parent is unaffected, nothing deadlocks."""

import faulthandler
import json
import mmap
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory import MemoryProfiler, get_memory_profiler

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def in_child(work, timeout=20):
    """Run ``work()`` in a forked child; return what it returned (JSON), or fail on a hang."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.alarm(timeout)  # a deadlocked child dies instead of hanging the suite
        try:
            os.write(write, json.dumps(work()).encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ended with status {status}"
    return json.loads(b"".join(chunks) or b"null")


def test_the_child_runs_its_own_loop_describing_itself():
    profiler = MemoryProfiler(snapshot_interval=0.05, census_budget=1.0)
    profiler.start()
    try:
        time.sleep(0.3)
        parent_snapshots = profiler.total_snapshots

        def child():
            ballast = bytearray(96 << 20)
            ballast[::4096] = b"x" * len(ballast[::4096])
            touched = time.time()
            time.sleep(0.5)
            # A snapshot taken after the ballast: under load the child's first census may take longer.
            deadline = time.monotonic() + 10
            while profiler.latest_snapshot.timestamp <= touched and time.monotonic() < deadline:
                time.sleep(0.05)
            snapshot = profiler.latest_snapshot
            return {
                "running": profiler.running,
                "snapshots": profiler.total_snapshots,
                "rss_mb": snapshot.rss_mb,
                "pid": os.getpid(),
                "handle_pid": profiler._taker.process().pid,
            }

        result = in_child(child)
        assert result["running"]
        assert result["handle_pid"] == result["pid"] != os.getpid()
        assert 3 <= result["snapshots"] < parent_snapshots + 20  # its own history, started afresh
        time.sleep(0.2)
        assert profiler.running and profiler.total_snapshots > parent_snapshots
        assert result["rss_mb"] > profiler.latest_snapshot.rss_mb + 48
    finally:
        profiler.stop()


def test_a_lock_held_at_fork_time_does_not_deadlock_the_child():
    profiler = MemoryProfiler(snapshot_interval=3600)
    holding = threading.Event()
    release = threading.Event()

    def hold_the_lock():
        with profiler._cycle:
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    holding.wait(5)
    try:
        result = in_child(lambda: profiler.snapshot().total_objects, timeout=10)
    finally:
        release.set()
        holder.join()
    assert result > 0


def free_port_span(count):
    """The first of ``count`` consecutive loopback ports that are all free now: free_port() checks
    one port, and a worker that finds the rest of its span taken by another program serves nowhere."""
    for _ in range(50):
        sockets = [socket.socket()]
        try:
            sockets[0].bind(("127.0.0.1", 0))
            base = sockets[0].getsockname()[1]
            if base + count - 1 > 65535:
                continue
            for port in range(base + 1, base + count):
                sockets.append(socket.socket())
                sockets[-1].bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError(f"no {count} consecutive free ports")


def test_multi_worker_processes_each_serve_their_own_port(instrumentor, telemetry):
    base = free_port_span(4)
    instrumentor.instrument(
        snapshot_interval=0.1,
        prometheus_port=base,
        prometheus_host="127.0.0.1",
        prometheus_port_span=4,
        **telemetry.providers(),
    )
    ports = []

    def worker():
        os.close(done_write)  # the parent's copy alone keeps the pipe open
        # Fresh pages: a bytearray could reuse heap the parent freed, which the child already holds.
        ballast = mmap.mmap(-1, 64 << 20)
        for offset in range(0, len(ballast), mmap.PAGESIZE):
            ballast[offset] = 1
        exporter = instrumentor._installation.exporter
        profiler = get_memory_profiler()
        # Two snapshots begun after the ballast was in (one may have been under way), and the port:
        # the child serves from a thread that the fork hook starts, so its port is known once it serves.
        wanted = profiler.total_snapshots + 2
        deadline = time.monotonic() + 10
        while not (exporter.running and profiler.total_snapshots >= wanted):
            if time.monotonic() > deadline:
                faulthandler.dump_traceback(all_threads=True)  # where the child is stuck, on failure
                break
            time.sleep(0.05)
        port = exporter.port
        ready = profiler.running and exporter.running
        os.write(ready_write, f"{port} {profiler.total_snapshots} {ready} {os.getpid()}\n".encode())
        os.read(done_read, 1)  # serve until the parent has scraped every worker and closes the pipe
        return port

    children = []
    ready_read, ready_write = os.pipe()
    done_read, done_write = os.pipe()
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)
            try:
                worker()
            finally:
                os._exit(0)
        children.append(pid)
    os.close(ready_write)
    instances = {}
    try:  # whatever fails, the children end now, not at their alarm, and leave no load behind
        with os.fdopen(ready_read) as ready:
            reports = [ready.readline().split() for _ in children]
        ports = [int(port) for port, _, _, _ in reports]
        pids = {int(port): int(pid) for port, _, _, pid in reports}
        assert all(int(snapshots) >= 2 and running == "True" for _, snapshots, running, _ in reports), reports
        assert sorted(ports) == [base + 1, base + 2, base + 3]
        for port in [base, *ports]:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            target = families["target_info"].samples[0].labels
            assert int(target["process_pid"]) == pids.get(port, os.getpid())  # each port serves its own
            assert target["fogcompute_memory_process_role"] == ("main" if port == base else "worker")
            instances[port] = (
                target["service_instance_id"],
                # the process's own RSS: under a cgroup limit heap_used_mb is the container's, the
                # same on every port
                families["fogcompute_memory_rss_mb"].samples[0].value,
            )
    finally:
        os.close(done_write)
        os.close(done_read)
        for pid in children:
            os.waitpid(pid, 0)
    assert len({instance for instance, _ in instances.values()}) == 4  # four processes, four identities
    assert all(heap > instances[base][1] + 32 for port, (_, heap) in instances.items() if port != base), (
        instances
    )


def test_a_worker_without_a_free_port_says_so_once_naming_the_setting(instrumentor, telemetry):
    """The range holds the parent's port only: the forked worker cannot be served, and logs one
    warning naming the variable that fixes it."""
    import logging

    from .conftest import free_port

    base = free_port()
    instrumentor.instrument(
        snapshot_interval=3600.0,
        prometheus_port=base,
        prometheus_host="127.0.0.1",
        **telemetry.providers(),
    )

    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    def worker():
        serving = instrumentor._installation.exporter.wait_until_serving(5)
        time.sleep(0.3)  # room for a second warning, were there one
        return {"serving": serving, "messages": messages}

    keep = Keep(logging.WARNING)
    package_logger = logging.getLogger("opentelemetry_instrumentation_memory")
    package_logger.addHandler(keep)  # before the fork: the child's warning comes at once
    try:
        result = in_child(worker)
    finally:
        package_logger.removeHandler(keep)
    assert not result["serving"]
    assert len(result["messages"]) == 1, result
    assert "OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN" in result["messages"][0]
    assert str(base) in result["messages"][0]


def test_the_hand_off_to_workers_is_undone_by_uninstrument(instrumentor, telemetry, monkeypatch):
    """Under the SDK's Prometheus reader the main process serves no endpoint of the package, hands
    its workers a port range and takes the reader out of their exporters; uninstrument undoes it."""
    from .conftest import free_port

    sdk_port = free_port()
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "prometheus,console")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", str(sdk_port))
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
    monkeypatch.delenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", raising=False)
    instrumentor.instrument(snapshot_interval=0.1, **telemetry.providers())
    exporter = instrumentor._installation.exporter
    assert not exporter.running
    assert os.environ["OTEL_METRICS_EXPORTER"] == "console"
    assert os.environ["OTEL_PYTHON_MEMORY_PROMETHEUS_PORT"] == str(sdk_port + 1)
    assert os.environ["OTEL_PYTHON_MEMORY_PARENT_PID"] == str(os.getpid())

    def worker():
        assert exporter.wait_until_serving(5)
        text = urllib.request.urlopen(exporter.url, timeout=5).read().decode()
        labels = {f.name: f for f in text_string_to_metric_families(text)}["target_info"].samples[0].labels
        return {"port": exporter.port, "pid": int(labels["process_pid"]), "role": labels[ROLE_LABEL]}

    result = in_child(worker)
    assert result["port"] in range(sdk_port + 1, sdk_port + 17) and result["pid"] != os.getpid()
    assert result["role"] == "worker"
    instrumentor.uninstrument()
    assert os.environ["OTEL_METRICS_EXPORTER"] == "prometheus,console"
    assert "OTEL_PYTHON_MEMORY_PROMETHEUS_PORT" not in os.environ
    assert "OTEL_PYTHON_MEMORY_PARENT_PID" not in os.environ
    assert in_child(lambda: exporter.wait_until_serving(0.5)) is False  # closed: no worker serves


def test_the_workers_bind_the_packages_host_never_the_sdk_readers(
    instrumentor, telemetry, monkeypatch, caplog
):
    """Before: ``OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0``, meant for the SDK's reader, made every
    worker's memory endpoint bind every interface too. Now the workers bind the package's host
    (``localhost`` by default), and the main process says so once."""
    import logging

    from .conftest import free_port

    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "prometheus")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", str(free_port()))
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0")
    monkeypatch.delenv("OTEL_PYTHON_MEMORY_PROMETHEUS_HOST", raising=False)
    monkeypatch.delenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", raising=False)
    with caplog.at_level(logging.WARNING):
        instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    exporter = instrumentor._installation.exporter
    assert exporter.host == "localhost" and not exporter.running
    assert os.environ["OTEL_PYTHON_MEMORY_PROMETHEUS_HOST"] == "localhost"  # for spawned workers
    said = [r.getMessage() for r in caplog.records if "OTEL_EXPORTER_PROMETHEUS_HOST" in r.getMessage()]
    assert len(said) == 1 and "OTEL_PYTHON_MEMORY_PROMETHEUS_HOST" in said[0], said

    def worker():
        assert exporter.wait_until_serving(5)
        return exporter._serving[0].server_address[0]

    assert in_child(worker) == "127.0.0.1"
    instrumentor.uninstrument()


ROLE_LABEL = "fogcompute_memory_process_role"


def _span_processor_lock():
    from opentelemetry.sdk.trace import TracerProvider

    from opentelemetry_instrumentation_memory import MemorySpanProcessor

    processor = MemorySpanProcessor()
    provider = TracerProvider()
    provider.add_span_processor(processor)

    def in_the_child():
        with provider.get_tracer(__name__).start_as_current_span("request"):
            pass
        return True

    return lambda: processor._lock, in_the_child


def _process_profiler_lock():
    from opentelemetry_instrumentation_memory.core import profiler

    return lambda: profiler._process_profiler_lock, lambda: get_memory_profiler() is not None


def _process_exporter_lock():
    from opentelemetry_instrumentation_memory.otel import exporter

    return lambda: exporter._process_exporter_lock, lambda: exporter.get_memory_exporter() is not None


def _metrics_by_provider_lock():
    from opentelemetry.sdk.metrics import MeterProvider

    from opentelemetry_instrumentation_memory.otel import metrics

    return lambda: metrics._by_provider_lock, lambda: metrics.metrics_for(MeterProvider(), "0") is not None


def _semconv_lock():
    from opentelemetry.sdk.metrics import MeterProvider

    from opentelemetry_instrumentation_memory.otel import metrics

    instruments = metrics.metrics_for(MeterProvider(), "0")

    def in_the_child():
        instruments.attach(MemoryProfiler(), ["process"])
        return True

    return lambda: instruments._semconv_lock, in_the_child


@pytest.mark.parametrize(
    "held",
    [
        _process_profiler_lock,
        _process_exporter_lock,
        _span_processor_lock,
        _metrics_by_provider_lock,
        _semconv_lock,
    ],
)
def test_a_process_wide_lock_held_at_fork_time_does_not_deadlock_the_child(held):
    lock, use_it_in_the_child = held()
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with lock():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert holding.wait(5)
    try:
        assert in_child(use_it_in_the_child, timeout=5) is True
    finally:
        release.set()
        holder.join()


def test_the_discovery_file_follows_the_endpoint_and_a_bad_directory_is_only_a_warning(tmp_path, caplog):
    import logging

    from opentelemetry_instrumentation_memory import MemoryExporter

    environ = {"OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR": str(tmp_path)}
    exporter = MemoryExporter("127.0.0.1", 0, environ=environ)
    exporter.serve()
    try:
        from opentelemetry_instrumentation_memory.otel.discovery import file_name

        (group,) = json.loads((tmp_path / file_name()).read_text())
        assert group["targets"] == [f"127.0.0.1:{exporter.port}"]
    finally:
        exporter.close()
    assert not list(tmp_path.iterdir())  # withdrawn with the endpoint
    missing = {"OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR": str(tmp_path / "missing")}
    exporter = MemoryExporter("127.0.0.1", 0, environ=missing)
    with caplog.at_level(logging.WARNING):
        exporter.serve()
    try:
        assert exporter.running
        assert any("OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR" in r.getMessage() for r in caplog.records)
    finally:
        exporter.close()


def test_a_forked_worker_has_one_identity_on_its_endpoint_and_its_providers(instrumentor, telemetry):
    """The child's target_info names the service.instance.id the SDK gave the child's logger,
    tracer and meter providers after the fork, and its own pid."""
    base = free_port_span(2)
    instrumentor.instrument(
        snapshot_interval=3600.0,
        prometheus_port=base,
        prometheus_host="127.0.0.1",
        prometheus_port_span=2,
        **telemetry.providers(),
    )

    def worker():
        exporter = instrumentor._installation.exporter
        assert exporter.wait_until_serving(5)
        text = urllib.request.urlopen(exporter.url, timeout=5).read().decode()
        labels = {f.name: f for f in text_string_to_metric_families(text)}["target_info"].samples[0].labels
        return {
            "endpoint": labels["service_instance_id"],
            "pid": int(labels["process_pid"]),
            "logs": telemetry.logger_provider.resource.attributes["service.instance.id"],
            "traces": telemetry.tracer_provider.resource.attributes["service.instance.id"],
            "own_pid": os.getpid(),
        }

    child = in_child(worker)
    parent = telemetry.logger_provider.resource.attributes["service.instance.id"]
    assert child["endpoint"] == child["logs"] == child["traces"] != parent
    assert child["pid"] == child["own_pid"] != os.getpid()


def test_the_loop_imports_nothing_so_a_fork_never_catches_it_mid_import():
    """A module import holds that module's lock until it ends; a child forked meanwhile inherits
    the lock held by a thread it does not have, and its own loop waits on it forever (seen: a codec
    looked up by the first cgroup read). Every module the snapshot, the diagnosis and the site
    lookup use is imported with the package."""
    script = textwrap.dedent(
        """
        import sys, tracemalloc
        from opentelemetry_instrumentation_memory import MemoryProfiler
        from opentelemetry_instrumentation_memory.core.diagnosis.sites import attributed_sites

        class Leaky:
            pass

        before = set(sys.modules)
        profiler = MemoryProfiler(leak_site_capture=False)
        for _ in range(3):
            profiler.snapshot()
        profiler.snapshot(census=False)
        tracemalloc.start(1)
        kept = [Leaky() for _ in range(10)]
        attributed_sites(kept, 3, "")
        tracemalloc.stop()
        print(sorted(set(sys.modules) - before))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
