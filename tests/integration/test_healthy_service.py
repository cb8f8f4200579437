"""A healthy real service raises no in-process alert (issue 20).

A clean Flask app (tests/integration/service/healthy_app.py) served by ``gunicorn -w 2`` with
gthread workers of two threads, every process instrumented through ``opentelemetry-instrument`` as
the README says, with a snapshot every 2 s and a 120 s warm-up. What it does is what healthy
services do: requests that allocate and free, a batch job every 20 s that builds 150,000 dicts and
drops them (a burst of collections each time), an ``lru_cache(maxsize=256)`` and a dict capped at
500 entries, both filled far past their size, and a reference table loaded lazily over about
ten minutes after the warm-up (then flat): a transient growth, not a leak, which brings each worker
a leak-site capture (its tracemalloc window) inside the run.

A bounded local client drives it for 15 minutes at a few requests a second, long enough for every
alert to be evaluated: growth is rated from 720 s of uptime on (10 snapshots spanning 600 s after
the warm-up). Every process, the master too, records each in-process alert transition it delivers
to ``register_alert_callback`` in a file of its own; none may have fired. Marked ``slow``; the
default ``python3 -m pytest`` (README, .ci/run) runs it.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import free_port
from .test_auto_instrumentation import opentelemetry_instrument

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

REPOSITORY = Path(__file__).resolve().parents[2]
SERVICE = Path(__file__).parent / "service"
WORKERS = 2
SNAPSHOT_INTERVAL = 2.0
WARMUP_SECONDS = 120.0
RUN_SECONDS = 900.0  # of load, once both workers serve: growth is rated from 720 s of uptime
REQUESTS_PER_SECOND = 6.0  # modest: the machine may have two cores, shared
REQUEST_TIMEOUT_SECONDS = 5.0
START_SECONDS = 90.0
ENVIRONMENT = {
    "OTEL_SERVICE_NAME": "healthy-service",
    "OTEL_METRICS_EXPORTER": "prometheus",
    "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL": str(SNAPSHOT_INTERVAL),
    "OTEL_PYTHON_MEMORY_WARMUP_SECONDS": str(WARMUP_SECONDS),
    # The tracemalloc window is what this run proves harmless: without heap sampling, its fallback,
    # every low leak still growing gets one.
    "OTEL_PYTHON_MEMORY_HEAP_SAMPLING": "false",
}


def _gunicorn_command(app_port: int) -> List[str]:
    command = [opentelemetry_instrument(), sys.executable, "-m", "gunicorn"]
    command += ["-c", str(SERVICE / "healthy_gunicorn_conf.py"), "-b", f"127.0.0.1:{app_port}"]
    config = pytest.importorskip("gunicorn.config")
    if any("--no-control-socket" in (setting.cli or ()) for setting in config.KNOWN_SETTINGS):
        command.append("--no-control-socket")  # not the one in the home directory, shared
    return [*command, "healthy_app:app"]


def _start(records: Path, app_port: int, sdk_port: int) -> subprocess.Popen:
    """The service, in a process group of its own, importing this checkout's package."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(ENVIRONMENT, OTEL_EXPORTER_PROMETHEUS_PORT=str(sdk_port), MEMORY_SERVICE_RECORDS=str(records))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), str(SERVICE), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        _gunicorn_command(app_port),
        cwd=SERVICE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stop(server: subprocess.Popen) -> str:
    """Stop the master and its workers by process group (TERM, then KILL); the server's stderr."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return server.communicate(timeout=wait)[1] or ""
        except subprocess.TimeoutExpired:
            continue
    return ""


def _get(port: int, path: str) -> Dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise OSError(f"{path}: HTTP {reply.status}")
        return json.loads(body)
    finally:
        connection.close()


def _wait_for_workers(server: subprocess.Popen, port: int) -> Dict[int, Dict[str, Any]]:
    """{worker pid: its /__state} once every worker has answered."""
    deadline = time.monotonic() + START_SECONDS
    states: Dict[int, Dict[str, Any]] = {}
    while time.monotonic() < deadline and len(states) < WORKERS and server.poll() is None:
        try:
            state = _get(port, "/__state")
        except (OSError, ValueError, http.client.HTTPException):
            time.sleep(0.2)
            continue
        states[state["pid"]] = state
        time.sleep(0.05)
    return states


def _drive(port: int, seconds: float) -> Dict[str, Any]:
    """Paced requests for ``seconds``, at most REQUESTS_PER_SECOND: what they found."""
    served: collections.Counter = collections.Counter()
    failures: List[str] = []
    states: Dict[int, Dict[str, Any]] = {}
    started = time.monotonic()
    next_due = started
    number = 0
    while time.monotonic() - started < seconds:
        time.sleep(max(0.0, next_due - time.monotonic()))
        next_due = max(next_due + 1.0 / REQUESTS_PER_SECOND, time.monotonic() - 1.0)
        number += 1
        path = "/__state" if number % 60 == 0 else f"/work/{number}"
        try:
            answer = _get(port, path)
        except (OSError, ValueError, http.client.HTTPException) as error:
            failures.append(f"{time.monotonic() - started:.0f}s {path}: {error!r}")
            continue
        served[answer["pid"]] += 1
        if path == "/__state":
            states[answer["pid"]] = answer
    return {"requests": number, "served": dict(served), "failures": failures, "states": states}


def _scrape_snapshots(ports, master) -> Dict[int, Dict[str, Any]]:
    """{pid: {"role", "snapshots"}} from every memory endpoint that answers on ``ports``; ``master``
    is (the SDK reader's port, the master's pid)."""
    found = {}
    for port in ports:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
        except OSError:
            continue
        families = {family.name: family for family in text_string_to_metric_families(text)}
        if "target_info" not in families or "fogcompute_memory_snapshots" not in families:
            continue
        labels = families["target_info"].samples[0].labels
        if "process_pid" not in labels:  # the SDK's reader, serving the master alone
            if port != master[0]:
                continue
            labels = dict(labels, process_pid=master[1], fogcompute_memory_process_role="master")
        samples = families["fogcompute_memory_snapshots"].samples
        snapshots = [sample.value for sample in samples if sample.name.endswith("_total")]
        found[int(labels["process_pid"])] = {
            "port": port,
            "role": labels.get("fogcompute_memory_process_role"),
            "snapshots": int(max(snapshots, default=0)),
        }
    return found


def _read_lines(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _records(directory: Path, kind: str) -> Dict[int, List[Dict[str, Any]]]:
    return {int(path.stem.split("-")[1]): _read_lines(path) for path in directory.glob(f"{kind}-*.jsonl")}


def _memory_summary(lines: List[Dict[str, Any]]) -> str:
    """The highest drift from the baseline, where it was, and the monitor's own memory at the end."""
    drifts = [line for line in lines if line.get("drift_percent") is not None]
    if not drifts:
        return "    no drift from a settled baseline recorded"
    top = max(drifts, key=lambda line: line["drift_percent"])
    return (
        f"    highest drift {top['drift_percent']:.1f} % at uptime {top['uptime']:.0f} s "
        f"(used {top['used_mb']:.1f} MB, own {top['own_mb']:.1f} MB, tracing {top['tracing']}); "
        f"own at the end {lines[-1]['own_mb']:.1f} MB"
    )


