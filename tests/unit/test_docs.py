"""docs/ stays true to the code: every variable and every metric is documented."""

from pathlib import Path

from opentelemetry_instrumentation_memory import environment_variables
from opentelemetry_instrumentation_memory.otel.metrics import COUNTER, INSTRUMENTS, PREFIX

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_quick_start_documents_every_environment_variable():
    text = (DOCS / "MEMORY_PROFILING_QUICK_START.md").read_text()
    for name in dir(environment_variables):
        if name.startswith("OTEL_PYTHON_MEMORY_"):
            assert f"`{name}`" in text, name


def test_quick_start_documents_every_metric_with_its_unit():
    text = (DOCS / "MEMORY_PROFILING_QUICK_START.md").read_text()
    for spec in INSTRUMENTS:
        name = PREFIX + spec.name + ("_total" if spec.kind == COUNTER else "")
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, name
        assert f"| {'counter' if spec.kind == COUNTER else 'gauge'} |" in row, name
        assert (f"`{spec.unit}`" if spec.unit else "| gauge | |") in row, name
