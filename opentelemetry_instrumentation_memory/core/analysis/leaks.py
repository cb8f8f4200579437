"""Trend-based leak detection over per-type object counts.

Pure and clock-free: it sees only ``(timestamp, counts)`` observations, decides on the sequence of
counts and their shape, and uses timestamps only to express rates per hour. Severity comes from the
impact of the growth (severity.py), given the headroom to the limit and the bytes per object, which
the caller measures. The reasoning behind the tests below is written up in docs/LEAK_DETECTION.md.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..records import SEVERITIES, Leak
from ..validation import require_int, require_number
from .ring import tail
from .severity import growth_percent, impact_severity
from .shapes import ascending, decelerates, keeps_pace, keeps_rising, one_step, persistent_rise, plateaued
from .stats import mad, median, slope, steps

__all__ = ["Leak", "LeakDetector", "ObjectSizes"]

ObjectSizes = Callable[[Sequence[str]], Mapping[str, float]]
"""Given type names, their estimated bytes per object (retained by each object alone)."""

# Without a measurement: a small instance with its __dict__, and a 1 GiB headroom.
DEFAULT_OBJECT_BYTES = 200.0
DEFAULT_HEADROOM_BYTES = float(1 << 30)
# A leak ranks low until it has grown for a quarter window more since it was found, and while what
# it has added since its window began holds less than this share of the headroom: a cache still
# filling when it is found plateaus within that time, and caches and pools are that small; a leak
# that matters is not. The type's other objects (every dict of the program) are not the leak's.
_MATERIAL_SHARE_OF_HEADROOM = 0.01

_SEGMENTS = 4
_RECENT_SPANS = (8, 12, 16, 24, 32)  # shortest first: the first that shows a leak decides
_MAD_TO_SIGMA = 1.4826
_SMOOTHNESS = 4.0  # level spread over step noise above which a series is smooth enough to read floors
_MIN_STEP_ERRORS = 2.0  # every step, not only the whole rise, must stand out of the noise
_MIN_NOISE = 1.0  # counts are integers: below one object the noise estimate means nothing
SERIES_BUDGET_BYTES = 64 << 20  # the rings of every tracked type together (docs/OPERATIONS.md)


@dataclass(frozen=True)
class _Assessment:
    growing: bool
    still_growing: bool
    start_level: float
    rise: float
    smooth: bool = False
    by_floors: bool = False  # read as segment minima: a sawtooth whose floor rises


class LeakDetector:
    """Finds object types whose counts grow persistently, among any number of stationary ones.

    Each type keeps a ring of its last ``window`` counts. A type is a leak when, over that window
    split into four segments, its level rises in every segment by a balanced share, by at least
    ``min_growth`` objects and by ``significance`` times its robust noise. The level is read twice:
    as segment medians (linear and noisy growth) and as segment minima, whose noise is taken from
    successive differences (sawtooth batches whose floor keeps rising). A leak stays active while
    the second half of the window still rises, and ends when the growth stops.
    """

    def __init__(
        self,
        window: int = 48,
        min_snapshots: int = 12,
        min_growth: int = 50,
        significance: float = 4.0,
        balance: float = 0.25,
        max_types: int = 20_000,
    ) -> None:
        require_int("window", window, _SEGMENTS * 2, 10_000)
        require_int("min_snapshots", min_snapshots, _SEGMENTS * 2, window)
        require_int("min_growth", min_growth, 1)
        require_number("significance", significance, 0.0, inclusive_minimum=False)
        require_number("balance", balance, 0.0, 1.0)
        require_int("max_types", max_types, 1, 1_000_000)
        self.window = window
        self.min_snapshots = min_snapshots
        self.min_growth = min_growth
        self.significance = float(significance)
        self.balance = float(balance)
        # Each tracked type holds a ring of ``window`` doubles: the memory, not only the count, is bounded.
        self.max_types = min(max_types, max(1, SERIES_BUDGET_BYTES // (8 * window)))
        self.reset()

    def reset(self) -> None:
        """Forget every series and every active leak."""
        self._times = array("d", bytes(8 * self.window))
        self._observations = 0
        # type name -> [ring of counts, index of its first observation, last observation seen > 0,
        # highest count that left the ring this window and in the window before]: the levels a
        # batch cycle longer than the window returns to (an hourly job with a 48-census window)
        self._series: Dict[str, list] = {}
        self._active: Dict[str, Leak] = {}
        # observation and level where a leak started, and the observation its span began at
        self._onsets: Dict[str, Tuple[int, float, int]] = {}
        self._ranked: Set[str] = set()  # leaks confirmed and material: they rank by their impact
        self.types_dropped = 0

    @property
    def tracked_types(self) -> int:
        return len(self._series)

    @property
    def active_leaks(self) -> List[Leak]:
        return list(self._active.values())

    def observe(
        self,
        timestamp: float,
        counts: Mapping[str, int],
        headroom_bytes: float = DEFAULT_HEADROOM_BYTES,
        object_sizes: Optional[ObjectSizes] = None,
    ) -> List[Leak]:
        """Record one census and return the leaks active after it.

        ``headroom_bytes`` is what is left to the memory limit; ``object_sizes`` is asked once per
        census, for the active leaks only, for their bytes per object.
        """
        now = self._observations
        slot = now % self.window
        self._times[slot] = timestamp
        self._observations = now + 1
        series = self._series
        for name, kept in series.items():
            ring = kept[0]
            if ring[slot] > kept[3]:  # the count leaving the window
                kept[3] = ring[slot]
            ring[slot] = counts.get(name, 0)
        for name, count in counts.items():
            state = series.get(name)
            if state is None:
                if len(series) >= self.max_types:
                    self.types_dropped += 1
                    continue
                ring = array("d", bytes(8 * self.window))
                ring[slot] = count
                state = series[name] = [ring, now, now, 0.0, 0.0]
            if count:
                state[2] = now
        growing = []
        for name, (ring, first, _, _, _) in series.items():
            length = min(now - first + 1, self.window)
            # Cheap screen: a type whose count is not min_growth above its window's start cannot pass.
            if name in self._active or (
                length >= self.min_snapshots
                and ring[slot] - ring[(now - length + 1) % self.window] >= self.min_growth
            ):
                trend = self._trend(name)
                if trend is not None:
                    growing.append(trend)
        sizes = object_sizes([t[0] for t in growing]) if object_sizes and growing else {}
        for name, values, assessment, rate in growing:
            self._record(name, timestamp, values, assessment, rate, headroom_bytes, sizes.get(name))
        if slot == self.window - 1:
            self._forget_vanished(now)
            for kept in series.values():  # past highs are kept for one to two windows
                kept[4], kept[3] = kept[3], 0.0
        return list(self._active.values())

    def _trend(self, name: str) -> Optional[tuple]:
        """(name, span, assessment, objects per hour) of a type that leaks now; ends one that stopped.

        An active leak is judged on what it has done since its growth was first seen (so a leak
        found early is not judged against the flat counts before it), up to the window.
        """
        if name in self._active:
            values = self._since_onset(name)
            assessment = self._assess(values, active=True)
            assert assessment is not None
            if not (assessment.growing or assessment.still_growing) or (
                assessment.smooth and plateaued(values)
            ):
                del self._active[name]
                self._onsets.pop(name, None)
                self._ranked.discard(name)
                return None
        else:
            found = self._first_evidence(name)
            if found is None:
                return None
            values, assessment = found
        # The rate over the whole window, as before early decisions: a cache filling fast is
        # not ranked by its fill rate alone.
        window = self._window(name)
        times = tail(self._times, self._observations, len(window))
        return name, values, assessment, slope(times, window) * 3600.0

    def _first_evidence(self, name: str) -> Optional[Tuple[List[float], _Assessment]]:
        """The shortest recent span that shows a leak, and its reading; None while none does.

        A type watched long enough is read over recent spans of 8, 12, 16, 24 and 32 counts as well
        as its whole window: a short span counts only when its second half lies above every count
        before it (at least ``min_snapshots`` of them, and half the span) and above the highest
        count that left the window in the last one or two windows, so a batch cycle or an
        oscillation, which returns to levels it has had, never counts (before, each climb of a cycle
        longer than the window was reported as a new leak), and only while the whole window does
        not bend towards a plateau (a warm-up's new highs). A young type is read over
        its whole history once it has ``min_snapshots`` counts.
        """
        values = self._window(name)
        n = len(values)
        state = self._series[name]
        past_high = max(state[3], state[4])
        bends: Optional[bool] = None
        for length in _RECENT_SPANS:
            before = n - length
            if before < max(self.min_snapshots, length // 2):
                break
            recent = values[before:]
            if recent[-1] - recent[0] < self.min_growth or min(recent[length // 2 :]) <= max(
                past_high, max(values[:before])
            ):
                continue
            if bends is None:
                bends = decelerates(values)
            if bends:
                break
            assessment = self._starts(recent)
            if assessment is not None:
                return recent, assessment
        assessment = self._starts(values) if n >= self.min_snapshots else None
        return None if assessment is None else (values, assessment)

    def _starts(self, values: List[float]) -> Optional[_Assessment]:
        """The reading of ``values`` if they can start a leak: growing, not a cache at its cap, not
        bending towards a plateau; over less than a window, rising as fast late as early (read on
        the counts: a sawtooth's floors have passed stricter tests)."""
        assessment = self._assess(values, active=False)
        if assessment is None or not assessment.growing or (assessment.smooth and plateaued(values)):
            return None
        early = len(values) < self.window and not assessment.by_floors
        if decelerates(values) or (early and not keeps_pace(values)):
            return None
        return assessment

    def _since_onset(self, name: str) -> List[float]:
        """An active leak's counts since the span it was found on began, at most a window."""
        _, _, span_start = self._onsets[name]
        return self._window(name)[-max(_SEGMENTS * 2, self._observations - span_start) :]

    def _record(
        self,
        name: str,
        timestamp: float,
        values: List[float],
        assessment: _Assessment,
        rate: float,
        headroom_bytes: float,
        bytes_per_object: Optional[float],
    ) -> None:
        previous = self._active.get(name)
        onset, onset_level, span_start = self._onsets.setdefault(
            name, (self._observations, assessment.start_level, self._observations - len(values))
        )
        size = DEFAULT_OBJECT_BYTES if bytes_per_object is None else bytes_per_object
        if bytes_per_object is None and previous is not None and previous.bytes_per_object:
            size = previous.bytes_per_object
        # Found early, a leak is a suspicion: it ranks above low once it has grown for a quarter
        # window more, for a whole window in all (a cache filling linearly is full by then), its
        # span does not bend towards a plateau (a cache filling slowly) and its last quarter window
        # still rises at half its pace (a cache that has just filled). Once ranked, it keeps its
        # rank until it ends: a leak's record does not flap between low and its impact.
        confirmed = name in self._ranked or (
            self._observations - onset >= self.window // 4
            and self._observations - span_start >= self.window
            and not decelerates(values)
            and keeps_rising(values, self.window // 4)
        )
        material = (values[-1] - onset_level) * size >= _MATERIAL_SHARE_OF_HEADROOM * headroom_bytes
        if confirmed and material:
            self._ranked.add(name)
        severity = impact_severity(rate * size, headroom_bytes) if name in self._ranked else SEVERITIES[0]
        start = assessment.start_level
        self._active[name] = Leak(
            object_type=name,
            severity=severity,
            growth_count=int(round(assessment.rise)),
            growth_percent=growth_percent(start, start + assessment.rise),
            growth_rate_per_hour=round(rate, 2),
            current_count=int(values[-1]),
            first_detected=timestamp if previous is None else previous.first_detected,
            last_detected=timestamp,
            sites=previous.sites if previous is not None else (),
            bytes_per_object=round(size, 1),
            retained_bytes=int(values[-1] * size),
            retained_bytes_per_hour=round(rate * size, 1),
        )

    def _window(self, name: str) -> List[float]:
        """The type's counts in the window, oldest first."""
        ring, first = self._series[name][:2]
        return tail(ring, self._observations, min(self._observations - first, self.window))

    def _assess(self, values: List[float], active: bool) -> Optional[_Assessment]:
        """Read the window's shape; None when it cannot start a leak and none is active."""
        n = len(values)
        bounds = [n * i // _SEGMENTS for i in range(_SEGMENTS + 1)]
        segments = [sorted(values[bounds[i] : bounds[i + 1]]) for i in range(_SEGMENTS)]
        medians = [median(segment) for segment in segments]
        floors = [segment[0] for segment in segments]
        if not active and not (ascending(medians) or ascending(floors)):
            return None  # stationary counts end here 23 times in 24, before any noise estimate
        spread = median(sorted(abs(v - m) for s, m in zip(segments, medians) for v in s))
        level_noise = max(_MIN_NOISE, _MAD_TO_SIGMA * spread)
        step_noise = max(_MIN_NOISE, _MAD_TO_SIGMA * mad(steps(values)) / math.sqrt(2.0))
        # Standard errors of the difference of two segment medians, and of two single minima.
        median_step_error = max(level_noise, step_noise) * math.sqrt(math.pi / (n // _SEGMENTS))
        floor_step_error = math.sqrt(2.0) * step_noise
        if level_noise >= _SMOOTHNESS * step_noise and self._rises(floors, floor_step_error):
            return _Assessment(True, True, floors[0], floors[-1] - floors[0], smooth=True, by_floors=True)
        growing = self._rises(medians, median_step_error) and not one_step(values)
        least_recent_growth = self.min_growth / 3.0
        still_growing = (
            medians[3] > medians[2] and medians[3] - medians[1] >= max(least_recent_growth, level_noise)
        ) or (floors[3] > floors[2] and floors[3] - floors[1] >= max(least_recent_growth, step_noise))
        smooth = level_noise >= _SMOOTHNESS * step_noise
        return _Assessment(growing, still_growing, medians[0], medians[-1] - medians[0], smooth)

    def _rises(self, levels: List[float], step_error: float) -> bool:
        rise = levels[-1] - levels[0]
        return (
            persistent_rise(levels, self.balance)
            and min(steps(levels)) >= _MIN_STEP_ERRORS * step_error
            and rise >= self.min_growth
            and rise >= self.significance * step_error
        )

    def _forget_vanished(self, now: int) -> None:
        """Drop series that have read zero for a whole window, so churned types do not pile up."""
        gone = [
            name
            for name, (_, _, last_seen, _, _) in self._series.items()
            if now - last_seen >= self.window and name not in self._active
        ]
        for name in gone:
            del self._series[name]

    def dismiss(self, names: Sequence[str]) -> None:
        """End these leaks and start their series afresh: what they were is explained (a bounded
        holder); growing for a whole new window is needed to report them again."""
        for name in names:
            self._active.pop(name, None)
            self._onsets.pop(name, None)
            self._ranked.discard(name)
            state = self._series.get(name)
            if state is not None:
                state[1] = self._observations

    def clear(self) -> None:
        """Forget the active leaks but keep the series, so a leak still growing is found again."""
        self._active.clear()
        self._onsets.clear()
        self._ranked.clear()
