"""The memory limit a process really runs against: its cgroup's, when lower than physical memory.

A containerised process killed at 512 MiB must see its usage against 512 MiB, not against the host.
Every path is read under ``root`` so that tests can lay out cgroup v1 and v2 trees as fixture files.
"""

from __future__ import annotations

import codecs
import os
from typing import Callable, Iterator, List, Optional, Tuple

import psutil

from ..records import MemoryLimit

__all__ = ["MemoryLimit", "effective_memory_limit"]

SOURCE_CGROUP_V2 = "cgroup_v2"
SOURCE_CGROUP_V1 = "cgroup_v1"
SOURCE_PHYSICAL = "physical"


def physical_memory() -> int:
    """Bytes of physical memory: the one reader both the limit and its fallback use."""
    try:
        return int(psutil.virtual_memory().total)
    except Exception:
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return 0


# The codec is found now, at import: looked up first from the loop thread, its module import could
# be under way when the host forks, and the child's loop would wait on that import's lock forever.
_ENCODING = codecs.lookup("ascii").name


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding=_ENCODING) as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _parse_limit(text: Optional[str]) -> Optional[int]:
    """Bytes, or None for "max", a missing file, or anything unreadable."""
    if text is None or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None


Reader = Callable[[str], Optional[str]]


def _cgroup_paths(root: str, read: Reader = _read) -> Tuple[Optional[str], Optional[str]]:
    """The process's cgroup v2 path and its v1 memory-controller path, from /proc/self/cgroup."""
    v2 = v1 = None
    for line in (read(os.path.join(root, "proc/self/cgroup")) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _mounts(root: str, filesystem: str, option: Optional[str], read: Reader = _read) -> List[Tuple[str, str]]:
    """(cgroup root inside the mount, mount point) for mounts of ``filesystem`` carrying ``option``."""
    found = []
    for line in (read(os.path.join(root, "proc/self/mountinfo")) or "").splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        if len(after) < 3 or after[0] != filesystem:
            continue
        if option is None or option in after[2].split(","):
            found.append((fields[3], fields[4]))
    return found


def _directories(root: str, cgroup_path: str, mounts: List[Tuple[str, str]]) -> Iterator[str]:
    """The cgroup's directory and its ancestors up to the mount point: a parent's limit binds too."""
    for mount_root, mount_point in mounts:
        relative = cgroup_path
        if mount_root != "/" and (relative == mount_root or relative.startswith(mount_root + "/")):
            relative = relative[len(mount_root) :]
        parts = [part for part in relative.split("/") if part]
        for depth in range(len(parts), -1, -1):
            yield os.path.join(root, mount_point.lstrip("/"), *parts[:depth])


def _lowest(directories: Iterator[str], filename: str) -> Optional[int]:
    limits = [_parse_limit(_read(os.path.join(directory, filename))) for directory in directories]
    return min((limit for limit in limits if limit is not None), default=None)


def effective_memory_limit(
    root: str = "/", physical_bytes: Optional[Callable[[], int]] = None
) -> MemoryLimit:
    """The lowest of the cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes`` and physical memory."""
    physical = (physical_bytes or physical_memory)()
    v2_path, v1_path = _cgroup_paths(root)
    candidates = [MemoryLimit(physical, SOURCE_PHYSICAL)]
    if v2_path is not None:
        limit = _lowest(_directories(root, v2_path, _mounts(root, "cgroup2", None)), "memory.max")
        if limit is not None:
            candidates.append(MemoryLimit(limit, SOURCE_CGROUP_V2))
    if v1_path is not None:
        directories = _directories(root, v1_path, _mounts(root, "cgroup", "memory"))
        limit = _lowest(directories, "memory.limit_in_bytes")
        if limit is not None:
            candidates.append(MemoryLimit(limit, SOURCE_CGROUP_V1))
    # Ties go to physical: an "unlimited" cgroup that merely equals the host is no real limit.
    return min(candidates, key=lambda candidate: candidate.bytes)
