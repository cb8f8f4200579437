"""A real WSGI service: Flask served by gunicorn, each sync worker instrumented in ``post_fork``,
driven on loopback by a bounded client at 20 requests a second (tests/integration/service/).

The healthy service holds what every service holds: an ``lru_cache(maxsize=600)``, a dict its code
caps at 500, a ``deque(maxlen=400)``, sessions with a two-second TTL and a batch list cleared every
three seconds; each cache fills over 20-25 snapshots. Over 64 snapshots it must raise no alert,
rank no leak above low, and end with no leak active; a real Prometheus scraping it every second with
the project's rules (monitoring/alerting/memory_alerts.yml) must never see a rule's condition hold
(no alert pending, let alone firing). The leaky service adds one unbounded list of ``AuditRecord``,
each keeping its request's 4 KiB body: that leak is found with its line, and nothing else ranks
above low.

Both services run at once (about 40 s in all, marked ``soak``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from .conftest import free_port
from .promtool import RULES, binary

pytestmark = pytest.mark.soak

SERVICE = Path(__file__).parent / "service"
SNAPSHOTS = 64
REQUESTS_PER_SECOND = 20.0
MAX_REQUESTS = 2_000
CACHES_FULL_AFTER_REQUESTS = 250  # the dict capped at 500, two entries a request, fills last
SNAPSHOTS_AFTER_THE_CACHES_FILL = 24  # half the leak window: time for a record to end
RUN_DEADLINE_SECONDS = 55.0
REQUEST_TIMEOUT_SECONDS = 5.0
LEAK_TYPE = "app.AuditRecord"
CACHED_TYPES = ("app.Profile", "app.Rendering", "app.Event", "app.Session", "app.BatchItem")


def _get(port: int, path: str) -> Dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=REQUEST_TIMEOUT_SECONDS) as reply:
        return json.loads(reply.read())


def _start(leaky: bool, metrics_port: int) -> tuple:
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    environment["MEMORY_SERVICE_LEAKY"] = "1" if leaky else "0"
    environment["MEMORY_SERVICE_METRICS_PORT"] = str(metrics_port)
    command = [sys.executable, "-m", "gunicorn", "-c", str(SERVICE / "gunicorn_conf.py")]
    command += ["--pythonpath", str(SERVICE), "-b", f"127.0.0.1:{port}", "app:app"]
    server = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    return server, port


def _prometheus(workdir: Path, target_port: int) -> tuple:
    """A real Prometheus scraping the service's memory metrics every second, with the project's
    rules evaluated every second; None when it is not installed."""
    if shutil.which("prometheus") is None:
        return None, None
    web_port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "service", "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    command = [
        binary("prometheus"),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{web_port}",
    ]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    return server, f"http://127.0.0.1:{web_port}"


def _query(base: str, query: str) -> list:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_SECONDS) as reply:
        answer = json.loads(reply.read())
    assert answer["status"] == "success", (query, answer)
    return answer["data"]["result"]


def _rule_health(base: str) -> Dict[str, str]:
    with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=REQUEST_TIMEOUT_SECONDS) as reply:
        groups = json.loads(reply.read())["data"]["groups"]
    return {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}


def _stop(server: subprocess.Popen) -> str:
    """Stop a server and its children (gunicorn's workers) by process group; return its stderr."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        _, stderr = server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        _, stderr = server.communicate(timeout=10)
    return (stderr or b"").decode(errors="replace")


def _drive(server: subprocess.Popen, port: int, outcome: Dict[str, Any]) -> None:
    """Wait for the worker, then send paced requests until its profiler has taken SNAPSHOTS snapshots
    and half a window more since the caches filled, however slow the machine (or MAX_REQUESTS, or the
    deadline); record the worker's final state."""
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    state = None
    while state is None and time.monotonic() < deadline and server.poll() is None:
        try:
            state = _get(port, "/__memory")
        except OSError:
            time.sleep(0.1)
    assert state is not None, "the service did not answer"
    wanted = SNAPSHOTS
    next_due = time.monotonic()
    for number in range(MAX_REQUESTS):
        if time.monotonic() > deadline or state["snapshots"] >= wanted:
            break
        time.sleep(max(0.0, next_due - time.monotonic()))
        next_due += 1.0 / REQUESTS_PER_SECOND
        assert _get(port, f"/work/{number}")["ok"]
        if number % 20 == 19 or number == CACHES_FULL_AFTER_REQUESTS:
            state = _get(port, "/__memory")
        if number == CACHES_FULL_AFTER_REQUESTS:
            wanted = max(SNAPSHOTS, state["snapshots"] + SNAPSHOTS_AFTER_THE_CACHES_FILL)
    outcome["requests"] = number
    outcome["wanted_snapshots"] = wanted
    outcome["state"] = _get(port, "/__memory")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Dict[str, Dict[str, Any]]:
    """Both services, run at once, the healthy one scraped by Prometheus; {variant: {"requests": n,
    "state": /__memory at the end}}, and for the healthy one "alerts" and "scrapes" from Prometheus."""
    outcomes: Dict[str, Dict[str, Any]] = {"healthy": {}, "leaky": {}}
    metrics_ports = {variant: free_port() for variant in outcomes}
    servers = {variant: _start(variant == "leaky", metrics_ports[variant]) for variant in outcomes}
    prometheus, base = _prometheus(tmp_path_factory.mktemp("prometheus"), metrics_ports["healthy"])
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
        if base is not None and not errors:
            healthy = outcomes["healthy"]
            healthy["scrapes"] = _query(
                base, 'count_over_time(fogcompute_memory_snapshots_total{job="service"}[10m])'
            )
            healthy["alerts"] = _query(base, "count_over_time(ALERTS[10m])")
            healthy["process_alerts"] = _query(base, "max_over_time(fogcompute_memory_alert_state[10m]) > 0")
            healthy["rule_health"] = _rule_health(base)
    finally:
        for variant, (server, _) in servers.items():
            stderr[variant] = _stop(server)
        if prometheus is not None:
            _stop(prometheus)
    for variant, error in errors.items():
        raise AssertionError(f"{variant} service: {error!r}\n{stderr[variant][-3000:]}") from error
    return outcomes


def _above_low(records):
    return [record for record in records if record["severity"] != "low"]


def test_a_healthy_service_raises_nothing(runs):
    state = runs["healthy"]["state"]
    assert state["snapshots"] >= runs["healthy"]["wanted_snapshots"] >= SNAPSHOTS, runs["healthy"]
    assert [a for a in state["alert_transitions"] if a["state"] == "firing"] == []
    assert state["active_alerts"] == []
    assert set(state["alert_states"].values()) == {0}, state["alert_states"]  # none even pending
    assert _above_low(state["detected_leaks"]) == [], state["detected_leaks"]
    assert _above_low(state["leak_events"]) == [], state["leak_events"]
    assert state["active_leaks"] == [], state["active_leaks"]
    assert [leak for leak in state["detected_leaks"] if leak["active"]] == []


def test_no_rule_holds_on_the_healthy_service_in_a_real_prometheus(runs):
    binary("prometheus")  # skips without it, fails in CI
    healthy = runs["healthy"]
    (scrapes,) = healthy["scrapes"]
    assert float(scrapes["value"][1]) >= 20, "Prometheus scraped the worker too seldom to judge"
    assert set(healthy["rule_health"]) == {
        r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
    }
    assert set(healthy["rule_health"].values()) == {"ok"}, healthy["rule_health"]
    held = [(a["metric"]["alertname"], a["metric"]["alertstate"]) for a in healthy["alerts"]]
    assert held == [], "these rules' conditions held (pending or firing)"
    # The process's own alerts, scraped as fogcompute_memory_alert_state: none ever pending either.
    assert healthy["process_alerts"] == [], healthy["process_alerts"]


def _names(leak):
    """The types a leak record names: its own, and its entries' when it is a container's."""
    return {leak["object_type"], *leak.get("entry_type", "").split(", ")}


def test_a_leaky_service_reports_its_leak_and_nothing_else(runs):
    state = runs["leaky"]["state"]
    assert state["snapshots"] >= runs["leaky"]["wanted_snapshots"] >= SNAPSHOTS, runs["leaky"]
    # The leak: a type leak, or the list holding the records reported as its leak of them.
    assert any(LEAK_TYPE in _names(leak) for leak in state["active_leaks"]), state["active_leaks"]
    others = [leak for leak in state["detected_leaks"] if LEAK_TYPE not in _names(leak)]
    assert _above_low(others) == []
    assert [e for e in _above_low(state["leak_events"]) if LEAK_TYPE not in _names(e)] == []
    assert not {leak["object_type"] for leak in others if leak["active"]} & set(CACHED_TYPES)
    assert [a for a in state["alert_transitions"] if a["state"] == "firing"] == []


def _lines_of(source: Path, *fragments: str) -> set:
    lines = source.read_text().splitlines()
    return {number for number, text in enumerate(lines, 1) if any(f in text for f in fragments)}


def test_the_leaks_line_comes_with_its_verdict(runs):
    """Within the run, a minute at most after the verdict: the line that allocates the records'
    bulk, or the one that keeps them."""
    state = runs["leaky"]["state"]
    (leak,) = [leak for leak in state["active_leaks"] if LEAK_TYPE in _names(leak)]
    wanted = _lines_of(SERVICE / "app.py", "bytes(AUDIT_BODY_BYTES)", "_audit.append(")
    found = {(Path(site["file"]).name, site["line"]) for site in leak["sites"]}
    assert {("app.py", line) for line in wanted} & found, leak["sites"]
