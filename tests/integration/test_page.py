"""The page in a real headless Chromium, against the bundled demo run under
``opentelemetry-instrument`` with the page turned on by its variable: it renders the heap chart and
the demo's leak with its owner and line, keeps updating, and runs under its own content security
policy with no external asset."""

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler, demo

from .browser import chromium
from .conftest import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE = Path(demo.__file__).read_text().splitlines()
LEAK_LINES = {
    n for n, text in enumerate(SOURCE, 1) if text.lstrip().startswith(("_forgotten.", "_seen_tokens["))
}


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory):
    """The demo serving its page on a loopback port: the page's URL."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(
        PYTHONPATH=str(REPOSITORY),
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_TRACES_EXPORTER="none",
        OTEL_PYTHON_MEMORY_PROMETHEUS_HOST="127.0.0.1",
        OTEL_PYTHON_MEMORY_PROMETHEUS_PORT=str(port),
        OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE="true",
        OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL="0.2",
        OTEL_PYTHON_MEMORY_CENSUS_BUDGET="1",
        OTEL_PYTHON_MEMORY_LEAK_WINDOW="16",
        OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS="12",
        OTEL_PYTHON_MEMORY_LEAK_SITE_WINDOW_SECONDS="1",
    )
    directory = tmp_path_factory.mktemp("demo")
    process = subprocess.Popen(
        [sys.executable, "-m", "opentelemetry_instrumentation_memory.demo", "--seconds", "300"],
        cwd=directory,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/memory"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo's page was never served"
                time.sleep(0.2)
        yield url
    finally:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def browser():
    session = chromium()
    yield session
    session.quit()


def _until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


# The leaks table's rows as the reader sees them, read in one go: the page replaces them as it updates.
ROWS = """
return [...document.querySelectorAll("#leaks tbody tr")].map((row) => Object.fromEntries(
  ["owner", "type", "severity", "growth", "retained", "holder", "line"].map(
    (name) => [name, row.querySelector("td." + name).textContent])));
"""


def _body(browser, name):
    return browser.execute_script(f"return document.body.dataset.{name} || ''")


def test_the_page_shows_the_demos_leak_with_its_owner_and_line(browser, demo_page):
    browser.get(demo_page + "?refresh=0.5")
    _until(lambda: _body(browser, "updates"), 30, "the page never read memory.json")
    assert browser.title == "Memory"
    heading = browser.find_element("id", "title").text
    assert re.fullmatch(r"Memory of pid \d+", heading), heading
    memory = browser.find_element("id", "memory").text
    assert re.search(r"MB of [\d,]+ MB \([\d.]+ %, limit from \w+\)", memory), memory

    def leak_with_a_line():
        for cells in browser.execute_script(ROWS):
            if re.search(r"demo\.py:(\d+)$", cells["line"]):
                return cells
        return None

    leak = _until(leak_with_a_line, 90, "no leak with a captured line on the page")
    assert int(leak["line"].rsplit(":", 1)[1]) in LEAK_LINES, leak
    assert re.fullmatch(r"__main__\.(_forgotten|_seen_tokens)", leak["owner"]), leak
    # A container the demo's records all sit in is reported once, naming its entries' type.
    assert re.fullmatch(r"(list|dict)( of (__main__\.LeakyRecord|bytes|str))?", leak["type"]), leak
    assert leak["severity"] in ("low", "medium", "high", "critical")
    assert re.fullmatch(r"\+[\d,]+ (objects|entries)/h", leak["growth"]), leak
    assert leak["retained"].endswith(" MB")
    assert "active leak" in browser.find_element("id", "leaks-title").text


def test_the_page_updates_its_chart_and_figures(browser, demo_page):
    browser.get(demo_page + "?refresh=0.5")
    _until(lambda: _body(browser, "snapshot") and _chart(browser)[1] >= 2, 30, "no chart drawn")
    updates, snapshot = int(_body(browser, "updates")), _body(browser, "snapshot")
    line, _ = _chart(browser)
    _until(
        lambda: int(_body(browser, "updates")) > updates + 2 and _body(browser, "snapshot") != snapshot,
        20,
        "the page stopped updating",
    )
    later, count = _chart(browser)
    assert later != line  # the heap line follows the new snapshots
    assert len(later.split()) == count >= 2
    assert "limit" in browser.find_element("id", "chart").text


def _chart(browser):
    """The heap line's points and their count, read in one go."""
    return browser.execute_script(
        "const line = document.getElementById('heap-line');"
        "const count = Number(document.getElementById('chart').dataset.points);"
        "return [line ? line.getAttribute('points') : '', count];"
    )


def test_the_page_runs_under_its_own_policy_with_no_external_asset(browser, demo_page):
    with urllib.request.urlopen(demo_page, timeout=5) as response:
        html = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert re.findall(r"\b(?:src|href)\s*=", html) == []
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"]
    browser.get(demo_page)
    _until(lambda: _body(browser, "updates"), 30, "the page never read memory.json")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert [e for e in errors if "favicon.ico" not in e["message"]] == []


def _status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(
    "page, summary, served",
    [(False, False, ()), (False, True, ("/memory.json",)), (True, False, ("/memory", "/memory.json"))],
)
def test_the_page_is_opt_in_and_brings_the_summary_it_reads(page, summary, served):
    exporter = MemoryExporter(
        host="127.0.0.1", port=0, profiler=MemoryProfiler(), page=page, summary=summary, environ={}
    )
    exporter.serve()
    try:
        base = f"http://127.0.0.1:{exporter.port}"
        for path in ("/memory", "/memory.json", "/memory/", "/memory.html"):
            assert _status(base + path) == (200 if path in served else 404), path
    finally:
        exporter.close()


def test_the_page_is_turned_on_by_its_variable():
    assert MemoryExporter(environ={"OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE": "true"}).page is True
    assert MemoryExporter(environ={}).page is False
