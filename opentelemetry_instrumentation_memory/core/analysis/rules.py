"""The nine alerts, each defined once: the in-process engine evaluates these definitions and the
shipped Prometheus rules are written from them, so a callback fires when and only when the rule would.

An alert compares signals the process computes and exports (``fogcompute_memory_<signal>``) with
thresholds it exports (``fogcompute_memory_alert_threshold{setting=...}``): a threshold set by
``configure()`` or an environment variable moves the rule too, and no rule re-derives a figure from
raw series, so the engine and Prometheus read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

# Signals the engine reads, each None while the process cannot state it yet (the exported gauge is
# then absent, and the rule reads nothing).
SIGNALS = (
    "heap_percent",
    "paging_leaks",
    "growth_mb_per_hour",
    "gc_collections_per_second",
    "gc_normal_collections_per_second",
    "gc_pause_percent",
    "baseline_drift_percent",
    "time_to_limit_seconds",
)
# A collection rate this many times the process's own normal is a spike; a busy service's steady
# young-generation rate (tens per second) is its normal, not one.
GC_SPIKE_FACTOR = 3.0


@dataclass(frozen=True)
class Comparison:
    """``signal > threshold`` (``below``: ``<``); the threshold is a setting's value, else ``literal``,
    else ``factor`` times another signal."""

    signal: str
    setting: Optional[str] = None
    literal: Optional[float] = None
    factor_of: Optional[str] = None
    factor: float = 1.0
    below: bool = False

    def threshold(self, signals: Mapping[str, Optional[float]], settings: object) -> Optional[float]:
        if self.setting is not None:
            return float(getattr(settings, self.setting))
        if self.literal is not None:
            return self.literal
        other = signals.get(self.factor_of or "")
        return None if other is None else self.factor * other

    def holds(self, signals: Mapping[str, Optional[float]], settings: object) -> bool:
        value, threshold = signals.get(self.signal), self.threshold(signals, settings)
        if value is None or threshold is None:
            return False
        return value < threshold if self.below else value > threshold


@dataclass(frozen=True)
class AlertRule:
    """One alert: it holds when every comparison of any one of ``any_of`` holds, and fires once it
    has held at every evaluation for ``for_seconds`` (Prometheus's ``for:``)."""

    name: str  # the Prometheus alert name
    type: str  # the in-process alert type callbacks see
    severity: str
    for_seconds: float
    any_of: Tuple[Tuple[Comparison, ...], ...]
    summary: str  # "{instance}" stands for the process
    description: str  # "{value}" stands for the first comparison's signal, formatted by ``value_format``
    value_format: str = "%.1f"  # printf-style; "duration" for seconds shown as a duration

    def reading(
        self, signals: Mapping[str, Optional[float]], settings: object
    ) -> Optional[Tuple[float, float]]:
        """(value, threshold) of the first alternative that holds; None when none does."""
        for alternative in self.any_of:
            if all(comparison.holds(signals, settings) for comparison in alternative):
                first = alternative[0]
                value = signals[first.signal]
                threshold = first.threshold(signals, settings)
                assert value is not None and threshold is not None
                return value, threshold
        return None

    @property
    def settings(self) -> Tuple[str, ...]:
        return tuple(c.setting for alt in self.any_of for c in alt if c.setting is not None)


def _above(signal: str, setting: str) -> Tuple[Tuple[Comparison, ...], ...]:
    return ((Comparison(signal, setting=setting),),)


ALERT_RULES: Tuple[AlertRule, ...] = (
    AlertRule(
        "MemoryHeapCritical",
        "heap_critical",
        "critical",
        300.0,
        _above("heap_percent", "heap_critical_percent"),
        "Memory above its critical share of the limit on {instance}",
        "holds {value}% of its memory limit, above heap_critical_percent, for 5 minutes: "
        "it will be OOM-killed soon.",
    ),
    AlertRule(
        "MemoryHeapWarning",
        "heap_warning",
        "warning",
        600.0,
        _above("heap_percent", "heap_warning_percent"),
        "Memory above its warning share of the limit on {instance}",
        "holds {value}% of its memory limit, above heap_warning_percent, for 10 minutes.",
    ),
    AlertRule(
        "MemoryLeakDetected",
        "leak_detected",
        "critical",
        900.0,
        ((Comparison("paging_leaks", literal=0.0),),),
        "Memory leak on {instance}",
        "has {value} leak(s) at or above leak_alert_severity (by default: filling the memory "
        "headroom within days) for 15 minutes; the fogcompute.memory.leak_detected log records "
        "say which.",
        value_format="%.0f",
    ),
    AlertRule(
        "MemoryGrowthRateHigh",
        "growth_rate_high",
        "warning",
        3600.0,
        _above("growth_mb_per_hour", "growth_rate_warning"),
        "Memory growing fast on {instance}",
        "grows {value} MB per hour, above growth_rate_warning, for an hour.",
    ),
    AlertRule(
        "MemoryGrowthRateCritical",
        "growth_rate_critical",
        "critical",
        1800.0,
        _above("growth_mb_per_hour", "growth_rate_critical"),
        "Memory growing very fast on {instance}",
        "grows {value} MB per hour, above growth_rate_critical, for 30 minutes.",
    ),
    AlertRule(
        "MemoryGCSpike",
        "gc_spike",
        "warning",
        300.0,
        (
            (Comparison("gc_pause_percent", setting="gc_pause_warning_percent"),),
            (
                Comparison("gc_collections_per_second", setting="gc_spike_per_second"),
                Comparison(
                    "gc_collections_per_second",
                    factor_of="gc_normal_collections_per_second",
                    factor=GC_SPIKE_FACTOR,
                ),
            ),
        ),
        "Garbage collection spike on {instance}",
        "spends more than gc_pause_warning_percent of its time in collection pauses, or collects "
        "above gc_spike_per_second and three times its normal rate, for 5 minutes (value {value}: "
        "the percent of time in pauses, else collections per second).",
        value_format="%.2f",
    ),
    AlertRule(
        "MemoryBaselineDriftHigh",
        "baseline_drift_high",
        "warning",
        3600.0,
        _above("baseline_drift_percent", "baseline_drift_warning_percent"),
        "Memory drifted from its baseline on {instance}",
        "holds {value}% more memory than at its baseline, above baseline_drift_warning_percent, for an hour.",
    ),
    AlertRule(
        "MemoryBaselineDriftCritical",
        "baseline_drift_critical",
        "critical",
        1800.0,
        _above("baseline_drift_percent", "baseline_drift_critical_percent"),
        "Memory far above its baseline on {instance}",
        "holds {value}% more memory than at its baseline, above baseline_drift_critical_percent, "
        "for 30 minutes.",
    ),
    AlertRule(
        "MemoryOOMPredicted",
        "oom_predicted",
        "critical",
        600.0,
        ((Comparison("time_to_limit_seconds", setting="oom_horizon_seconds", below=True),),),
        "Out of memory predicted on {instance}",
        "reaches its memory limit in {value} at its current trend, within oom_horizon_seconds, "
        "for 10 minutes.",
        value_format="duration",
    ),
)


def threshold_settings() -> Tuple[Tuple[str, str], ...]:
    """(alert name, setting) of every exported threshold, in rule order."""
    return tuple((rule.name, setting) for rule in ALERT_RULES for setting in rule.settings)
