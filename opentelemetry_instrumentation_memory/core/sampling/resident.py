"""The process's resident and virtual memory: the one reader the snapshots and the spans share.

``/proc/self/statm`` read in place (one ``pread``, a few microseconds); psutil where there is no
``/proc``; the peak from ``getrusage`` when psutil cannot read either.

A forked child must describe itself, not its parent, and must never lose a descriptor of its own to
the reader. So the descriptor belongs to the process that opened it: it is opened lazily, once per
process, under a lock; the inherited copy is closed exactly once, in the child's at-fork hook, which
runs before any other thread exists there; a child forked without the hooks (from C) drops the
inherited number without closing it. A descriptor that fails is dropped, never closed: its number
may by then be the host's. ``read()`` never raises: it runs at every span's start.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import psutil

from . import fork

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

__all__ = ["ProcessMemory"]

_NO_PID = -1


class ProcessMemory:
    STATM = "/proc/self/statm"

    def __init__(self, on_missing: Callable[[str, BaseException], None] = lambda what, error: None) -> None:
        self._on_missing = on_missing
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        # (the process that opened the descriptor, the descriptor): read and replaced as one, so that
        # a reader never pairs one process's pid with another's descriptor.
        self._state: tuple[int, int | None] = (_NO_PID, None)
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the descriptor opened
        self._lock = threading.Lock()
        self._process: psutil.Process | None = None
        fork.register(self, restarts_threads=False)

    def process(self) -> psutil.Process:
        """A psutil handle on the calling process (one made before a fork would describe the parent)."""
        if self._process is None or self._process.pid != os.getpid():
            self._process = psutil.Process()
        return self._process

    def read(self) -> tuple[int, int]:
        """(resident, virtual) bytes; never raises."""
        try:
            pid = os.getpid()
            owner, descriptor = self._state
            if owner != pid:
                descriptor = self._open(pid)
            if descriptor is not None:
                figures = self._read_statm(pid, descriptor)
                if figures is not None:
                    return figures
            return self._read_elsewhere()
        except Exception:  # noqa: BLE001 - a span's start must not fail for its memory figure
            return 0, 0

    def resident(self) -> int:
        return self.read()[0]

    def _open(self, pid: int) -> int | None:
        """This process's descriptor, opened by the first caller; the others wait for it."""
        with self._lock:
            owner, descriptor = self._state
            if owner == pid:
                return descriptor
            # Another process's descriptor (a fork without the hooks): drop it, never close it.
            try:
                descriptor = os.open(self.STATM, os.O_RDONLY | os.O_CLOEXEC)
                status = os.fstat(descriptor)
                self._identity = (status.st_dev, status.st_ino)
            except OSError:  # no /proc here: psutil answers instead
                descriptor = None
            self._state = (pid, descriptor)
            return descriptor

    def _read_statm(self, pid: int, descriptor: int) -> tuple[int, int] | None:
        try:
            fields = os.pread(descriptor, 128, 0).split()
            size, resident = int(fields[0]), int(fields[1])
        except (OSError, ValueError, IndexError):
            fields = None
        if fields is None or size <= 0 or resident <= 0:
            with self._lock:
                if self._state == (pid, descriptor):
                    self._state = (pid, None)  # dropped, not closed: the number may be the host's now
            return None
        return resident * self._page, size * self._page

    def _read_elsewhere(self) -> tuple[int, int]:
        try:
            info = self.process().memory_info()
            return int(info.rss), int(info.vms)
        except Exception as error:  # noqa: BLE001 - psutil.Error, OSError, or a broken platform
            self._on_missing("process memory through psutil", error)
        try:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if resource else 0
        except (OSError, ValueError):
            peak = 0
        return peak * (1 if sys.platform == "darwin" else 1024), 0

    def after_fork_in_child(self) -> None:
        """Runs in the child before any other thread exists: the inherited copy of the parent's
        descriptor is closed here, once, and the lock (which a parent's thread may have held at the
        fork) is renewed. The child opens its own on its first read. The number is closed only if it
        still names the file the parent opened (the host may have closed it and reused the number)."""
        self._lock = threading.Lock()
        owner, descriptor = self._state
        self._state = (_NO_PID, None)
        if descriptor is None or owner == os.getpid():
            return
        try:
            status = os.fstat(descriptor)
            if (status.st_dev, status.st_ino) == self._identity:
                os.close(descriptor)
        except OSError:
            pass
