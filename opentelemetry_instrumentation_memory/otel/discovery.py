"""Prometheus file-based service discovery: each serving process announces its endpoint in a file.

With ``OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR`` set, a process that serves the package's endpoint
writes ``otel-memory-<pid>.json`` there (Prometheus's ``file_sd_configs`` format), atomically, and
removes it when it stops serving or exits. A process killed outright cannot: whoever writes next
removes the files of processes that are gone. Prometheus then scrapes the live workers only, instead
of every port of a range.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Mapping

from ..core.dispatch import RateLimitedLog
from ..core.sampling import fork
from ..environment_variables import OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR

_logger = logging.getLogger(__name__)
_rate_limited = RateLimitedLog(_logger)
_FILE = re.compile(r"^otel-memory-(\d+)\.json$")
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})

# The file this process wrote, by pid: a forked child inherits the table, never the parent's file.
_written: dict[int, str] = {}
_written_lock = threading.Lock()


def directory(environ: Mapping[str, str] = os.environ) -> str | None:
    return environ.get(OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR, "").strip() or None


def announce(sd_directory: str, host: str, port: int, labels: Mapping[str, str]) -> None:
    """Writes this process's target file, and removes those of processes that are gone; a failure
    is logged (at most once a minute), never raised."""
    target_host = socket.gethostname() if host in _WILDCARDS else host
    address = f"[{target_host}]:{port}" if ":" in target_host else f"{target_host}:{port}"
    path = os.path.join(sd_directory, f"otel-memory-{os.getpid()}.json")
    try:
        _remove_stale(sd_directory)
        temporary = f"{path}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump([{"targets": [address], "labels": dict(labels)}], handle)
        os.replace(temporary, path)
    except OSError as error:
        _rate_limited.log(
            logging.WARNING,
            "write",
            "cannot announce the memory metrics endpoint in %s=%s: %s",
            OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR,
            sd_directory,
            error,
        )
        return
    with _written_lock:
        _written[os.getpid()] = path


def withdraw() -> None:
    """Removes this process's target file, if it wrote one."""
    with _written_lock:
        path = _written.pop(os.getpid(), None)
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


def _remove_stale(sd_directory: str) -> None:
    for name in os.listdir(sd_directory):
        match = _FILE.match(name)
        if match and not _alive(int(match.group(1))):
            try:
                os.unlink(os.path.join(sd_directory, name))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _renew_lock_in_child() -> None:
    global _written_lock
    _written_lock = threading.Lock()


atexit.register(withdraw)
fork.register_function(_renew_lock_in_child)
