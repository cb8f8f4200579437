"""The process's resident and virtual memory: the one reader the snapshots and the spans share.

``/proc/self/statm`` read in place (one ``pread``, a few microseconds); psutil where there is no
``/proc``; the peak from ``getrusage`` when psutil cannot read either. The file is reopened in a
forked child, which must describe itself, not its parent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import psutil

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

__all__ = ["ProcessMemory"]


class ProcessMemory:
    STATM = "/proc/self/statm"

    def __init__(self, on_missing: Callable[[str, BaseException], None] = lambda what, error: None) -> None:
        self._on_missing = on_missing
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._pid = -1
        self._fd: int | None = None
        self._process: psutil.Process | None = None

    def process(self) -> psutil.Process:
        """A psutil handle on the calling process (one made before a fork would describe the parent)."""
        if self._process is None or self._process.pid != os.getpid():
            self._process = psutil.Process()
        return self._process

    def read(self) -> tuple[int, int]:
        """(resident, virtual) bytes."""
        if self._pid != os.getpid():
            self._reopen()
        if self._fd is not None:
            try:
                size, resident = os.pread(self._fd, 128, 0).split()[:2]
                return int(resident) * self._page, int(size) * self._page
            except (OSError, ValueError):
                self._fd = None
        try:
            info = self.process().memory_info()
            return int(info.rss), int(info.vms)
        except (psutil.Error, OSError) as error:
            self._on_missing("process memory through psutil", error)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if resource else 0
            return peak * (1 if sys.platform == "darwin" else 1024), 0

    def resident(self) -> int:
        return self.read()[0]

    def _reopen(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)  # the parent's descriptor, inherited
            except OSError:
                pass
        self._pid = os.getpid()
        try:
            self._fd = os.open(self.STATM, os.O_RDONLY)
        except OSError:  # no /proc here: psutil answers instead
            self._fd = None
