"""reset_baseline() without code: OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL, with real signals sent to a
real process, never over a handler the program set."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

from opentelemetry_instrumentation_memory import get_memory_profiler

from .conftest import free_port

VARIABLE = "OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL"
# The child instruments itself with a warm-up of an hour, so its baseline stays provisional unless
# the signal resets it; its main thread keeps taking snapshots (holding the profiler's lock) while
# the signal arrives. It reports a JSON line before and after.
CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from opentelemetry_instrumentation_memory import MemoryInstrumentor, get_memory_profiler

    host_signals = []
    if sys.argv[1] == "host-handler":
        signal.signal(signal.SIGUSR2, lambda signum, frame: host_signals.append(signum))
    instrumentor = MemoryInstrumentor()
    instrumentor.instrument(snapshot_interval=0.05, warmup_seconds=3600.0)
    profiler = get_memory_profiler()
    profiler.snapshot()
    first = profiler.latest_drift.baseline_timestamp
    print(json.dumps({"settled": profiler.baseline_settled}), flush=True)
    sys.stdin.readline()  # the parent sends the signal now, while this thread takes snapshots
    deadline = time.monotonic() + 5.0
    while not (profiler.baseline_settled or host_signals) and time.monotonic() < deadline:
        profiler.snapshot(census=False)
    drift = profiler.latest_drift  # the baseline it is measured from
    print(json.dumps({
        "settled": profiler.baseline_settled,
        "baseline_moved": drift.baseline_timestamp > first,
        "host_signals": host_signals,
    }), flush=True)
    instrumentor.uninstrument()
    print(json.dumps({"default_after": signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL}), flush=True)
    """
)


def _run_child(mode: str, value: str):
    """Start the child, send it SIGUSR2 once it is instrumented; its exit code, JSON lines and stderr."""
    environment = {**os.environ, VARIABLE: value}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        before = json.loads(child.stdout.readline())
        child.stdin.write("go\n")
        child.stdin.flush()
        os.kill(child.pid, signal.SIGUSR2)
        stdout, stderr = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
    lines = [json.loads(line) for line in stdout.splitlines()]
    return child.returncode, before, lines, stderr


def test_the_signal_resets_the_baseline_of_an_auto_instrumented_process():
    returncode, before, (after, uninstrumented), stderr = _run_child("default", "SIGUSR2")
    assert returncode == 0, stderr
    assert before == {"settled": False}
    assert after["settled"] and after["baseline_moved"], after
    assert uninstrumented == {"default_after": True}
    assert VARIABLE not in stderr


def test_a_handler_the_program_set_is_kept_and_the_variable_is_warned_about():
    returncode, _, (after, _), stderr = _run_child("host-handler", "USR2")
    assert returncode == 0, stderr
    assert after["host_signals"] == [signal.SIGUSR2] and not after["settled"]
    assert f"{VARIABLE}=SIGUSR2 is ignored: the program already handles SIGUSR2" in stderr


def test_instrumenting_off_the_main_thread_or_a_bad_name_warns_and_installs_nothing(
    instrumentor, telemetry, monkeypatch, caplog
):
    before = signal.getsignal(signal.SIGUSR2)
    for value, expected in (
        ("SIGNOPE", "is not one of SIGUSR1, SIGUSR2, SIGHUP"),
        ("SIGUSR2", "only from the main thread"),
    ):
        monkeypatch.setenv(VARIABLE, value)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            worker = threading.Thread(
                target=instrumentor.instrument, kwargs=dict(snapshot_interval=3600.0, **telemetry.providers())
            )
            worker.start()
            worker.join(10)
        assert any(VARIABLE in r.getMessage() and expected in r.getMessage() for r in caplog.records), value
        assert signal.getsignal(signal.SIGUSR2) is before
        assert get_memory_profiler().running
        instrumentor.uninstrument()


@pytest.mark.parametrize("value", ["SIGTERM", "TERM"])
def test_sigterm_still_ends_the_process_when_named_as_the_reset_signal(value):
    """TERM was accepted: the handler took SIGTERM, and the process no longer ended on it."""
    script = textwrap.dedent(
        """
        import time
        from opentelemetry_instrumentation_memory import MemoryInstrumentor
        MemoryInstrumentor().instrument(snapshot_interval=3600.0)
        print("ready", flush=True)
        time.sleep(30)
        """
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(OTEL_METRICS_EXPORTER="none", OTEL_TRACES_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
    environment[VARIABLE] = value
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "ready\n"
        os.kill(child.pid, signal.SIGTERM)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        _, stderr = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGTERM, stderr
    assert f"{VARIABLE}={value!r} is not one of SIGUSR1, SIGUSR2, SIGHUP; using the default (none)" in stderr


def _drift_is_exported(port: int) -> bool:
    """Whether the endpoint serves the baseline drift (absent until the baseline is settled); raises
    OSError until it serves at all."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
        text = reply.read().decode()
    assert "fogcompute_memory_snapshots_total" in text
    return "fogcompute_memory_baseline_drift_percent" in text


def test_kill_settles_the_baseline_of_a_program_under_opentelemetry_instrument(tmp_path):
    """No code at all: a plain program under opentelemetry-instrument, an hour of warm-up, and
    ``kill -USR2``: the drift from a baseline appears on its endpoint, and the program lives on."""
    script = tmp_path / "app.py"
    script.write_text(
        "import time\ndeadline = time.monotonic() + 30\nwhile time.monotonic() < deadline: time.sleep(0.05)\n"
    )
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(
        OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL="0.1",
        OTEL_PYTHON_MEMORY_WARMUP_SECONDS="3600",
        OTEL_PYTHON_MEMORY_PROMETHEUS_PORT=str(port),
        OTEL_PYTHON_MEMORY_PROMETHEUS_HOST="127.0.0.1",
        OTEL_METRICS_EXPORTER="none",
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        **{VARIABLE: "SIGUSR2"},
    )
    beside = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    command = [beside if os.path.exists(beside) else shutil.which("opentelemetry-instrument"), sys.executable]
    app = subprocess.Popen([*command, str(script)], env=environment, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        drift = None
        while drift is None and time.monotonic() < deadline and app.poll() is None:
            try:
                drift = _drift_is_exported(port)
            except (OSError, AssertionError):
                time.sleep(0.1)
        assert drift is False, "the endpoint never served, or served a drift before any baseline"
        os.kill(app.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while not drift and time.monotonic() < deadline and app.poll() is None:
            time.sleep(0.1)
            try:
                drift = _drift_is_exported(port)
            except OSError:  # the program is gone: told below
                pass
        assert app.poll() is None, "the signal ended the program"
        assert drift
    finally:
        app.kill()
        _, stderr = app.communicate(timeout=10)
    assert "Failed to auto initialize" not in stderr
