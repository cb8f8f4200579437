"""End to end with a real Prometheus (Debian's package) scraping a real instrumented process."""

import json
import re
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from opentelemetry_instrumentation_memory.core.analysis.signals import AlertSignals
from opentelemetry_instrumentation_memory.otel.metrics import COUNTER, INSTRUMENTS, PREFIX

from .conftest import free_port
from .promtool import MONITORING, RULES, binary, substitute_grafana_variables

APP = textwrap.dedent(
    """
    import sys, time
    from opentelemetry_instrumentation_memory import MemoryInstrumentor

    class Leaky:
        pass

    MemoryInstrumentor().instrument(
        prometheus_port=int(sys.argv[1]), prometheus_host="127.0.0.1",
        snapshot_interval=0.2, census_budget=1.0, leak_window=16, leak_min_snapshots=12, warmup_seconds=1,
        leak_alert_severity="low",
    )
    kept = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        kept.extend(Leaky() for _ in range(100))
        time.sleep(0.05)
    """
)


WINDOWED = set(AlertSignals().update(0.0, 0.0, 0, 0.0, False))  # figures read over minutes


def api(base, path, **params):
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def eventually(check, timeout=60.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    prometheus = binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    app_port, web_port = free_port(), free_port()
    script = workdir / "app.py"
    script.write_text(APP)
    app = subprocess.Popen([sys.executable, str(script), str(app_port)], stderr=subprocess.PIPE, text=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "memory-profiler", "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:

        def scraped():
            """the target is up and its series are in"""
            result = api(base, "query", query='up{job="memory-profiler"} == 1')["data"]["result"]
            leaks = api(base, "query", query="fogcompute_memory_snapshots_total")["data"]["result"]
            return result and leaks

        eventually(scraped, timeout=60)
        time.sleep(3)  # a few more scrapes, so rates and slopes have points
        yield base
    finally:
        for process in (server, app):
            process.kill()
            process.wait()


def instant(base, query):
    answer = api(base, "query", query=query)
    assert answer["status"] == "success", (query, answer)
    return answer["data"]["result"]


def without_final_comparison(expr):
    """The expression with every threshold read as ``bool``: what must return series (0 or 1) for
    every process even when nothing breaches."""
    return re.sub(r"\s([<>]=?)\s(?!bool)", r" \1 bool ", expr)


def test_every_family_is_ingested(stack):
    names = {
        r["metric"]["__name__"]
        for r in instant(stack, 'group by (__name__) ({__name__=~"fogcompute_memory_.+"})')
    }
    # A leaking process grows, so even the forecast, absent on a quiet heap, is there. The windowed
    # figures need minutes (five of them, or ten after the warm-up): test_alert_agreement exports them.
    expected = {
        PREFIX + spec.name + ("_total" if spec.kind == COUNTER else "")
        for spec in INSTRUMENTS
        if spec.name not in WINDOWED
    }
    assert expected <= names


def test_every_dashboard_query_evaluates_and_returns_series(stack):
    board = json.loads((MONITORING / "grafana" / "dashboards" / "memory-profiling.json").read_text())
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            query = substitute_grafana_variables(target["expr"])
            instant(stack, query)
            if "span_rss_delta" in query:
                continue  # series only with the opt-in MemorySpanProcessor, which this process lacks
            assert instant(stack, without_final_comparison(query)), (panel["title"], query)


def test_every_rule_expression_evaluates_and_returns_series(stack):
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            instant(stack, rule["expr"])
            if any(PREFIX + name in rule["expr"] for name in WINDOWED):
                continue  # its figure needs minutes of readings first
            series = instant(stack, without_final_comparison(rule["expr"]))
            assert series, rule["alert"]
            assert {tuple(sorted(s["metric"])) for s in series} == {("instance", "job")}, rule["alert"]


def test_a_leaking_process_makes_the_leak_alert_pending(stack):
    def leak_alert():
        """MemoryLeakDetected is pending or firing"""
        alerts = api(stack, "alerts")["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "MemoryLeakDetected"]

    (alert,) = eventually(leak_alert, timeout=60)
    assert alert["state"] in ("pending", "firing")
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["job"] == "memory-profiler"
    assert float(alert["value"]) >= 1
    assert instant(stack, "fogcompute_memory_active_leaks > 0")
