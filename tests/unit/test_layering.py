"""The house rules, read off the source: core/ knows nothing of OpenTelemetry, the analysis depends only
on data, and the records import nothing of the runtime."""

import ast
import pathlib

import pytest

import opentelemetry_instrumentation_memory as package

PACKAGE = pathlib.Path(package.__file__).parent


def imported_modules(path: pathlib.Path):
    """Absolute names of every module ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + (1 if path.name == "__init__.py" else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
                yield module
                if not node.module:
                    yield from (f"{module}.{alias.name}" for alias in node.names)
            else:
                yield node.module


def modules_under(folder: str):
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules_under("core"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_imports_no_opentelemetry(path):
    offending = [m for m in imported_modules(path) if m.split(".")[0] == "opentelemetry"]
    assert not offending, f"{path.relative_to(PACKAGE)} imports {offending}"


@pytest.mark.parametrize("path", modules_under("core/analysis"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_analysis_imports_no_sampling_machinery(path):
    forbidden = {"psutil", "tracemalloc", "threading", "gc", "os"}
    own = package.__name__ + ".core."
    offending = [
        m
        for m in imported_modules(path)
        if m.split(".")[0] in forbidden
        or (m.startswith(own) and m.split(".")[2] in ("sampling", "diagnosis", "profiler", "dispatch"))
    ]
    assert not offending, f"{path.relative_to(PACKAGE)} imports {offending}"


def test_records_import_nothing_of_the_runtime():
    imported = set(imported_modules(PACKAGE / "core" / "records.py"))
    assert imported <= {"__future__", "collections.abc", "dataclasses", "typing"}, imported


def test_the_rules_see_relative_imports():
    """The checks above would pass vacuously if relative imports were not resolved."""
    imported = set(imported_modules(PACKAGE / "core" / "analysis" / "state.py"))
    assert package.__name__ + ".core.records" in imported
    imported = set(imported_modules(PACKAGE / "otel" / "metrics.py"))
    assert package.__name__ + ".core.profiler" in imported
