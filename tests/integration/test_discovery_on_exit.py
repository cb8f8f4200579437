"""A process that wrote a service-discovery file removes it when it ends normally, however its
server or multiprocessing ends it: uvicorn workers (spawned) and a single uvicorn process that
re-raise SIGTERM after a graceful shutdown, and multiprocessing children (fork, spawn), which end
through ``os._exit`` or ``sys.exit``. Real servers and processes on loopback, stopped by pid."""

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from .conftest import free_port
from .test_workers import ASGI_APP, WORKERS, start, stop

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

VARIABLE = "OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR"


def _files(sd_directory):
    return sorted(
        p.name for p in sd_directory.iterdir() if p.name.startswith(("otel-memory-", ".otel-memory-"))
    )


def _wait_for_files(sd_directory, count, deadline):
    while time.monotonic() < deadline and len(_files(sd_directory)) < count:
        time.sleep(0.1)
    return _files(sd_directory)


def _terminate(server, seconds=15):
    """SIGTERM to the server's own pid, as an operator or an orchestrator sends it; its exit code
    and stderr."""
    server.send_signal(signal.SIGTERM)
    try:
        _, stderr = server.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        stderr = stop(server)
        pytest.fail(f"the server did not stop within {seconds} s on SIGTERM: {stderr[-3000:]}")
    return server.returncode, stderr


