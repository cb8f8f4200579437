"""The sampled allocation tracker (the ``_sampler`` C extension), one per process as the allocator is.

Several profilers may want it: it samples while one does, at the smallest interval any asks for.
Where the extension is missing (no compiler at install time, an interpreter it does not support), or
fails, it is simply off, a warning says so once, and leak sites come from tracemalloc windows
instead. Nothing here raises into the host.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

from . import fork

_extension: Optional[ModuleType]
try:
    from ... import _sampler as _extension
except ImportError:  # not built here: the tracemalloc fallback serves
    _extension = None

_logger = logging.getLogger(__name__)

Frame = Tuple[str, str, int]  # file, function, line
Row = Tuple[Tuple[Frame, ...], int, float, float]  # frames innermost first, samples, bytes, blocks
DEPTH = 6  # frames kept per sample: the allocating line and the callers that lead to it
_CDATA = ctypes.Array.__mro__[1]  # _ctypes._CData, every ctypes object's base


def buffers_of(objects: Sequence[object]) -> List[int]:
    """The data buffers of the ctypes objects among ``objects``: allocated apart from the object
    when larger than a few words, they hold most of its bytes (and most of its samples). Type checks
    and ``addressof`` read the object in C; only a host's audit hook may run, and raise."""
    return [ctypes.addressof(cast(Any, obj)) for obj in objects if issubclass(type(obj), _CDATA)]


class AllocationSampler:
    def __init__(self, extension: Optional[ModuleType] = _extension) -> None:
        self._extension = extension
        self._intervals: Dict[int, int] = {}  # id(user) -> the interval it asks for
        self._lock = threading.Lock()
        self._said_absent = False
        self._failures = 0

    @property
    def available(self) -> bool:
        return self._extension is not None

    @property
    def running(self) -> bool:
        """Sampling, its hooks still seeing allocations (a host that replaced them stops it)."""
        return self._call("running", False)

    def start(self, user: object, interval: int) -> bool:
        """Sample for ``user`` (a no-op where unavailable); whether sampling runs."""
        with self._lock:
            self._intervals[id(user)] = interval
            if self._extension is None:
                if not self._said_absent:
                    self._said_absent = True
                    _logger.warning(
                        "heap sampling is unavailable (the _sampler extension was not built for this "
                        "interpreter): leak sites come from tracemalloc windows"
                    )
                return False
            self._call("start", None, float(min(self._intervals.values())), DEPTH)
        return self.running

    def stop(self, user: object) -> None:
        """``user`` no longer needs samples; the last one out stops sampling."""
        with self._lock:
            if self._intervals.pop(id(user), None) is None or self._extension is None:
                return
            if self._intervals:
                self._call("start", None, float(min(self._intervals.values())), DEPTH)
            else:
                self._call("stop", None)

    def live(self) -> List[Row]:
        """Live sampled bytes by stack; restarts sampling whose hooks a host replaced."""
        if self._intervals and not self.running:
            with self._lock:
                if self._intervals:
                    self._call("start", None, float(min(self._intervals.values())), DEPTH)
        return list(self._call("live", ()))

    def find(self, objects: Sequence[object]) -> List[Row]:
        """The live samples whose blocks hold ``objects``, or their ctypes buffers, by stack."""
        try:
            buffers = buffers_of(objects)
        except Exception:  # a host's audit hook refused ``addressof``: the objects alone
            buffers = []
        return list(self._call("find", (), objects, buffers))

    def stats(self) -> Dict[str, Any]:
        return dict(self._call("stats", {}))

    def _call(self, name: str, otherwise: Any, *args: Any) -> Any:
        if self._extension is None:
            return otherwise
        try:
            return getattr(self._extension, name)(*args)
        except Exception:  # never into the host: the profile is missing, the program goes on
            self._failures += 1
            if self._failures == 1:
                _logger.exception("heap sampling failed (%s); leak sites may be missing", name)
            return otherwise

    def after_fork_in_child(self) -> None:
        """A fork may have caught another thread holding the lock. The samples stay: the blocks they
        stand for are the child's as well, and the child samples its own from now on."""
        self._lock = threading.Lock()


SAMPLER = AllocationSampler()
fork.register(SAMPLER, restarts_threads=False)
