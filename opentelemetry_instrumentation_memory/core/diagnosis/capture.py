"""tracemalloc for a short window after a leak is found, to learn where it leaks.

tracemalloc slows allocation several times over, so it stays off; when a leak is detected, a capture
turns it on (unless it already runs) for ``window`` seconds. Before turning it off again, it asks
where each leak's own objects that appeared meanwhile were allocated (``diagnosis.sites``). No new
capture starts before ``cooldown`` has passed, however many leaks are found meanwhile.

What the window's tracing holds is the monitor's own memory: left out of drift and growth while the
window is open. When it closes, the heap its traces took goes back to the system (glibc's
``malloc_trim``), and what stays resident all the same is booked as the monitor's own.

A child forked during a capture has no capture thread to turn tracemalloc off again: it does so
itself, at fork, restoring the state tracemalloc had before the capture.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
import tracemalloc
from typing import Callable, ContextManager, Optional, Sequence, Tuple

from ..sampling import fork
from ..sampling.resident import ProcessMemory
from .sites import Locate, Sites, attributed_sites, growing_sites

_logger = logging.getLogger(__name__)


def _malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except Exception:  # no such symbol or library, or a host's audit hook refused the lookup
        return None
    trim.argtypes, trim.restype = (ctypes.c_size_t,), ctypes.c_int
    return trim


# A window's traces, freed when its tracing stops, stay resident otherwise: 80 MB after a batch job
# of 150,000 dicts traced, given back in 3 ms. Trimming walks every free chunk with its arena locked
# (55-75 ms in a 2 GB heap of a million holes, the host's allocations in that arena waiting): only
# worth it when the window left this much.
_MALLOC_TRIM = _malloc_trim()
_TRIM_FROM_BYTES = 16 << 20


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
        self._stop = threading.Event()
        self._next_allowed = 0.0
        self.reconfigure(window, cooldown, frames, top, root)
        # While a window traces on its own account: the resident bytes before it, and the most its
        # tracing has held so far.
        self._opened_at_resident: Optional[int] = None
        self._tracing_peak = 0

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

    def reconfigure(self, window: float, cooldown: float, frames: int, top: int, root: str) -> None:
        """Settings for the next window: one open ends early (and is booked as any other), and no
        cool-down holds. The same capture goes on, so that no two windows ever overlap."""
        with self._lock:
            self._window, self._cooldown, self._frames, self._top, self._root = (
                window,
                cooldown,
                frames,
                top,
                root,
            )
            self._next_allowed = 0.0
            if self.active:
                self._stop.set()

    def holding_bytes(self) -> int:
        """What an open window holds now, when its tracing is its own: the resident memory added
        since it opened, up to twice the most its tracing held (the traces, and the snapshots'
        copies of them). 0 between windows; once a window closes, what it left is booked instead.
        Read under the cycle's lock, as the window closes: a snapshot sees it open, or closed and
        booked, never in between.

        Resident memory cannot tell the host's growth from the tracing's: the host's blocks fill
        freed heap as the traces may. Up to the cap, growth meanwhile counts as the window's, so
        that a batch job traced in it never reads as drift; a leak's few seconds of growth in a
        window, once per cool-down, go uncounted."""
        opened_at = self._opened_at_resident
        if opened_at is None:
            return 0
        peak = max(self._tracing_peak, tracemalloc.get_tracemalloc_memory())
        return max(0, min(self._resident.read()[0] - opened_at, 2 * peak))

    def _wait_out_window(self, ours: bool) -> int:
        """Wait for the window to pass (or a cancel); the most memory tracing held meanwhile, when
        the tracing is ours. Traces of blocks freed before the window ends (a batch job's) are gone
        from its last reading, while the memory they took may stay resident: booked up to the last
        reading only, the rest counted as the host's growth."""
        deadline = time.monotonic() + self._window
        while True:
            if ours:
                self._tracing_peak = max(self._tracing_peak, tracemalloc.get_tracemalloc_memory())
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.wait(min(remaining, _PEAK_EVERY_SECONDS)):
                return self._tracing_peak

    def _capture(self, keys: Tuple[str, ...]) -> None:
        resident_before = self._resident.read()[0]
        started_here = False
        sites: Optional[Sites] = None
        try:
            started_here = _tracing.start(self._frames)
            if started_here:
                self._tracing_peak, self._opened_at_resident = 0, resident_before
            sites = self._sites_over_window(keys, started_here)
        except Exception:
            _logger.exception("allocation-site capture failed")
        finally:
            if started_here:
                self._close_window(resident_before)
        if sites is not None:
            try:
                self._on_sites(sites)
            except Exception:
                _logger.exception("allocation-site capture failed")

    def _sites_over_window(self, keys: Tuple[str, ...], ours: bool) -> Sites:
        sites: Sites = {}
        with self._quiet:
            before = tracemalloc.take_snapshot()
        self._wait_out_window(ours)
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
            if ours:
                self._tracing_peak = max(self._tracing_peak, tracemalloc.get_tracemalloc_memory())
        return sites

    def _close_window(self, resident_before: int) -> None:
        """Stop the tracing, give back the heap its traces took, and book what stays resident up to
        twice the most the tracing held: all under the cycle's lock (see ``holding_bytes``)."""
        with self._quiet:
            try:
                self._tracing_peak = max(self._tracing_peak, tracemalloc.get_tracemalloc_memory())
            finally:
                _tracing.stop()
            try:
                self._give_back_heap(resident_before)
                kept = self._resident.read()[0] - resident_before
                self._on_own_memory(max(0, min(kept, 2 * self._tracing_peak)))
            except Exception:  # a host's audit hook on the trim, say: nothing booked
                _logger.exception("allocation-site capture failed")
            finally:
                self._opened_at_resident = None

    def _give_back_heap(self, resident_before: int) -> None:
        """Hand the heap freed with the traces back to the system, when the window left much."""
        if _MALLOC_TRIM is not None and self._resident.read()[0] - resident_before >= _TRIM_FROM_BYTES:
            _MALLOC_TRIM(0)
