"""Where is it leaking? tracemalloc for a short window after a leak is found.

tracemalloc slows allocation several times over, so it stays off; when a leak is detected, a capture
turns it on (unless it already runs), compares two of its snapshots taken ``window`` seconds apart,
and reports the allocation sites that grew most. Then it turns tracemalloc off again, and no new
capture starts before ``cooldown`` has passed, however many leaks are found meanwhile.

A child forked during a capture has no capture thread to turn tracemalloc off again: it does so
itself, at fork, restoring the state tracemalloc had before the capture.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import tracemalloc
from typing import Callable, ContextManager, Optional, Sequence, Tuple

from ..records import AllocationSite
from ..sampling import fork

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
    between knows the tracing it inherited belongs to a capture that is gone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = False

    def start(self, frames: int) -> bool:
        """Turn tracing on unless it is on already; True when this capture did."""
        with self.lock:
            if tracemalloc.is_tracing():
                return False
            self.started = True
            try:
                tracemalloc.start(frames)
            except BaseException:
                self.started = False
                raise
            return True

    def stop(self) -> None:
        with self.lock:
            if tracemalloc.is_tracing():
                tracemalloc.stop()
            self.started = False

    def end_in_child(self) -> None:
        """Turn off the tracing a parent's capture, gone with its thread, turned on; tracing that
        was on before the capture stays on."""
        self.lock = threading.Lock()  # a fork may have caught the capture thread holding it
        if self.started:
            self.stop()


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


def growing_sites(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int, root: str
) -> Tuple[AllocationSite, ...]:
    """The ``top`` allocation tracebacks that grew most from ``before`` to ``after``."""
    stats = after.filter_traces(_IGNORED).compare_to(before.filter_traces(_IGNORED), "traceback")
    sites = []
    for stat in stats:
        if stat.size_diff <= 0 or len(sites) >= top:
            break
        frames = [(trim_path(frame.filename, root), frame.lineno) for frame in stat.traceback]
        file, line = frames[-1]
        sites.append(
            AllocationSite(file, line, stat.size_diff, stat.count_diff, tuple(f"{f}:{n}" for f, n in frames))
        )
    return tuple(sites)


class SiteCapture:
    """One capture at a time, on a thread of its own, at most once per cool-down."""

    def __init__(
        self,
        window: float,
        cooldown: float,
        frames: int,
        top: int,
        root: str,
        on_sites: Callable[[Sequence[str], Tuple[AllocationSite, ...]], None],
        quiet: ContextManager[object],
    ) -> None:
        self._window, self._cooldown, self._frames, self._top, self._root = (
            window,
            cooldown,
            frames,
            top,
            root,
        )
        self._on_sites = on_sites
        # Held while taking tracemalloc snapshots, so that none lands in the middle of a census,
        # whose transient allocations would otherwise look like growth.
        self._quiet = quiet
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._next_allowed = 0.0
        self._stop = threading.Event()

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def trigger(self, object_types: Sequence[str]) -> bool:
        """Start a capture for these leaking types; False while one runs or during the cool-down."""
        with self._lock:
            now = time.monotonic()
            if self.active or now < self._next_allowed:
                return False
            self._next_allowed = now + self._window + self._cooldown
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._capture, args=(tuple(object_types),), name="otel-memory-sites", daemon=True
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

    def _capture(self, object_types: Tuple[str, ...]) -> None:
        started_here = False
        try:
            started_here = _tracing.start(self._frames)
            with self._quiet:
                before = tracemalloc.take_snapshot()
            self._stop.wait(self._window)
            with self._quiet:
                after = tracemalloc.take_snapshot()
        except Exception:
            _logger.exception("allocation-site capture failed")
            return
        finally:
            if started_here:
                _tracing.stop()
        try:
            self._on_sites(object_types, growing_sites(before, after, self._top, self._root))
        except Exception:
            _logger.exception("allocation-site capture failed")
