"""The immutable snapshot record and how one is taken."""

from __future__ import annotations

import gc
import heapq
import logging
import time
import tracemalloc
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import psutil

from ..dispatch import RateLimitedLog
from ..records import (
    MB,
    USAGE_CONTAINER,
    USAGE_CONTAINER_WORKING_SET,
    USAGE_PROCESS_RSS,
    ContainerMemory,
    MemoryLimit,
    MemorySnapshot,
)
from .census import count_objects_by_type
from .container import ContainerMemoryReader
from .limits import (
    SOURCE_CGROUP_V1,
    SOURCE_CGROUP_V2,
    SOURCE_PHYSICAL,
    effective_memory_limit,
    physical_memory,
)
from .proportional import ProportionalMemory
from .resident import ProcessMemory

_logger = logging.getLogger(__name__)

# A census: the top types, the total and every type's count.
Census = Tuple[Tuple[Tuple[str, int], ...], int, Dict[str, int]]


def _hosts(stats: List[Dict[str, int]], own: Sequence[int]) -> Tuple[int, ...]:
    """Collections by generation, less those the package's own threads set off."""
    return tuple(
        generation["collections"] - (own[index] if index < len(own) else 0)
        for index, generation in enumerate(stats)
    )


def heap_usage(rss: int, container: Optional[ContainerMemory], limit: MemoryLimit) -> Tuple[int, str]:
    """(bytes, what they are) to set against ``limit``: the cgroup's working set (else its usage)
    where the limit is that cgroup's, since the kernel kills on the cgroup's charge and not on one
    process's share of it; the process's resident memory where the limit is physical memory."""
    if container is not None and limit.source in (SOURCE_CGROUP_V2, SOURCE_CGROUP_V1):
        if container.source == limit.source:  # the same hierarchy's figure, never the other's
            if container.working_set_bytes is not None:
                return container.working_set_bytes, USAGE_CONTAINER_WORKING_SET
            return container.usage_bytes, USAGE_CONTAINER
    return rss, USAGE_PROCESS_RSS


class SnapshotTaker:
    """Takes snapshots with a process handle that always describes the calling process.

    The limit is re-read every ``limit_ttl`` seconds: it rarely changes, and reading cgroup files on
    every snapshot would dominate the cheap path.
    """

    def __init__(
        self,
        limit_reader: Callable[[], MemoryLimit] = effective_memory_limit,
        limit_ttl: float = 300.0,
        gc_pause_seconds: Callable[[], float] = lambda: 0.0,
        container_reader: Optional[Callable[[], Optional[ContainerMemory]]] = None,
        own_collections: Callable[[], Sequence[int]] = tuple,
        proportional_reader: Optional[Callable[[], Tuple[Optional[int], Optional[int]]]] = None,
    ) -> None:
        # (pss, uss) bytes, rate-limited by the reader itself: most snapshots carry the last reading
        self._proportional = proportional_reader or ProportionalMemory().read
        self._own_collections = own_collections  # by generation, set off by the package's threads
        self._limit_reader = limit_reader
        self._container = container_reader or ContainerMemoryReader().read
        self._gc_pause_seconds = gc_pause_seconds
        self._limit_ttl = limit_ttl
        self._limit: Optional[MemoryLimit] = None
        self._limit_read_at = 0.0
        self._memory = ProcessMemory(self._missing)
        self.census_pause_seconds = 0.0  # the longest single GIL hold of the last census
        self._reported: Set[str] = set()
        self._census_log = RateLimitedLog(_logger)
        self._last_census: Optional[Census] = None

    def _missing(self, what: str, error: BaseException) -> None:
        """Say once per process what cannot be read; the snapshot goes on with what can."""
        if what not in self._reported:
            self._reported.add(what)
            _logger.warning("memory profiler cannot read %s (%s); using a fallback", what, error)

    def _census(self, top_n: int) -> Optional[Census]:
        """The top ``top_n`` types, the total and every count; None (logged) when counting fails, so
        that the snapshot keeps the figures that need no census."""
        holds: List[float] = []
        try:
            counts = count_objects_by_type(holds)
        except Exception as error:
            self._census_log.error("census", error, "memory profiler could not count objects")
            return None
        top = tuple(heapq.nlargest(top_n, counts.items(), key=lambda item: item[1]))
        self.census_pause_seconds = max(holds, default=0.0)
        self._last_census = top, sum(counts.values()), counts
        return self._last_census

    def process(self) -> psutil.Process:
        return self._memory.process()

    def limit(self) -> MemoryLimit:
        now = time.monotonic()
        if self._limit is None or now - self._limit_read_at >= self._limit_ttl:
            try:
                self._limit = self._limit_reader()
            except Exception as error:
                self._missing("the memory limit", error)
                self._limit = MemoryLimit(physical_memory(), SOURCE_PHYSICAL)
            self._limit_read_at = now
        return self._limit

    def take(
        self, top_n: int, previous: Optional[Tuple[MemorySnapshot, Mapping[str, int]]] = None
    ) -> Tuple[MemorySnapshot, Mapping[str, int]]:
        """A snapshot and the full census behind it (every type, not only the top ``top_n``).

        Given the ``previous`` snapshot and census, the objects are not counted again: the cheap
        path, whose object figures are those of the last census (``census`` is False). A census
        that fails (logged at most once a minute) costs only the object figures: the snapshot keeps
        its memory and GC figures, with the last successful census's objects (``census`` is False).
        """
        started = time.perf_counter()
        rss, vms = self._memory.read()
        container = self._container()  # beside the RSS: the process's share and its cgroup's whole
        limit = self.limit()
        used, usage_source = heap_usage(rss, container, limit)
        pss, uss = self._proportional()
        stats = gc.get_stats()
        if tracemalloc.is_tracing():
            traced, peak = tracemalloc.get_traced_memory()
        else:
            traced = peak = 0
        census_ms = 0.0
        counted: Optional[Census] = None
        counts: Mapping[str, int]
        if previous is None:
            counting = time.perf_counter()
            counted = self._census(top_n)
            census_ms = (time.perf_counter() - counting) * 1000.0
        if counted is not None:
            top, total, counts = counted
        elif previous is not None:
            top, total = previous[0].top_objects[:top_n], previous[0].total_objects  # top_n may shrink
            counts = previous[1]
        else:  # the census failed: the last one that succeeded, if any
            top, total, counts = self._last_census or ((), 0, {})
        snapshot = MemorySnapshot(
            timestamp=time.time(),
            heap_used_mb=used / MB,
            heap_size_mb=limit.bytes / MB,
            heap_percent=100.0 * used / limit.bytes if limit.bytes else 0.0,
            rss_mb=rss / MB,
            vms_mb=vms / MB,
            total_objects=total,
            top_objects=top,
            gc_collections=_hosts(stats, self._own_collections()),
            gc_collected=sum(generation["collected"] for generation in stats),
            gc_uncollectable=sum(generation["uncollectable"] for generation in stats),
            gc_collected_by_generation=tuple(generation["collected"] for generation in stats),
            gc_uncollectable_by_generation=tuple(generation["uncollectable"] for generation in stats),
            tracemalloc_current_mb=traced / MB,
            tracemalloc_peak_mb=peak / MB,
            limit_source=limit.source,
            census_ms=census_ms,
            census=counted is not None,
            gc_pause_seconds=self._gc_pause_seconds(),
            duration_ms=(time.perf_counter() - started) * 1000.0,
            container=container,
            usage_source=usage_source,
            pss_bytes=pss,
            uss_bytes=uss,
        )
        return snapshot, counts
