"""A real WSGI service: Flask served by gunicorn, each sync worker instrumented in ``post_fork``,
driven on loopback by a bounded client at 20 requests a second (tests/integration/service/).

The healthy service holds what every service holds: an ``lru_cache(maxsize=600)``, a dict its code
caps at 500, a ``deque(maxlen=400)``, sessions with a two-second TTL and a batch list cleared every
three seconds; each cache fills over 20-25 snapshots. Over 64 snapshots it must raise no alert,
rank no leak above low, and end with no leak active. The leaky service adds one unbounded list of
``AuditRecord``: that leak is found, and nothing else ranks above low.

Both services run at once (about 40 s in all, marked ``soak``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict

import pytest

from .conftest import free_port

pytestmark = pytest.mark.soak

SERVICE = Path(__file__).parent / "service"
SNAPSHOTS = 64
REQUESTS_PER_SECOND = 20.0
MAX_REQUESTS = 2_000
RUN_DEADLINE_SECONDS = 55.0
REQUEST_TIMEOUT_SECONDS = 5.0
LEAK_TYPE = "app.AuditRecord"
CACHED_TYPES = ("app.Profile", "app.Rendering", "app.Event", "app.Session", "app.BatchItem")


def _get(port: int, path: str) -> Dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=REQUEST_TIMEOUT_SECONDS) as reply:
        return json.loads(reply.read())


def _start(leaky: bool) -> tuple:
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    environment["MEMORY_SERVICE_LEAKY"] = "1" if leaky else "0"
    command = [sys.executable, "-m", "gunicorn", "-c", str(SERVICE / "gunicorn_conf.py")]
    command += ["--pythonpath", str(SERVICE), "-b", f"127.0.0.1:{port}", "app:app"]
    server = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    return server, port


def _stop(server: subprocess.Popen) -> str:
    """Stop gunicorn and its workers by process group; return what it wrote to stderr."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        _, stderr = server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        _, stderr = server.communicate(timeout=10)
    return stderr.decode(errors="replace")


def _drive(server: subprocess.Popen, port: int, outcome: Dict[str, Any]) -> None:
    """Wait for the worker, then send paced requests until its profiler has taken SNAPSHOTS snapshots
    (or MAX_REQUESTS, or the deadline); record the worker's final state."""
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    state = None
    while state is None and time.monotonic() < deadline and server.poll() is None:
        try:
            state = _get(port, "/__memory")
        except OSError:
            time.sleep(0.1)
    assert state is not None, "the service did not answer"
    next_due = time.monotonic()
    for number in range(MAX_REQUESTS):
        if time.monotonic() > deadline or state["snapshots"] >= SNAPSHOTS:
            break
        time.sleep(max(0.0, next_due - time.monotonic()))
        next_due += 1.0 / REQUESTS_PER_SECOND
        assert _get(port, f"/work/{number}")["ok"]
        if number % 20 == 19:
            state = _get(port, "/__memory")
    outcome["requests"] = number
    outcome["state"] = _get(port, "/__memory")


@pytest.fixture(scope="module")
def runs() -> Dict[str, Dict[str, Any]]:
    """Both services, run at once; {variant: {"requests": n, "state": /__memory at the end}}."""
    outcomes: Dict[str, Dict[str, Any]] = {"healthy": {}, "leaky": {}}
    servers = {variant: _start(leaky=variant == "leaky") for variant in outcomes}
    errors: Dict[str, BaseException] = {}
    stderr: Dict[str, str] = {}

    def drive(variant: str) -> None:
        try:
            _drive(*servers[variant], outcomes[variant])
        except BaseException as error:  # reported below, with the server's own stderr
            errors[variant] = error

    try:
        threads = [threading.Thread(target=drive, args=(variant,)) for variant in outcomes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(RUN_DEADLINE_SECONDS + 20)
    finally:
        for variant, (server, _) in servers.items():
            stderr[variant] = _stop(server)
    for variant, error in errors.items():
        raise AssertionError(f"{variant} service: {error!r}\n{stderr[variant][-3000:]}") from error
    return outcomes


def _above_low(records):
    return [record for record in records if record["severity"] != "low"]


def test_a_healthy_service_raises_nothing(runs):
    state = runs["healthy"]["state"]
    assert state["snapshots"] >= SNAPSHOTS, runs["healthy"]
    assert [a for a in state["alert_transitions"] if a["state"] == "firing"] == []
    assert state["active_alerts"] == []
    assert _above_low(state["detected_leaks"]) == [] and _above_low(state["leak_events"]) == []
    assert state["active_leaks"] == []
    assert [leak for leak in state["detected_leaks"] if leak["active"]] == []


def test_a_leaky_service_reports_its_leak_and_nothing_else(runs):
    state = runs["leaky"]["state"]
    assert state["snapshots"] >= SNAPSHOTS, runs["leaky"]
    assert LEAK_TYPE in {leak["object_type"] for leak in state["active_leaks"]}
    others = [leak for leak in state["detected_leaks"] if leak["object_type"] != LEAK_TYPE]
    assert _above_low(others) == []
    assert [e for e in _above_low(state["leak_events"]) if e["object_type"] != LEAK_TYPE] == []
    assert not {leak["object_type"] for leak in others if leak["active"]} & set(CACHED_TYPES)
    assert [a for a in state["alert_transitions"] if a["state"] == "firing"] == []
