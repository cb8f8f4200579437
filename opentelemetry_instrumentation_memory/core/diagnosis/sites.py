"""Where is it leaking? tracemalloc for a short window after a leak is found.

tracemalloc slows allocation several times over, so it stays off; when a leak is detected, a capture
turns it on (unless it already runs) for ``window`` seconds. Before turning it off again, it asks
where each leak's own objects that appeared meanwhile were allocated
(``tracemalloc.get_object_traceback``): instances of a leaking type, the newest entries of a leaking
container. Each leak gets only its own sites; a leak none of whose objects can be located (growth
nobody explains) gets the lines whose allocations grew most over the window. No new capture starts
before ``cooldown`` has passed, however many leaks are found meanwhile.

A child forked during a capture has no capture thread to turn tracemalloc off again: it does so
itself, at fork, restoring the state tracemalloc had before the capture.
"""

from __future__ import annotations

import ctypes  # imported here, not in the capture thread: a fork mid-import would stall the child
import logging
import os
import sys
import threading
import time
import tracemalloc
from typing import Callable, ContextManager, Dict, List, Mapping, Optional, Sequence, Tuple

from ..records import AllocationSite
from ..sampling import fork
from ..sampling.pacing import Pacer
from ..sampling.readonly import own_size, type_flags
from ..sampling.resident import ProcessMemory
from .frames import site_index

_logger = logging.getLogger(__name__)
_PACKAGE_DIRECTORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    # Anything allocated on the profiler's own behalf (the census's Counter, say), whatever the
    # frame: its core and OpenTelemetry layers, not the bundled demo, whose leak is the point.
    tracemalloc.Filter(False, os.path.join(_PACKAGE_DIRECTORY, "core", "*"), all_frames=True),
    tracemalloc.Filter(False, os.path.join(_PACKAGE_DIRECTORY, "otel", "*"), all_frames=True),
    tracemalloc.Filter(False, threading.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
    tracemalloc.Filter(False, "<unknown>"),
)


class _CaptureTracing:
    """Whether a capture turned tracemalloc on. Process-wide, as tracemalloc is: set before
    ``tracemalloc.start()`` and cleared after ``stop()``, so that a child forked at any point in
    between knows the tracing it inherited belongs to a capture that is gone.

    While the capture's window is open, ``tracemalloc.start`` is a wrapper that notes a call of the
    host's (a no-op while tracing, so it could not be seen otherwise): tracing the host asked for is
    left on when the window closes. A host that bound ``start`` before the window is not seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = False
        self.host_asked = False

    def _host_start(self, nframe: int = 1) -> None:
        self.host_asked = True
        _TRACEMALLOC_START(nframe)

    def start(self, frames: int) -> bool:
        """Turn tracing on unless it is on already; True when this capture did."""
        with self.lock:
            if tracemalloc.is_tracing():
                return False
            self.started, self.host_asked = True, False
            try:
                _TRACEMALLOC_START(frames)
            except BaseException:
                self.started = False
                raise
            tracemalloc.start = self._host_start
            return True

    def stop(self) -> None:
        with self.lock:
            if tracemalloc.start == self._host_start:
                tracemalloc.start = _TRACEMALLOC_START
            if tracemalloc.is_tracing() and not self.host_asked:
                tracemalloc.stop()
            self.started = False

    def end_in_child(self) -> None:
        """Turn off the tracing a parent's capture, gone with its thread, turned on; tracing that
        was on before the capture stays on."""
        self.lock = threading.Lock()  # a fork may have caught the capture thread holding it
        if self.started:
            self.stop()


_TRACEMALLOC_START = tracemalloc.start
_tracing = _CaptureTracing()
fork.register_function(_tracing.end_in_child)


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


# (file, line) of a site -> [bytes, blocks, the frames of one traceback that leads to it]
_ByLine = Dict[Tuple[str, int], List]


def _add(by_line: _ByLine, traceback: tracemalloc.Traceback, size: int, count: int) -> None:
    """Book an allocation to its site line (``frames.site_index``); the profiler's own to none."""
    frames = list(traceback)  # oldest first
    index = site_index([frame.filename for frame in reversed(frames)])
    if index is None:
        return
    site = frames[len(frames) - 1 - index]
    entry = by_line.setdefault((site.filename, site.lineno), [0, 0, frames])
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
            tuple(f"{trim_path(frame.filename, root)}:{frame.lineno}" for frame in frames),
        )
        for (filename, line), (size, count, frames) in ranked
    )


