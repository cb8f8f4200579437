"""Importing the package loads no OpenTelemetry, and prometheus_client and the SDK's Prometheus reader
load only when the package's own endpoint is used; every public name still resolves. Each case runs
in a fresh interpreter, where nothing was imported before."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import opentelemetry_instrumentation_memory as package

REPOSITORY = Path(__file__).resolve().parents[2]
PROMETHEUS = "('prometheus_client', 'opentelemetry.exporter.prometheus')"


def _run(code):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment["PYTHONPATH"] = str(REPOSITORY)
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split()


LOADED = "print(sorted(m for m in sys.modules if m.startswith(('prometheus_client', 'opentelemetry.'))))"


def test_importing_the_package_loads_no_opentelemetry():
    assert _run(f"import sys, opentelemetry_instrumentation_memory\n{LOADED}") == ["[]"]


def test_instrumenting_without_an_endpoint_loads_no_prometheus():
    code = f"""
    import sys
    from opentelemetry_instrumentation_memory import MemoryInstrumentor
    MemoryInstrumentor().instrument()
    print(any(m.startswith({PROMETHEUS}) for m in sys.modules))
    MemoryInstrumentor().uninstrument()
    MemoryInstrumentor().instrument(prometheus_host="127.0.0.1", prometheus_port=0)
    print(any(m.startswith({PROMETHEUS}) for m in sys.modules))
    MemoryInstrumentor().uninstrument()
    """
    assert _run(code) == ["False", "True"]


def test_every_public_name_resolves_lazily_or_not():
    code = """
    import opentelemetry_instrumentation_memory as package
    from opentelemetry_instrumentation_memory import *
    from opentelemetry_instrumentation_memory.otel.exporter import MemoryExporter as exporter
    print(package.MemoryExporter is exporter is MemoryExporter)
    print(set(package.__all__) <= set(dir(package)))
    print(all(getattr(package, name) is not None for name in package.__all__))
    """
    assert _run(code) == ["True", "True", "True"]


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'MemoryExporters'"):
        package.MemoryExporters  # noqa: B018
