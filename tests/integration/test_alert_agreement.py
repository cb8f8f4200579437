"""One alerting truth: the in-process engine and the shipped Prometheus rules give the same verdict.

Each scenario drives synthetic snapshots (raw figures: memory, collection counters, pause seconds,
object counts) through the process's analysis, which computes the signals it exports and runs the
alert engine. The exported series (signals and thresholds, as otel/metrics.py reports them) become
promtool's input series, and promtool evaluates the shipped rules at the same instants: at every step,
for every alert, the set firing in Prometheus must be the set firing in the process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import yaml

from opentelemetry_instrumentation_memory import ProfilerConfig, get_memory_profiler
from opentelemetry_instrumentation_memory.core.analysis.alerts import ACTIVE
from opentelemetry_instrumentation_memory.core.analysis.rules import ALERT_RULES, SIGNALS, threshold_settings
from opentelemetry_instrumentation_memory.core.analysis.state import MemoryAnalysis
from opentelemetry_instrumentation_memory.core.records import MemorySnapshot

from .promtool import RULES, promtool

LIMIT_MB = 2000.0
START = 1_700_000_000.0  # on a whole minute, as Prometheus aligns nothing else here
LABELS = 'job="svc", instance="svc-1"'


@dataclass
class Reading:
    """One step's raw figures; ``counts`` is the census."""

    used_mb: float = 300.0
    gc_collections: int = 0
    gc_pause_seconds: float = 0.0
    counts: Dict[str, int] = field(default_factory=lambda: {"dict": 5000})


Scenario = Callable[[int, Reading], Reading]  # step, previous reading -> this step's


def snapshot(step: int, interval: float, reading: Reading) -> MemorySnapshot:
    return MemorySnapshot(
        timestamp=START + step * interval,
        heap_used_mb=reading.used_mb,
        heap_size_mb=LIMIT_MB,
        heap_percent=100.0 * reading.used_mb / LIMIT_MB,
        rss_mb=reading.used_mb,
        vms_mb=2 * reading.used_mb,
        total_objects=sum(reading.counts.values()),
        top_objects=tuple(sorted(reading.counts.items())),
        gc_collections=(reading.gc_collections, 0, 0),
        gc_collected=0,
        gc_uncollectable=0,
        tracemalloc_current_mb=0.0,
        tracemalloc_peak_mb=0.0,
        limit_source="cgroup_v2",
        census_ms=1.0,
        duration_ms=1.0,
        gc_pause_seconds=reading.gc_pause_seconds,
    )


@dataclass
class Run:
    interval: float
    exported: Dict[str, List[Optional[float]]]  # series selector -> value per step (None: absent)
    firing: List[List[str]]  # alert names firing after each step


def drive(scenario: Scenario, steps: int, interval: float, config: ProfilerConfig) -> Run:
    analysis = MemoryAnalysis(config)
    reading = Reading()
    exported: Dict[str, List[Optional[float]]] = {}
    firing: List[List[str]] = []

    def export(series: str, value: Optional[float]) -> None:
        exported.setdefault(series, [None] * len(firing))
        exported[series].append(value)

    for step in range(steps):
        reading = scenario(step, reading)
        analysis.record(snapshot(step, interval, reading), reading.counts)
        for name in SIGNALS:  # what otel/metrics.py exports, absent as it is
            export(f"fogcompute_memory_{name}{{{LABELS}}}", analysis.signals.get(name))
        for alert, setting in threshold_settings():
            export(
                f'fogcompute_memory_alert_threshold{{{LABELS}, alert="{alert}", setting="{setting}"}}',
                float(getattr(config, setting)),
            )
        states = analysis.alerts.states()
        firing.append(sorted(name for name, state in states.items() if state == ACTIVE))
    return Run(interval, exported, firing)


def _values(values: List[Optional[float]]) -> str:
    """promtool's notation: ``_`` before a series' first sample, ``stale`` where it disappears."""
    shown, seen, previous = [], False, None
    for value in values:
        if value is None:
            shown.append("stale" if previous is not None else "_")
        else:
            shown.append(repr(float(value)) if math.isfinite(value) else "NaN")
            seen = True
        previous = value
    return " ".join(shown) if seen else ""


