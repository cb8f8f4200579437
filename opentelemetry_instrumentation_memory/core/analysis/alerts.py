"""Alert conditions and their onset/resolve state: each alert fires once and resolves once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from ..config import ProfilerConfig
from ..records import FIRING, RESOLVED, Alert


@dataclass(frozen=True)
class Condition:
    """One rule's reading at one snapshot; ``active`` says whether it is breached."""

    type: str
    severity: str
    active: bool
    value: float
    threshold: float
    message: str


class AlertState:
    """Turns per-snapshot conditions into transitions, so a breach lasting an hour fires once.

    An alert resolves only after ``resolve_after`` clear readings in a row: a value hovering at its
    threshold would otherwise fire and resolve on alternate snapshots.
    """

    def __init__(self, resolve_after: int = 3) -> None:
        self._firing: Dict[str, Alert] = {}
        self._clear_streak: Dict[str, int] = {}
        self._resolve_after = resolve_after

    @property
    def firing(self) -> List[Alert]:
        return list(self._firing.values())

    def update(self, conditions: Iterable[Condition], timestamp: float) -> List[Alert]:
        transitions = []
        for condition in conditions:
            firing = condition.type in self._firing
            if condition.active:
                self._clear_streak.pop(condition.type, None)
                if firing:
                    continue
            elif not firing:
                continue
            else:
                streak = self._clear_streak[condition.type] = self._clear_streak.get(condition.type, 0) + 1
                if streak < self._resolve_after:
                    continue
                del self._clear_streak[condition.type]
            alert = Alert(
                type=condition.type,
                severity=condition.severity,
                state=FIRING if condition.active else RESOLVED,
                message=condition.message if condition.active else f"resolved: {condition.message}",
                value=condition.value,
                threshold=condition.threshold,
                timestamp=timestamp,
            )
            if condition.active:
                self._firing[condition.type] = alert
            else:
                del self._firing[condition.type]
            transitions.append(alert)
        return transitions


# A collection rate this many times the process's own median rate is a spike; a busy service's
# ordinary young-generation rate (tens per second) is its normal, not one.
GC_SPIKE_FACTOR = 3.0


def alert_conditions(
    config: ProfilerConfig,
    heap_percent: float,
    paging_leaks: int,
    growth_percent_per_hour: float,
    gc_per_second: float,
    gc_normal_per_second: Optional[float],
    gc_pause_percent: float,
    drift_percent: Optional[float],
) -> List[Condition]:
    """Every rule's reading for one snapshot.

    ``paging_leaks`` counts the active leaks at or above ``leak_alert_severity``;
    ``gc_normal_per_second`` is the process's own usual rate (None until it is known);
    ``drift_percent`` is None until the baseline is settled after the warm-up.
    """
    gc_departs = (
        gc_per_second > config.gc_spike_per_second
        and gc_normal_per_second is not None
        and gc_per_second > GC_SPIKE_FACTOR * gc_normal_per_second
    )
    gc_costly = gc_pause_percent > config.gc_pause_warning_percent
    normal = "unknown" if gc_normal_per_second is None else f"{gc_normal_per_second:.1f}/s"
    drift = 0.0 if drift_percent is None else drift_percent
    return [
        Condition(
            "heap_critical",
            "critical",
            heap_percent > config.heap_critical_percent,
            heap_percent,
            config.heap_critical_percent,
            f"heap at {heap_percent:.1f}% of the memory limit",
        ),
        Condition(
            "heap_warning",
            "warning",
            heap_percent > config.heap_warning_percent,
            heap_percent,
            config.heap_warning_percent,
            f"heap at {heap_percent:.1f}% of the memory limit",
        ),
        Condition(
            "leak_detected",
            "critical",
            paging_leaks > 0,
            paging_leaks,
            0,
            f"{paging_leaks} leak(s) of severity {config.leak_alert_severity} or worse",
        ),
        Condition(
            "growth_rate_high",
            "warning",
            growth_percent_per_hour > config.growth_rate_warning,
            growth_percent_per_hour,
            config.growth_rate_warning,
            f"resident memory growing {growth_percent_per_hour:.1f}% per hour",
        ),
        Condition(
            "gc_spike",
            "warning",
            gc_departs or gc_costly,
            gc_per_second,
            config.gc_spike_per_second,
            f"{gc_per_second:.1f} garbage collections per second (normal {normal}), "
            f"{gc_pause_percent:.1f}% of the time in collection pauses",
        ),
        Condition(
            "baseline_drift_critical",
            "critical",
            drift > config.baseline_drift_critical_percent,
            drift,
            config.baseline_drift_critical_percent,
            f"heap {drift:+.1f}% from its baseline",
        ),
        Condition(
            "baseline_drift_high",
            "warning",
            drift > config.baseline_drift_warning_percent,
            drift,
            config.baseline_drift_warning_percent,
            f"heap {drift:+.1f}% from its baseline",
        ),
    ]