def growing_sites(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int, root: str
) -> Tuple[AllocationSite, ...]:
    """The ``top`` site lines whose allocations grew most from ``before`` to ``after``."""
    stats = after.filter_traces(_IGNORED).compare_to(before.filter_traces(_IGNORED), "traceback")
    by_line: _ByLine = {}
    for stat in stats:
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


_PEAK_EVERY_SECONDS = 0.1  # how often a window reads the memory its tracing holds


class SiteCapture:
    """One capture at a time, on a thread of its own, at most once per cool-down."""

    def __init__(
        self,
        window: float,
        cooldown: float,
        frames: int,
        top: int,
        root: str,
        on_sites: Callable[[Sites], None],
        quiet: ContextManager[object],
        locate: Locate = lambda keys: {},
        candidates: int = 2000,
        on_own_memory: Callable[[int], None] = lambda added: None,
    ) -> None:
        self._window, self._cooldown, self._frames, self._top, self._root = (
            window,
            cooldown,
            frames,
            top,
            root,
        )
        self._on_sites = on_sites
        self._on_own_memory = on_own_memory
        self._resident = ProcessMemory()
        self._locate = locate
        self._candidates = candidates
        # Held while taking tracemalloc snapshots, so that none lands in the middle of a census,
        # whose transient allocations would otherwise look like growth.
        self._quiet = quiet
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_allowed = 0.0
        self._stop = threading.Event()

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def trigger(self, keys: Sequence[str]) -> bool:
        """Start a capture for these leaks (by key); False while one runs or during the cool-down."""
        with self._lock:
            now = time.monotonic()
            if self.active or now < self._next_allowed:
                return False
            self._next_allowed = now + self._window + self._cooldown
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._capture, args=(tuple(keys),), name="otel-memory-sites", daemon=True
            )
            self._thread.start()
            return True

    def cancel(self, timeout: float = 5.0) -> bool:
        """End a running capture early (its window is cut short; tracemalloc is restored). False
        when it is still running after ``timeout`` seconds; called from the capture's own thread,
        that ends once it returns."""
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(timeout, 0.0))
        return not thread.is_alive()

    def _wait_out_window(self, ours: bool) -> int:
        """Wait for the window to pass (or a cancel); the most memory tracing held meanwhile, when
        the tracing is ours. Traces of blocks freed before the window ends (a batch job's) are gone
        from its last reading, while the memory they took may stay resident: booked up to the last
        reading only, the rest counted as the host's growth."""
        deadline = time.monotonic() + self._window
        peak = 0
        while True:
            if ours:
                peak = max(peak, tracemalloc.get_tracemalloc_memory())
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.wait(min(remaining, _PEAK_EVERY_SECONDS)):
                return peak

    def _capture(self, keys: Tuple[str, ...]) -> None:
        started_here = False
        sites: Sites = {}
        resident_before = self._resident.read()[0]
        tracing_bytes = 0
        try:
            started_here = _tracing.start(self._frames)
            with self._quiet:
                before = tracemalloc.take_snapshot()
            tracing_bytes = self._wait_out_window(started_here)
            with self._quiet:
                # Object tracebacks exist only while tracing: read them before it stops.
                located = self._locate(keys)  # may add leaks found during the window
                keys = tuple(dict.fromkeys([*keys, *located]))
                for key in keys:
                    objects = list(located.get(key, ()))[: self._candidates]
                    sites[key] = attributed_sites(objects, self._top, self._root)
                    objects.clear()
                unlocated = [key for key in keys if key not in located]
                if unlocated:  # growth with no objects to ask: the lines that allocated most
                    whole_heap = growing_sites(before, tracemalloc.take_snapshot(), self._top, self._root)
                    sites.update(dict.fromkeys(unlocated, whole_heap))
                located = {}
                if started_here:
                    tracing_bytes = max(tracing_bytes, tracemalloc.get_tracemalloc_memory())
        except Exception:
            _logger.exception("allocation-site capture failed")
            return
        finally:
            if started_here:
                _tracing.stop()
        try:
            # What the window left resident, up to the most its tracing held (the traces, and the
            # snapshots' copies of them): the monitor's own memory, not the host's growth.
            kept = self._resident.read()[0] - resident_before
            self._on_own_memory(max(0, min(kept, 2 * tracing_bytes)))
            self._on_sites(sites)
        except Exception:
            _logger.exception("allocation-site capture failed")
