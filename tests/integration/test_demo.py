"""The README's first command: the demo, run as a new user runs it, shows its leak once, with the
line that leaks, within its default minute."""

import os
import re
import subprocess
import sys
from pathlib import Path

from opentelemetry_instrumentation_memory import demo

from .conftest import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE = Path(demo.__file__).read_text().splitlines()
LEAKING_LINE = next(n for n, text in enumerate(SOURCE, 1) if text.lstrip().startswith("_forgotten.append("))


def test_the_demo_reports_its_leak_once_with_the_leaking_line():
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY), OTEL_EXPORTER_PROMETHEUS_PORT=str(free_port()))
    environment.pop("OTEL_PYTHON_MEMORY_DEMO_CHILD", None)
    completed = subprocess.run(
        [sys.executable, "-m", "opentelemetry_instrumentation_memory.demo"],  # its default 60 s
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    summary = completed.stdout.split("\ndetected leaks:\n", 1)[1].split("\nalerts:", 1)[0].splitlines()
    # One record for the one bug: the list of LeakyRecord, at the line that appends to it; no
    # separate record of the type.
    forgotten = [line for line in summary if "__main__._forgotten" in line]
    assert len(forgotten) == 1, summary
    assert re.fullmatch(
        rf"\s+container __main__\._forgotten of __main__\.LeakyRecord: \+\d+ at \S*demo\.py:{LEAKING_LINE}",
        forgotten[0],
    ), summary
    assert not any(line.split()[:2] == ["type", "__main__.LeakyRecord:"] for line in summary), summary
    assert f'site="opentelemetry_instrumentation_memory/demo.py:{LEAKING_LINE}"' in completed.stdout
