"""The memory of the process's cgroup, as the kernel charges it against the limit: what the OOM killer
reads, where a process's RSS is only its share.

The cgroup is found as limits.py finds the limit (v2 first, then v1's memory controller), once per
process: a forked child finds its own. Each reading is a few small files read once, each at most
``MAX_READ`` bytes; ``read()`` never raises, and says once per process why it has nothing.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Set, Tuple

from ..records import ContainerMemory
from .limits import (
    _ENCODING,
    SOURCE_CGROUP_V1,
    SOURCE_CGROUP_V2,
    _cgroup_paths,
    _directories,
    _mounts,
)

__all__ = ["MAX_READ", "ContainerMemoryReader"]

_logger = logging.getLogger(__name__)

MAX_READ = 64 * 1024  # a cgroup's memory.stat is about 2 KiB; nothing here is read past this
_USAGE = {SOURCE_CGROUP_V2: "memory.current", SOURCE_CGROUP_V1: "memory.usage_in_bytes"}
# v2 kernels before `kernel` (5.18): what the cgroup charges that is neither anon nor file pages.
_V2_KERNEL_PARTS = ("kernel_stack", "pagetables", "percpu", "sock", "vmalloc")


def _read(path: str, whole: bool = False) -> Optional[str]:
    """The complete lines among the first ``MAX_READ`` bytes of ``path``; None when unreadable, not
    ASCII, or (``whole``) longer than that."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_READ + 1)
        if len(data) > MAX_READ:
            if whole:
                return None
            data = data[: data.rfind(b"\n", 0, MAX_READ) + 1]
        return data.decode(_ENCODING)
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _number(text: Optional[str]) -> Optional[int]:
    text = None if text is None else text.strip()
    return int(text) if text and len(text) <= 20 and text.isdigit() else None


def _stat(text: Optional[str]) -> Dict[str, int]:
    """``memory.stat``'s "name bytes" lines; malformed lines are skipped."""
    stat = {}
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        number = _number(value)
        if number is not None:
            stat[name] = number
    return stat


def _first(stat: Dict[str, int], *names: str) -> Optional[int]:
    return next((stat[name] for name in names if name in stat), None)


def _v2_kernel(stat: Dict[str, int]) -> Optional[int]:
    if "kernel" in stat:
        return stat["kernel"]
    slab = _first(stat, "slab")
    if slab is None and "slab_reclaimable" in stat:
        slab = stat["slab_reclaimable"] + stat.get("slab_unreclaimable", 0)
    parts = [stat[name] for name in _V2_KERNEL_PARTS if name in stat] + ([] if slab is None else [slab])
    return sum(parts) if parts else None


class ContainerMemoryReader:
    """Reads the cgroup of the calling process; ``root`` lets tests lay cgroup trees out as files."""

    def __init__(self, root: str = "/") -> None:
        self._root = root
        self._found: Tuple[int, Optional[Tuple[str, str]]] = (-1, None)  # (pid, (source, directory))
        self._said: Set[str] = set()

    def _say(self, what: str, level: int = logging.WARNING) -> None:
        if what not in self._said:
            self._said.add(what)
            _logger.log(level, "memory profiler: %s; no container memory figures", what)

    def _resolve(self) -> Optional[Tuple[str, str]]:
        """(source, directory) of the cgroup the kernel charges this process's memory to."""
        v2, v1 = _cgroup_paths(self._root, _read)
        for source, path, filesystem, option in (
            (SOURCE_CGROUP_V2, v2, "cgroup2", None),
            (SOURCE_CGROUP_V1, v1, "cgroup", "memory"),
        ):
            if path is None:
                continue
            for mount in _mounts(self._root, filesystem, option, _read):
                directory = next(_directories(self._root, path, [mount]))  # its own, not a parent
                if os.path.isfile(os.path.join(directory, _USAGE[source])):
                    return source, directory
        return None

    def read(self) -> Optional[ContainerMemory]:
        """The cgroup's usage and breakdown now, or None (said once); never raises."""
        try:
            pid = os.getpid()
            owner, found = self._found
            if owner != pid:
                found = self._resolve()
                self._found = (pid, found)
                if found is None:
                    self._say("no cgroup with memory accounting found", logging.INFO)
            if found is None:
                return None
            source, directory = found
            reading = self._reading(source, directory)
            if reading is None:
                self._found = (-1, None)  # moved or removed: found again at the next reading
                self._say(f"cannot read {os.path.join(directory, _USAGE[source])}")
            return reading
        except Exception as error:  # a reading is never worth an exception in the loop
            self._say(f"cannot read the cgroup's memory ({error!r})")
            return None

    def _reading(self, source: str, directory: str) -> Optional[ContainerMemory]:
        usage = _number(_read(os.path.join(directory, _USAGE[source]), whole=True))
        if usage is None:
            return None
        stat = _stat(_read(os.path.join(directory, "memory.stat")))
        if source == SOURCE_CGROUP_V2:
            inactive_file = _first(stat, "inactive_file")
            anon, file, shmem = _first(stat, "anon"), _first(stat, "file"), _first(stat, "shmem")
            kernel = _v2_kernel(stat)
        else:  # total_*: the cgroup and its descendants, as usage_in_bytes counts them
            inactive_file = _first(stat, "total_inactive_file", "inactive_file")
            anon, file = _first(stat, "total_rss", "rss"), _first(stat, "total_cache", "cache")
            shmem = _first(stat, "total_shmem", "shmem")
            kernel = _number(_read(os.path.join(directory, "memory.kmem.usage_in_bytes"), whole=True))
        # The kubelet's working set: usage less inactive file pages, never below zero.
        working_set = None if inactive_file is None else max(0, usage - inactive_file)
        return ContainerMemory(source, usage, working_set, anon, file, kernel, shmem)
