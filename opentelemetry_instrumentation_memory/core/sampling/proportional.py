"""The process's proportional and unique set sizes (PSS, USS): which process of a container holds what.

A forked worker shares its parent's pages until either writes them, so the RSS of four gunicorn
workers adds up to far more than their container holds. PSS splits each shared page among the
processes that map it (the PSS of a container's processes adds up to what they hold); USS counts the
pages no other process maps (what the process's exit would free).

Read from ``/proc/self/smaps_rollup`` (Linux 4.14+): one file, about 1 KiB, which the kernel builds by
walking the process's page tables, so its cost grows with the resident memory: about 2.2 ms for a
1 GB process here, 0.05 ms for a 15 MB one. Hence a reading at most every ``interval`` seconds (30 by
default), the last one carried by the snapshots between. Elsewhere psutil's ``memory_full_info()``
(the full ``/proc/<pid>/smaps`` on older Linux kernels; USS alone on macOS and Windows).

Fork-safe without a hook: no descriptor or lock is kept, ``/proc/self`` is opened afresh for each
reading, and a reading belongs to the pid that made it, so a forked child reads its own at once.
``read()`` never raises, and says once per process what cannot be read.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Optional, Set, Tuple

import psutil

__all__ = ["DEFAULT_INTERVAL", "SMAPS_ROLLUP", "ProportionalMemory"]

_logger = logging.getLogger(__name__)

SMAPS_ROLLUP = "/proc/self/smaps_rollup"
DEFAULT_INTERVAL = 30.0
_MAX_READ = 16 * 1024  # the rollup is about 1 KiB
_PRIVATE = ("Private_Clean", "Private_Dirty", "Private_Hugetlb")  # psutil's USS on Linux, the same sum

Reading = Tuple[Optional[int], Optional[int]]  # (pss, uss) bytes
_NOTHING: Reading = (None, None)
_NOT_EXPORTED = "what it cannot read of the process's PSS and USS is not exported"


def parse_rollup(data: bytes) -> Reading:
    """(pss, uss) bytes from ``smaps_rollup``'s ``Name:  N kB`` lines; None for a figure not there."""
    fields = {}
    for line in data.split(b"\n"):
        name, _, rest = line.partition(b":")
        value = rest.split()
        if len(value) == 2 and value[1] == b"kB" and value[0].isdigit() and len(value[0]) <= 16:
            fields[name.decode("ascii", "replace")] = int(value[0]) * 1024
    pss = fields.get("Pss")
    private = [fields[name] for name in _PRIVATE if name in fields]
    uss = sum(private) if "Private_Clean" in fields and "Private_Dirty" in fields else None
    return pss, uss


class ProportionalMemory:
    """The calling process's (pss, uss), read at most every ``interval`` seconds."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        path: str = SMAPS_ROLLUP,
        clock: Callable[[], float] = time.monotonic,
        process: Callable[[], psutil.Process] = psutil.Process,
    ) -> None:
        self.interval = interval
        self._path = path
        self._clock = clock
        self._new_process = process
        # (pid, when read, reading): replaced as one, so a reading is never another process's
        self._last: Tuple[int, float, Reading] = (-1, 0.0, _NOTHING)
        self._said: Tuple[int, Set[str]] = (-1, set())
        self._process: Optional[psutil.Process] = None
        self.reads = 0  # readings made (not those carried): for the tests and the cost figure

    def _say(self, pid: int, what: str, error: BaseException, then: str = _NOT_EXPORTED) -> None:
        """Once per process and ``what``: a forked child says it again, of itself."""
        owner, said = self._said
        if owner != pid:
            said = set()
            self._said = (pid, said)
        if what not in said:
            said.add(what)
            _logger.warning("memory profiler cannot read %s (%r); %s", what, error, then)

    def read(self) -> Reading:
        """The last reading of this process, made now when older than ``interval`` (or when made by
        another process: the parent of a fork); (None, None) where neither figure can be read."""
        try:
            pid = os.getpid()
            now = self._clock()
            owner, read_at, reading = self._last
            if owner == pid and now - read_at < self.interval:
                return reading
            self.reads += 1
            reading = self._read_rollup(pid)
            if reading[0] is None or reading[1] is None:
                fallback = self._read_psutil(pid)
                reading = (
                    reading[0] if reading[0] is not None else fallback[0],
                    reading[1] if reading[1] is not None else fallback[1],
                )
            self._last = (pid, now, reading)
            return reading
        except Exception as error:  # noqa: BLE001 - never worth an exception in the loop
            self._say(os.getpid(), "PSS and USS", error)
            return _NOTHING

    def _read_rollup(self, pid: int) -> Reading:
        try:
            with open(self._path, "rb", buffering=0) as handle:
                data = handle.read(_MAX_READ)
        except OSError as error:
            self._say(pid, self._path, error, "PSS and USS from psutil instead")
            return _NOTHING
        reading = parse_rollup(data)
        if reading[0] is None or reading[1] is None:
            self._say(pid, self._path, ValueError("no Pss or Private_* lines"), "psutil fills the gaps")
        return reading

    def _read_psutil(self, pid: int) -> Reading:
        try:
            if self._process is None or self._process.pid != pid:
                self._process = self._new_process()
            info = self._process.memory_full_info()
        except Exception as error:  # noqa: BLE001 - psutil.Error, OSError, NotImplementedError
            self._say(pid, "psutil's memory_full_info()", error)
            return _NOTHING
        pss, uss = getattr(info, "pss", None), getattr(info, "uss", None)
        return (None if pss is None else int(pss)), (None if uss is None else int(uss))
