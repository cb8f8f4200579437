"""Finding Prometheus and promtool: a test may skip when they are missing, except in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

import pytest

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
RULES = MONITORING / "alerting" / "memory_alerts.yml"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run installs Debian's prometheus package")
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return path


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), *args], cwd=cwd, capture_output=True, text=True)


def substitute_grafana_variables(expr: str) -> str:
    """A dashboard query as Prometheus would receive it from Grafana with "All" selected."""
    return expr.replace('"$job"', '".+"').replace('"$instance"', '".+"').replace("$__rate_interval", "1m")


def check_expressions_parse(expressions: Iterable[str]) -> subprocess.CompletedProcess:
    """``promtool check rules`` on recording rules made of the expressions: it parses every one."""
    lines = ["groups:", "  - name: parse-check", "    rules:"]
    for index, expr in enumerate(expressions):
        quoted = expr.replace("'", "''")
        lines += [f"      - record: parse_check_{index}", f"        expr: '{quoted}'"]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
    try:
        return promtool("check", "rules", handle.name)
    finally:
        os.unlink(handle.name)
