"""The alert engine: Prometheus's ``for:`` semantics over the signals, one firing per episode."""

import pytest

from opentelemetry_instrumentation_memory import ProfilerConfig
from opentelemetry_instrumentation_memory.core.analysis.alerts import ACTIVE, INACTIVE, PENDING, AlertEngine
from opentelemetry_instrumentation_memory.core.analysis.rules import ALERT_RULES

QUIET = {
    "heap_percent": 50.0,
    "paging_leaks": 0.0,
    "growth_mb_per_hour": 0.0,
    "gc_collections_per_second": 5.0,
    "gc_normal_collections_per_second": 5.0,
    "gc_pause_percent": 0.0,
    "baseline_drift_percent": 0.0,
    "time_to_limit_seconds": None,
}


DEFAULTS = ProfilerConfig()


def run(engine, sequence, config=DEFAULTS, every=60.0, **fixed):
    """Evaluate each value of ``sequence`` (a dict of signals) a minute apart; (minute, type, state)."""
    events = []
    for minute, signals in enumerate(sequence):
        alerts = engine.evaluate({**QUIET, **fixed, **signals}, config, minute * every)
        events += [(minute, a.type, a.state) for a in alerts]
    return events


def test_an_alert_fires_after_holding_for_its_duration_and_resolves_when_it_clears():
    """heap_warning's rule holds for 10 minutes before it fires; one clear reading resolves it."""
    heap = [50] + [85] * 12 + [60]
    events = run(AlertEngine(), [{"heap_percent": p} for p in heap])
    assert events == [(11, "heap_warning", "firing"), (13, "heap_warning", "resolved")]


def test_a_clear_reading_while_pending_starts_the_duration_again():
    heap = [85] * 9 + [79] + [85] * 9
    assert run(AlertEngine(), [{"heap_percent": p} for p in heap]) == []


def test_states_go_inactive_pending_firing():
    engine = AlertEngine()
    config = ProfilerConfig()
    engine.evaluate({**QUIET, "heap_percent": 95.0}, config, 0.0)
    assert engine.states()["MemoryHeapCritical"] == PENDING
    engine.evaluate({**QUIET, "heap_percent": 95.0}, config, 300.0)
    assert engine.states()["MemoryHeapCritical"] == ACTIVE
    assert engine.states()["MemoryGCSpike"] == INACTIVE
    (alert,) = [a for a in engine.firing if a.type == "heap_critical"]
    assert (alert.severity, alert.value, alert.threshold, alert.timestamp) == ("critical", 95.0, 90.0, 300.0)
    assert alert["type"] == "heap_critical" and "95.0%" in alert.message


def test_every_rule_can_fire_and_none_fires_at_its_threshold():
    loud = {
        "heap_percent": 95.0,
        "paging_leaks": 2.0,
        "growth_mb_per_hour": 600.0,
        "gc_collections_per_second": 40.0,
        "gc_normal_collections_per_second": 10.0,
        "baseline_drift_percent": 120.0,
        "time_to_limit_seconds": 3600.0,
    }
    engine = AlertEngine()
    for minute in range(61):
        engine.evaluate({**QUIET, **loud}, ProfilerConfig(), minute * 60.0)
    assert {(a.type, a.severity) for a in engine.firing} == {(r.type, r.severity) for r in ALERT_RULES}
    at_threshold = {
        "heap_percent": 80.0,
        "growth_mb_per_hour": 100.0,
        "gc_collections_per_second": 10.0,
        "gc_normal_collections_per_second": 1.0,
        "gc_pause_percent": 5.0,
        "baseline_drift_percent": 50.0,
        "time_to_limit_seconds": 14400.0,
    }
    engine = AlertEngine()
    assert run(engine, [at_threshold] * 70) == []


@pytest.mark.parametrize(
    "signals",
    [
        {"gc_collections_per_second": 37.0, "gc_normal_collections_per_second": 33.0},  # busy, steady
        {"gc_collections_per_second": 37.0, "gc_normal_collections_per_second": None},  # no normal yet
        {"gc_collections_per_second": 8.0, "gc_normal_collections_per_second": 1.0},  # under 10/s
    ],
)
def test_collection_rates_that_are_the_process_normal_are_no_spike(signals):
    assert run(AlertEngine(), [signals] * 20) == []


def test_a_departure_from_the_normal_or_costly_pauses_are_a_spike():
    spike = {"gc_collections_per_second": 120.0, "gc_normal_collections_per_second": 33.0}
    assert run(AlertEngine(), [spike] * 6) == [(5, "gc_spike", "firing")]
    assert run(AlertEngine(), [{"gc_pause_percent": 12.0}] * 6) == [(5, "gc_spike", "firing")]


def test_absent_signals_hold_no_rule():
    absent = {name: None for name in QUIET}
    assert run(AlertEngine(), [absent] * 120) == []


def test_a_threshold_from_the_configuration_moves_the_alert():
    config = ProfilerConfig(growth_rate_warning=20.0, growth_rate_critical=40.0)
    events = run(AlertEngine(), [{"growth_mb_per_hour": 30.0}] * 62, config=config)
    assert events == [(60, "growth_rate_high", "firing")]