def _report(processes, alerts, leaks, tracing, scraped, load, memory) -> str:
    """What each process saw: alert transitions by type, each firing, leaks, captures."""
    lines = []
    for pid in sorted(processes, key=lambda p: (processes[p]["role"] != "master", p)):
        role = processes[pid]["role"]
        own = alerts.get(pid, [])
        fired = collections.Counter(a["type"] for a in own if a["state"] == "firing")
        resolved = collections.Counter(a["type"] for a in own if a["state"] == "resolved")
        snapshots = scraped.get(pid, {}).get("snapshots", "?")
        lines.append(
            f"{role} {pid} (snapshots {snapshots}): fired {sum(fired.values())} {dict(fired)}, "
            f"resolved {sum(resolved.values())} {dict(resolved)}"
        )
        for alert in own:
            if alert["state"] == "firing":
                lines.append(
                    f"    {alert['type']} ({alert['severity']}) at uptime {alert['uptime']} s, "
                    f"time {alert['timestamp']:.0f}: {alert['message']}"
                )
        for leak in leaks.get(pid, []):
            lines.append(
                f"    leak event: {leak.get('object_type')} {leak.get('container') or ''} "
                f"{leak.get('severity')} at uptime {leak['uptime']} s, sites {len(leak.get('sites') or ())}"
            )
        if pid in tracing:
            seen = [round(t["uptime"]) for t in tracing[pid]]
            lines.append(f"    tracemalloc tracing seen at uptime {seen} s")
        if pid in memory:
            lines.append(_memory_summary(memory[pid]))
    lines.append(
        f"load: {load['requests']} requests, served by {load['served']}, {len(load['failures'])} failed"
    )
    return "\n".join(lines)


