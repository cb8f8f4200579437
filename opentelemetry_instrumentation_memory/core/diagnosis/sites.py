"""Where is it leaking? The lines that allocated a leak's objects, as tracemalloc tells them.

A leak's own objects (instances of a leaking type, the newest entries of a leaking container) are
asked for their allocation traceback (``tracemalloc.get_object_traceback``) and ranked by line; a
leak none of whose objects can be located gets the lines whose allocations grew most between two
snapshots. The window that turns tracemalloc on for this is ``diagnosis.capture``.
"""

from __future__ import annotations

import ctypes  # imported here, not in the capture thread: a fork mid-import would stall the child
import logging
import os
import sys
import threading
import tracemalloc
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..records import AllocationSite
from ..sampling.pacing import Pacer
from ..sampling.readonly import own_size, type_flags
from .frames import site_index

_logger = logging.getLogger(__name__)
_PACKAGE_DIRECTORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Allocations left out of the lines that grew: the profiler's own (its core and OpenTelemetry layers,
# at any frame: the census's Counter, say; not the bundled demo, whose leak is the point), and those
# whose newest frame is tracemalloc's, threading's, an import's or unknown.
_OWN_LAYERS = tuple(os.path.join(_PACKAGE_DIRECTORY, layer) + os.sep for layer in ("core", "otel"))
_IGNORED_NEWEST = tuple(
    path[:-1] if path.endswith(".pyc") else path for path in (tracemalloc.__file__, threading.__file__)
)
_IGNORED_NEWEST_PREFIXES = ("<frozen importlib._bootstrap", "<unknown>")


def _ignored(traceback: tracemalloc.Traceback) -> bool:
    """By ``str``'s own methods: a file name may be a host's ``str`` subclass, whose are its code."""
    newest = traceback[-1].filename
    if any(str.__eq__(newest, path) for path in _IGNORED_NEWEST):
        return True
    if str.startswith(newest, _IGNORED_NEWEST_PREFIXES):
        return True
    return any(str.startswith(frame.filename, _OWN_LAYERS) for frame in traceback)


_INSTALLED = tuple(os.sep + name + os.sep for name in ("site-packages", "dist-packages"))


def trim_path(path: str, root: str) -> str:
    """From its package when installed (under site-packages or dist-packages, even in a virtual
    environment under ``root``), else relative to ``root`` when under it."""
    for marker in _INSTALLED:
        if marker in path:
            return path.rsplit(marker, 1)[1]
    if root and path.startswith(root.rstrip(os.sep) + os.sep):
        return os.path.relpath(path, root)
    return path


# (file, line) of a site -> [bytes, blocks, the (file, line) frames of one traceback leading to it]
_ByLine = Dict[Tuple[str, int], List]


def _add(by_line: _ByLine, traceback: tracemalloc.Traceback, size: int, count: int) -> None:
    """Book an allocation to its site line (``frames.site_index``); the profiler's own to none.
    File names are copied to plain ``str`` first (``str.__str__`` copies a subclass without calling
    it): a code object's may be a host's ``str`` subclass, whose methods and hash are its code."""
    frames = [(str.__str__(frame.filename), frame.lineno) for frame in traceback]  # oldest first
    index = site_index([file for file, _ in reversed(frames)])
    if index is None:
        return
    entry = by_line.setdefault(frames[len(frames) - 1 - index], [0, 0, frames])
    entry[0] += size
    entry[1] += count


def _ranked(by_line: _ByLine, top: int, root: str) -> Tuple[AllocationSite, ...]:
    """The ``top`` lines that grew, most bytes first (then most blocks), each with its traceback."""
    grown = [item for item in by_line.items() if item[1][0] > 0]
    ranked = sorted(grown, key=lambda item: (-item[1][0], -item[1][1]))[:top]
    return tuple(
        AllocationSite(
            trim_path(filename, root),
            line,
            size,
            count,
            tuple(f"{trim_path(file, root)}:{frame_line}" for file, frame_line in frames),
        )
        for (filename, line), (size, count, frames) in ranked
    )


def growing_sites(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int, root: str
) -> Tuple[AllocationSite, ...]:
    """The ``top`` site lines whose allocations grew most from ``before`` to ``after``. Filtered by
    traceback, not trace (``Snapshot.filter_traces`` matched every frame of every trace by pattern:
    15 s for 50,000 traces of 10 frames, holding the cycle's lock)."""
    by_line: _ByLine = {}
    for stat in after.compare_to(before, "traceback"):
        if stat.traceback and not _ignored(stat.traceback):
            _add(by_line, stat.traceback, stat.size_diff, stat.count_diff)
    return _ranked(by_line, top, root)


Locate = Callable[[Sequence[str]], Mapping[str, List[object]]]
"""Given leak keys, candidate objects of each leak (its type's instances, its container's newest
entries), youngest first; a key left out has no objects to ask (growth nobody explains)."""
Sites = Dict[str, Tuple[AllocationSite, ...]]


def _traceback_at(address: int) -> Optional[tracemalloc.Traceback]:
    """CPython 3.11's ``get_object_traceback`` misses the 16-byte pre-header of instances with a
    managed ``__dict__`` (every plain class): their allocation starts 32 bytes before the object.
    Fixed in 3.12; here the interpreter's own lookup is asked at the right address."""
    try:
        lookup = ctypes.pythonapi._PyTraceMalloc_GetTraceback
        lookup.restype = ctypes.py_object
        lookup.argtypes = (ctypes.c_uint, ctypes.c_size_t)
        frames = lookup(0, address)
    except Exception:
        return None
    return tracemalloc.Traceback(frames) if frames else None


_MANAGED_DICT = 1 << 4  # Py_TPFLAGS_MANAGED_DICT in CPython 3.11


def object_traceback(obj: object) -> Optional[tracemalloc.Traceback]:
    traceback = tracemalloc.get_object_traceback(obj)
    if traceback is None and sys.version_info[:2] == (3, 11) and type_flags(type(obj)) & _MANAGED_DICT:
        traceback = _traceback_at(id(obj) - 32)
    return traceback


def attributed_sites(objects: Sequence[object], top: int, root: str) -> Tuple[AllocationSite, ...]:
    """Where the traced ones among ``objects`` were allocated, the lines allocating most first."""
    by_line: _ByLine = {}
    pace = Pacer()
    for obj in objects:
        pace()
        traceback = object_traceback(obj)
        if traceback is not None:
            _add(by_line, traceback, own_size(obj), 1)
    return _ranked(by_line, top, root)