def test_uvicorn_spawned_workers_remove_their_files_when_the_supervisor_is_terminated(tmp_path):
    """The trial's case: uvicorn --workers 2 under opentelemetry-instrument with the SDK's reader.
    Before: every worker's file stayed (uvicorn re-raises SIGTERM at its default disposition
    after a graceful shutdown, which ends the worker before atexit)."""
    pytest.importorskip("uvicorn")
    sd_directory = tmp_path / "sd"
    sd_directory.mkdir()
    sdk_port, app_port = free_port(), free_port()
    server = start(
        tmp_path,
        ASGI_APP,
        ["uvicorn", "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(app_port), "app:app"],
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(sdk_port),
        OTEL_LOGS_EXPORTER="none",
        **{VARIABLE: str(sd_directory)},
    )
    try:
        announced = _wait_for_files(sd_directory, WORKERS, time.monotonic() + 25)
        assert len(announced) == WORKERS, (announced, server.poll())
        assert len(_serving(app_port, WORKERS, time.monotonic() + 25)) == WORKERS, server.poll()
        returncode, stderr = _terminate(server)
    finally:
        stop(server)
    assert stderr.count("Finished server process") == WORKERS, stderr[-3000:]  # a clean shutdown
    assert "Stopping parent process" in stderr, stderr[-3000:]
    assert _files(sd_directory) == [], stderr[-3000:]


def test_a_single_uvicorn_process_removes_its_file_and_still_ends_by_sigterm(tmp_path):
    """One uvicorn process serving the package's endpoint itself: its file goes, and it still ends
    the way uvicorn ends it, by SIGTERM."""
    pytest.importorskip("uvicorn")
    sd_directory = tmp_path / "sd"
    sd_directory.mkdir()
    app_port = free_port()
    server = start(
        tmp_path,
        ASGI_APP,
        ["uvicorn", "--host", "127.0.0.1", "--port", str(app_port), "app:app"],
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_PYTHON_MEMORY_PROMETHEUS_HOST="127.0.0.1",
        OTEL_PYTHON_MEMORY_PROMETHEUS_PORT=str(free_port()),
        **{VARIABLE: str(sd_directory)},
    )
    try:
        announced = _wait_for_files(sd_directory, 1, time.monotonic() + 25)
        assert len(announced) == 1 and f"-{server.pid}-" in announced[0], (announced, server.poll())
        deadline = time.monotonic() + 25  # uvicorn handles SIGTERM once the app answers
        while time.monotonic() < deadline and server.poll() is None and _answers(app_port) is None:
            time.sleep(0.1)
        returncode, stderr = _terminate(server)
    finally:
        stop(server)
    assert "Finished server process" in stderr, stderr[-3000:]
    assert returncode == -signal.SIGTERM, (returncode, stderr[-3000:])
    assert _files(sd_directory) == [], stderr[-3000:]


def _answers(port):
    """The pid of the worker that answered, or None."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/")
        body = connection.getresponse().read()
        connection.close()
        return json.loads(body)["pid"]
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return None


def _serving(port, count, deadline):
    """The pids of the workers that answered, once ``count`` have or at ``deadline``: uvicorn ends a
    worker terminated while it starts without finishing it."""
    pids = set()
    while time.monotonic() < deadline and len(pids) < count:
        pid = _answers(port)
        if pid is None:
            time.sleep(0.1)
        else:
            pids.add(pid)
    return pids


MULTIPROCESSING = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from opentelemetry_instrumentation_memory import MemoryExporter

    DIRECTORY = sys.argv[2]

    def announced():
        deadline = time.monotonic() + 10  # a forked child announces just after it serves
        while time.monotonic() < deadline:
            if [n for n in os.listdir(DIRECTORY) if f"-{os.getpid()}-" in n and n.endswith(".json")]:
                return True
            time.sleep(0.02)
        return False

    def forked_worker():
        # the parent's exporter serves in forked children, on a thread started at fork
        assert parent.wait_until_serving(10), "the forked child does not serve"
        assert announced(), os.listdir(DIRECTORY)

    def spawned_worker():
        exporter = MemoryExporter("127.0.0.1", 0, environ={"OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR": DIRECTORY})
        exporter.serve()
        assert announced(), os.listdir(DIRECTORY)

    if __name__ == "__main__":
        method = sys.argv[1]
        if method == "fork":
            parent = MemoryExporter(
                "127.0.0.1", 0, port_span=1,
                environ={"OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR": DIRECTORY},
            )
            parent.serve_in_forked_children()
        context = multiprocessing.get_context(method)
        child = context.Process(target=forked_worker if method == "fork" else spawned_worker)
        child.start()
        child.join(30)
        print(child.pid, child.exitcode, sorted(os.listdir(DIRECTORY)), flush=True)
    """
)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_multiprocessing_child_removes_its_file_when_its_target_returns(tmp_path, method):
    """A fork child of multiprocessing ends with os._exit after its target (atexit never runs
    there); a spawn child with sys.exit. Before: the fork child's file stayed."""
    sd_directory = tmp_path / "sd"
    sd_directory.mkdir()
    script = tmp_path / "children.py"
    script.write_text(MULTIPROCESSING)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment["PYTHONPATH"] = os.pathsep.join(sys.path)
    finished = subprocess.run(
        [sys.executable, str(script), method, str(sd_directory)],
        capture_output=True,
        text=True,
        timeout=50,
        env=environment,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    pid, exitcode, left = finished.stdout.split(maxsplit=2)
    assert exitcode == "0", finished.stderr[-3000:]  # the child saw its own file
    assert left.strip() == "[]", (pid, left, finished.stderr[-3000:])


HANDLER = textwrap.dedent(
    """
    import os, signal, sys, time
    from opentelemetry_instrumentation_memory import MemoryExporter
    from opentelemetry_instrumentation_memory.otel import discovery

    def serve():
        environ = {"OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR": sys.argv[1]}
        exporter = MemoryExporter("127.0.0.1", 0, port_span=4, environ=environ)
        exporter.serve()
        return exporter

    exporter = serve()
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    exporter.close()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # closed: the default again
    assert os.listdir(sys.argv[1]) == []

    def own(signum, frame):
        pass

    signal.signal(signal.SIGTERM, own)
    serve().close()
    assert signal.getsignal(signal.SIGTERM) is own  # the host's own handler is left alone
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    exporter = serve()
    mine = discovery.file_name()
    child = os.fork()
    if child == 0:  # inherits the handler; serves and writes its own file, on a thread
        deadline = time.monotonic() + 10
        while os.getpid() not in discovery._written and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        os._exit(3)  # not reached
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
    # the child's file went with it, the parent's stays
    assert os.listdir(sys.argv[1]) == [mine], os.listdir(sys.argv[1])
    print("ok", flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    """
)


def test_the_sigterm_handler_is_set_only_over_the_default_and_removes_only_its_own_process_file(tmp_path):
    sd_directory = tmp_path / "sd"
    sd_directory.mkdir()
    script = tmp_path / "handler.py"
    script.write_text(HANDLER)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment["PYTHONPATH"] = os.pathsep.join(sys.path)
    finished = subprocess.run(
        [sys.executable, str(script), str(sd_directory)],
        capture_output=True,
        text=True,
        timeout=50,
        env=environment,
    )
    assert finished.stdout == "ok\n", finished.stderr[-3000:]
    assert finished.returncode == -signal.SIGTERM, finished.stderr[-3000:]
    assert _files(sd_directory) == []  # ended by SIGTERM, its own file removed first