def promtool_agrees(run: Run, tmp_path: Path) -> None:
    """promtool evaluates the shipped rules (annotations aside) at every step and must find the set of
    firing alerts the engine found."""
    rules = yaml.safe_load(RULES.read_text())
    for rule in rules["groups"][0]["rules"]:
        rule.pop("annotations")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    interval = f"{int(run.interval)}s"
    checks = []
    for step, names in enumerate(run.firing):
        for rule in ALERT_RULES:
            expected = (
                [{"exp_labels": {"severity": rule.severity, "job": "svc", "instance": "svc-1"}}]
                if rule.name in names
                else []
            )
            checks.append(
                {"eval_time": f"{step * int(run.interval)}s", "alertname": rule.name, "exp_alerts": expected}
            )
    series = [
        {"series": name, "values": _values(values)}
        for name, values in run.exported.items()
        if _values(values)
    ]
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": interval,
        "tests": [{"interval": interval, "input_series": series, "alert_rule_test": checks}],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    result = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


# Scenarios: each returns the next reading from the step and the previous one.


def heap_hovering(step: int, before: Reading) -> Reading:
    """Above 80 % for 12 minutes, dipping under for a step, then above 90 % for 6 minutes."""
    if step < 10:
        percent = 70.0
    elif step < 22:
        percent = 81.5
    elif step == 22:
        percent = 79.0
    elif step < 40:
        percent = 83.0 if step < 34 else 92.0
    else:
        percent = 60.0
    return Reading(percent * LIMIT_MB / 100.0, before.gc_collections + 600, 0.0, before.counts)


def leaking(step: int, before: Reading) -> Reading:
    """A type growing by 2,000 objects a minute for 40 minutes, then flat."""
    grown = min(step, 40) * 2000
    return Reading(
        300.0 + grown / 1000.0, before.gc_collections + 600, 0.0, {"dict": 5000, "Order": 1000 + grown}
    )


def growing(step: int, before: Reading) -> Reading:
    """Flat through the warm-up, then 150 MB/h for 80 minutes, 600 MB/h for 85, then flat."""
    minutes = step - 10
    if minutes <= 0:
        used = 200.0
    elif minutes < 80:
        used = 200.0 + 2.5 * minutes
    elif minutes < 165:
        used = 400.0 + 10.0 * (minutes - 80)
    else:
        used = 1250.0
    return Reading(used, before.gc_collections + 600, 0.0, before.counts)


def batch_bursts(step: int, before: Reading) -> Reading:
    """A healthy service whose batch job sets off 3,000 collections every fourth step (20 s apart)."""
    collections = 3000 if step % 4 == 0 else 40
    return Reading(300.0 + (step % 4), before.gc_collections + collections, before.gc_pause_seconds + 0.05)


def gc_spike(step: int, before: Reading) -> Reading:
    """A steady 10/s, then 60/s for a quarter of an hour, then a stretch of costly pauses."""
    rate = 60 if 40 <= step < 55 else 10
    pause = 12.0 if 70 <= step < 85 else 0.1
    return Reading(300.0, before.gc_collections + rate * 60, before.gc_pause_seconds + pause)


def idle_master(step: int, before: Reading) -> Reading:
    """A pre-fork master: 40 MB, a few kilobytes of wobble, no collections."""
    return Reading(40.0 + 0.01 * (step % 3), before.gc_collections, 0.0, before.counts)


def steady_busy(step: int, before: Reading) -> Reading:
    """A busy worker: 35 collections a second, memory in a sawtooth of 30 MB."""
    return Reading(
        400.0 + 3.0 * (step % 10), before.gc_collections + 35 * 60 + step % 7, before.gc_pause_seconds + 0.3
    )


def drifting(step: int, before: Reading) -> Reading:
    """Settles at 200 MB after the warm-up, then steps to 320 MB (60 %) and later 420 MB (110 %)."""
    used = 200.0 if step < 20 else 320.0 if step < 100 else 420.0 if step < 150 else 210.0
    return Reading(used, before.gc_collections + 600, 0.0, before.counts)


def heading_for_the_limit(step: int, before: Reading) -> Reading:
    """Steady growth of 5 MB a minute from 1,000 MB: the limit in under three and a half hours."""
    return Reading(1000.0 + 5.0 * step, before.gc_collections + 600, 0.0, before.counts)


