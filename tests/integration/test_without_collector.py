"""The README's settings for running under ``opentelemetry-instrument`` without a Collector, read off
the README and run for real: leak records print on the console, nothing tries localhost:4317, and
the page and the report show the leak on the package's own endpoint."""

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .conftest import free_port
from .test_auto_instrumentation import APP, FAST, opentelemetry_instrument

REPOSITORY = Path(__file__).resolve().parents[2]


def readme_settings():
    """The variables the README's "Without a Collector" command sets."""
    section = (REPOSITORY / "README.md").read_text().split("## Without a Collector", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return dict(re.findall(r"\b(OTEL_[A-Z_]+)=(\S+)", block))


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except OSError:
        return None, ""


def test_the_readmes_settings_without_a_collector(tmp_path):
    settings = readme_settings()
    assert settings["OTEL_LOGS_EXPORTER"] == "console"
    assert settings["OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE"] == "true"
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(settings)
    environment.update(
        FAST,
        PYTHONPATH=str(REPOSITORY),
        APP_SECONDS="8",
        OTEL_PYTHON_MEMORY_PROMETHEUS_HOST="127.0.0.1",
        OTEL_PYTHON_MEMORY_PROMETHEUS_PORT=str(port),
    )
    app = subprocess.Popen(
        [opentelemetry_instrument(), sys.executable, "app.py"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 7
        report = ""
        while time.monotonic() < deadline and "__main__.Leaky" not in report:
            time.sleep(0.3)
            report = subprocess.run(
                [sys.executable, "-m", "opentelemetry_instrumentation_memory", "report", base],
                env=environment,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        page, metrics = _get(base + "/memory"), _get(base + "/metrics")
        stdout, stderr = app.communicate(timeout=60)
    finally:
        app.kill()
    # One record: the list the Leaky objects sit in, as its leak of them.
    assert "] container __main__.kept" in report and "entries of  __main__.Leaky" in report, report
    assert page[0] == 200 and "<svg" in page[1]
    assert metrics[0] == 200 and "fogcompute_memory_heap_used_mb" in metrics[1]
    assert "memory leak: __main__.kept (list of __main__.Leaky)" in stdout, stdout[-3000:]
    assert '"fogcompute.memory.leak.entry_type": "__main__.Leaky"' in stdout
    assert "Failed to export" not in stderr and "4317" not in stderr, stderr[-3000:]
