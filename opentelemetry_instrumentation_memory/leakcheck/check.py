"""Run a body repeatedly and find what grows across the runs, with the profiler's own detectors.

After the warm-up runs, every measured run is followed by a full collection and a census: object
counts by type (``core/sampling/census.py``, without the check's own objects) and lengths of the
containers module globals reach (``ContainerWatch``). Each run is one observation of the same
``LeakDetector`` the profiler uses, so a cache that fills and levels off, a step, or noise passes,
and only growth that goes on through the run fails. What grows is then explained as in production:
holders by owner path, bounded caches dismissed, and allocation lines from a few more runs under
tracemalloc.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from dataclasses import replace
from itertools import count
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from ..core.analysis.leaks import LeakDetector
from ..core.diagnosis.examiner import BOUNDED_SHARE, LeakExaminer
from ..core.diagnosis.holders import sampled_holders
from ..core.diagnosis.own import OwnObjects
from ..core.diagnosis.owners import find_roots
from ..core.diagnosis.sites import attributed_sites, object_traceback
from ..core.records import AllocationSite, Leak
from ..core.sampling.census import count_objects_by_type
from .options import CheckOptions
from .report import Growth, LeaksFound

__all__ = ["LeakCheck"]

_HOUR = 3600.0  # runs are observed an hour apart: the detector's rate per hour is a rate per run
_TRACED_RUNS = 4  # runs under tracemalloc once something grows: its new objects name holders and lines
_HOLDER_SAMPLE = 20
_TRACE_FRAMES = 10
_SITES = 3
Sites = Tuple[AllocationSite, ...]
_NEVER = 1 << 30  # no heap-wide search for instance-held containers: a run is too short to follow them


class _Observer:
    """The detectors and the heap readings of one check; its own objects are left out of the census."""

    def __init__(self, options: CheckOptions) -> None:
        self.examiner = LeakExaminer()
        self.examiner.containers.discover_every = _NEVER
        self.examiner.containers.census()  # the first census only counts; the next walks the globals
        window = options.iterations + 1  # the baseline and every measured run
        self.types = LeakDetector(window, window, options.min_growth)
        self.containers = LeakDetector(window, window, options.min_growth)
        self.container_types: Dict[str, str] = {}
        self._own = OwnObjects(roots=lambda: (self,))
        self._observations = 0

    def observe(self) -> None:
        gc.collect()
        when = self._observations * _HOUR
        self._observations += 1
        self.types.observe(when, self._own.exclude(count_objects_by_type()))
        readings = self.examiner.containers.census()
        self.container_types = {path: kind for path, (kind, _) in readings.items()}
        self.containers.observe(when, {path: length for path, (_, length) in readings.items()})

    def leaks(self, kinds: Tuple[str, ...]) -> List[Leak]:
        found = list(self.types.active_leaks) if "type" in kinds else []
        if "container" in kinds:
            found += [
                replace(
                    leak,
                    kind="container",
                    container=leak.object_type,
                    object_type=self.container_types.get(leak.object_type, "container"),
                )
                for leak in self.containers.active_leaks
            ]
        return found

    def born(self, leaks: List[Leak], root: str) -> Tuple[Dict[str, Sites], Dict[str, List[object]]]:
        """While tracing: the lines that allocated each leak's objects born since tracing began
        (``locate`` lists the youngest first), and a sample of those of each type leak."""
        kinds = {leak.key: leak.kind for leak in leaks}
        located = self.examiner.locate(kinds)
        try:
            for objects in located.values():
                objects[:] = [obj for obj in objects if object_traceback(obj) is not None]
            sites = {key: attributed_sites(objects, _SITES, root) for key, objects in located.items()}
            samples = {
                key: located.get(key, [])[:_HOLDER_SAMPLE] for key, kind in kinds.items() if kind == "type"
            }
            return sites, samples
        finally:
            for objects in located.values():
                objects.clear()  # the holder search must find the holders, not these lists

    def explain(
        self, leaks: List[Leak], sites: Dict[str, Sites], samples: Dict[str, List[object]]
    ) -> List[Leak]:
        """The leaks with their holders and lines; type leaks whose sample bounded structures hold
        (a cache with a maximum) are dropped."""
        held = sampled_holders(samples, find_roots()) if samples else {}
        explained = []
        for leak in leaks:
            holders, bounded_share = held.get(leak.key, ((), 0.0))
            if bounded_share < BOUNDED_SHARE:
                explained.append(replace(leak, retained_by=holders, sites=sites.get(leak.key, ())))
        return explained


class LeakCheck:
    """One check: ``loop()`` yields once per run and raises ``LeaksFound`` at its end if anything
    grew; ``run(body)`` is the same for a callable. ``root`` shortens the files of allocation lines."""

    def __init__(self, options: Optional[CheckOptions] = None, root: str = "") -> None:
        self.options = options if options is not None else CheckOptions()
        self.root = root or os.getcwd()
        self.found: List[Growth] = []

    def run(self, body: Callable[[], object]) -> List[Growth]:
        for _ in self.loop():
            body()
        return self.found

    def loop(self) -> Iterator[int]:
        """Yields the run's number, ``warmup + iterations`` times (a few more when something grows)."""
        options = self.options
        runs = count()
        for _ in range(options.warmup):
            yield next(runs)
        observer = _Observer(options)
        observer.observe()  # the baseline: the heap the warm-up left
        for _ in range(options.iterations):
            yield next(runs)
            observer.observe()
        leaks = observer.leaks(options.kinds)
        if leaks:
            started = not tracemalloc.is_tracing()
            if started:
                tracemalloc.start(_TRACE_FRAMES)
            try:
                for _ in range(_TRACED_RUNS):
                    yield next(runs)
                sites, samples = observer.born(leaks, self.root)
            finally:
                if started:
                    tracemalloc.stop()
            leaks = observer.explain(leaks, sites, samples)
        self.found = [Growth.of(leak) for leak in leaks]
        if self.found:
            raise LeaksFound(self.found, options)