@pytest.mark.timeout(RUN_SECONDS + START_SECONDS + 300)
def test_a_healthy_gunicorn_service_raises_no_in_process_alert(tmp_path):
    pytest.importorskip("flask")
    pytest.importorskip("gunicorn")
    records = tmp_path / "records"
    records.mkdir()
    app_port, sdk_port = free_port(), free_port()
    server = _start(records, app_port, sdk_port)
    try:
        workers = _wait_for_workers(server, app_port)
        assert len(workers) == WORKERS, ("the workers did not all answer", workers, server.poll())
        load = _drive(app_port, RUN_SECONDS)
        scraped = _scrape_snapshots(range(sdk_port, sdk_port + 17), (sdk_port, server.pid))
        time.sleep(2 * SNAPSHOT_INTERVAL)  # the last snapshot's events reach their callbacks
        assert server.poll() is None, "the service stopped during the run"
    finally:
        stderr = _stop(server)
    processes = {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in records.glob("process-*.json")}
    alerts, leaks, tracing, pending, memory = (
        _records(records, kind) for kind in ("alerts", "leaks", "tracing", "pending", "memory")
    )
    report = _report(processes, alerts, leaks, tracing, scraped, load, memory)
    (tmp_path / "report.txt").write_text(report)
    print(report)

    # The run is what it claims to be: every process profiled from its start to the end, the load
    # served, and in each worker a leak-site capture (tracemalloc on for its window) inside the run.
    roles = collections.Counter(info["role"] for info in processes.values())
    assert roles["master"] == 1 and roles["worker"] >= WORKERS, (processes, stderr[-3000:])
    assert all(info["running"] for info in processes.values()), processes
    assert set(load["served"]) >= set(workers), (load["served"], workers)
    assert len(load["failures"]) <= 0.02 * load["requests"], load["failures"][:20]
    for pid in workers:
        assert pid in scraped, ("a worker's memory endpoint did not answer", pid, scraped)
        # at least three quarters of the snapshots 2 s apart over the run: the loop never stalled
        assert scraped[pid]["snapshots"] >= 0.75 * RUN_SECONDS / SNAPSHOT_INTERVAL, (pid, scraped)
        state = load["states"].get(pid)
        if state is not None:  # the bounded caches were filled past their size
            assert state["profile_cache"] == 256 and state["profile_misses"] > 256, state
            assert state["renderings"] == 500 and state["batches"] >= 20, state
        assert pid in tracing or any(leak.get("sites") for leak in leaks.get(pid, [])), (
            "no leak-site capture ran in this worker during the run",
            pid,
            report,
        )

    fired = [
        (alert["role"], pid, alert["type"], alert["severity"], alert["uptime"], alert["message"])
        for pid, transitions in sorted(alerts.items())
        for alert in transitions
        if alert["state"] == "firing"
    ]
    assert fired == [], f"in-process alerts fired on a healthy service:\n{report}"
    # Nor was any alert's condition ever holding (pending): its duration hid nothing.
    held = [(pid, line["uptime"], line["held"]) for pid, lines in sorted(pending.items()) for line in lines]
    assert held == [], f"alerts pending on a healthy service: {held[:20]}\n{report}"