SCENARIOS = {
    "heap_hovering": (heap_hovering, 50, 60.0, {}),
    "heap_with_a_lowered_threshold": (heap_hovering, 50, 60.0, {"heap_warning_percent": 65.0}),
    "leaking": (leaking, 70, 60.0, {"leak_alert_severity": "low", "warmup_seconds": 0.0}),
    "growing": (growing, 200, 60.0, {"warmup_seconds": 600.0}),
    "growing_with_lower_thresholds": (
        growing,
        200,
        60.0,
        {"growth_rate_warning": 50.0, "growth_rate_critical": 150.0, "warmup_seconds": 600.0},
    ),
    "batch_bursts": (batch_bursts, 240, 5.0, {"warmup_seconds": 120.0}),
    "gc_spike": (gc_spike, 100, 60.0, {"warmup_seconds": 300.0}),
    "idle_master": (idle_master, 120, 60.0, {"warmup_seconds": 120.0}),
    "steady_busy": (steady_busy, 160, 60.0, {"warmup_seconds": 600.0}),
    "drifting": (drifting, 170, 60.0, {"warmup_seconds": 600.0}),
    "heading_for_the_limit": (heading_for_the_limit, 60, 60.0, {}),
}

# What each scenario must show, so that agreement is not agreement on silence.
EXPECTED_TO_FIRE = {
    "heap_hovering": {"MemoryHeapWarning", "MemoryHeapCritical"},
    "heap_with_a_lowered_threshold": {"MemoryHeapWarning", "MemoryHeapCritical"},
    "leaking": {"MemoryLeakDetected"},
    "growing": {"MemoryGrowthRateHigh", "MemoryGrowthRateCritical", "MemoryOOMPredicted"},
    "growing_with_lower_thresholds": {
        "MemoryGrowthRateHigh",
        "MemoryGrowthRateCritical",
        "MemoryOOMPredicted",
    },
    "batch_bursts": set(),
    "gc_spike": {"MemoryGCSpike"},
    "idle_master": set(),
    "steady_busy": set(),
    "drifting": {"MemoryBaselineDriftHigh", "MemoryBaselineDriftCritical"},
    "heading_for_the_limit": {"MemoryOOMPredicted"},
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_engine_and_the_shipped_rules_fire_the_same_alerts_at_every_step(name: str, tmp_path: Path):
    scenario, steps, interval, settings = SCENARIOS[name]
    run = drive(scenario, steps, interval, ProfilerConfig(**settings))
    fired = {alert for names in run.firing for alert in names}
    expected = EXPECTED_TO_FIRE[name]
    assert fired >= expected and (fired or not expected) and (expected or not fired), fired
    promtool_agrees(run, tmp_path)


def test_the_shipped_rules_are_written_from_the_definitions():
    from opentelemetry_instrumentation_memory.otel.prometheus_rules import RULES_PATH, render

    assert RULES.read_text() == render(), (
        f"regenerate: python -m opentelemetry_instrumentation_memory.otel.prometheus_rules {RULES_PATH}"
    )


def test_the_process_exports_the_figures_thresholds_and_states_the_engine_reads(
    instrumentor, telemetry, monkeypatch
):
    """What the rules read is what the engine read: each signal, each threshold (an environment
    variable and configure() move it), each alert's state."""
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_GROWTH_RATE_WARNING", "42")
    instrumentor.instrument(snapshot_interval=3600.0, warmup_seconds=60.0, **telemetry.providers())
    profiler = get_memory_profiler()
    profiler.configure(heap_warning_percent=0.0)
    # Twenty-five minutes of real snapshots, a minute apart by their clock: every windowed figure
    # (five minutes; ten after the warm-up) can be stated.
    take, start = profiler._taker.take, time.time()
    clock = iter(range(10_000))

    def a_minute_later(*args, **kwargs):
        snapshot, counts = take(*args, **kwargs)
        return replace(snapshot, timestamp=start + 60.0 * next(clock)), counts

    monkeypatch.setattr(profiler._taker, "take", a_minute_later)
    for _ in range(25):
        profiler.snapshot()
    stated = {name for name, value in profiler.alert_signals.items() if value is not None}
    assert stated >= set(SIGNALS) - {"time_to_limit_seconds"}  # the forecast only while memory grows
    points = telemetry.metric_points()
    thresholds = {
        attributes["setting"]: value for attributes, value in points["fogcompute_memory_alert_threshold"]
    }
    assert thresholds["growth_rate_warning"] == 42.0 and thresholds["heap_warning_percent"] == 0.0
    assert set(thresholds) == {setting for _, setting in threshold_settings()}
    states = {attributes["alert"]: value for attributes, value in points["fogcompute_memory_alert_state"]}
    assert states == profiler.alert_states and states["MemoryHeapWarning"] == ACTIVE  # held 10 minutes
    for name, value in profiler.alert_signals.items():
        exported = points.get(f"fogcompute_memory_{name}", [])
        assert [v for _, v in exported] == ([] if value is None else [value]), name
