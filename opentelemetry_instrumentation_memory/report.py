"""The terminal report of a live process: ``python -m opentelemetry_instrumentation_memory report URL``.

It reads the JSON summary the process serves beside its metrics (``/memory.json``, opted into with
``OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY=true``: otel/summary.py) and prints memory against the limit,
the time to it, and each active leak: kind, owner path, object type, severity, growth per hour,
retained MB, holder and line. ``--watch`` prints it again every few seconds. Standard library only:
it runs wherever the process's endpoint is reachable.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Optional, TextIO

__all__ = ["fetch", "render", "run", "summary_url"]

SUMMARY_PATH = "/memory.json"
MAX_BYTES = 1 << 20  # a summary is a few KB: 20 leaks of labels bounded to 256 characters
TIMEOUT_SECONDS = 5.0
_CLEAR = "\033[H\033[2J"


class ReportError(Exception):
    """The summary could not be read; the message says why and what to do."""


def summary_url(url: str) -> str:
    """The summary's address from what a user would paste: the endpoint, its /metrics, or the summary."""
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url must be an http(s) address such as http://localhost:9202, got {url!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/metrics"):
        path = path[: -len("/metrics")]
    if not path.endswith(SUMMARY_PATH):
        path += SUMMARY_PATH
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def fetch(url: str, timeout: float = TIMEOUT_SECONDS) -> Dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise ReportError(
                f"{url}: 404, the process serves no summary; start it with "
                "OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY=true (on its own endpoint: "
                "OTEL_PYTHON_MEMORY_PROMETHEUS_PORT)"
            ) from None
        raise ReportError(f"{url}: HTTP {error.code}") from None
    except (OSError, ValueError) as error:
        raise ReportError(f"{url}: {getattr(error, 'reason', error)}") from None
    if len(body) > MAX_BYTES:
        raise ReportError(f"{url}: more than {MAX_BYTES} bytes, not a summary")
    try:
        found = json.loads(body)
    except ValueError:
        raise ReportError(f"{url}: not a JSON summary") from None
    if not isinstance(found, dict) or found.get("version") != 1:
        raise ReportError(f"{url}: not a summary of a version this report reads")
    return found


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "not growing toward the limit"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min to the limit at the current trend"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h to the limit at the current trend"
    return f"{seconds / 86400:.1f} days to the limit at the current trend"


def _leak_lines(leak: Dict[str, Any]) -> List[str]:
    container = leak.get("kind") == "container"
    unit = {"container": "entries", "unattributed": "KiB"}.get(leak.get("kind", ""), "objects")
    owner = leak.get("owner") or "(not found)"
    return [
        f"  [{leak.get('severity', '?')}] {leak.get('kind', '?')} {leak.get('leak', '?')}",
        f"      owner path  {leak.get('leak') if container else owner}",
        f"      object type {leak.get('object_type') or '?'}",
        *([f"      entries of  {leak['entry_type']}"] if leak.get("entry_type") else []),
        f"      growth      {leak.get('growth_per_hour', 0):+,.0f} {unit}/h, "
        f"{leak.get('retained_mb', 0):,.1f} MB retained",
        f"      held by     {owner}",
        f"      line        {leak.get('site') or '(not captured yet)'}",
    ]


def render(summary: Dict[str, Any], source: str) -> str:
    """The report as text, from a summary read at ``source``."""
    lines = [f"memory of pid {summary.get('pid', '?')} at {source}"]
    memory = summary.get("memory")
    if memory is None:
        lines.append("  no snapshot yet")
    else:
        taken = time.strftime("%H:%M:%S", time.localtime(memory["timestamp"]))
        lines.append(
            f"  {memory['heap_used_mb']:,.1f} MB of {memory['heap_size_mb']:,.0f} MB "
            f"({memory['heap_percent']:.1f} %, limit from {memory['limit_source']}) at {taken}"
        )
        lines.append(f"  {_duration(memory.get('time_to_limit_seconds'))}")
    leaks = summary.get("leaks") or []
    lines.append("")
    lines.append(f"{len(leaks)} active leak{'' if len(leaks) == 1 else 's'}" + (":" if leaks else ""))
    for leak in leaks:
        lines.extend(_leak_lines(leak))
    return "\n".join(lines) + "\n"


def run(
    url: str,
    watch: Optional[float] = None,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the report once, or every ``watch`` seconds until interrupted; the exit status."""
    address = summary_url(url)
    while True:
        try:
            text = render(fetch(address), address)
        except ReportError as error:
            if watch is None:
                print(f"report: {error}", file=sys.stderr)
                return 1
            text = f"report: {error}\n"
        if watch is not None and out.isatty():
            out.write(_CLEAR)
        out.write(text)
        out.flush()
        if watch is None:
            return 0
        try:
            sleep(watch)
        except KeyboardInterrupt:
            return 0
