from opentelemetry_instrumentation_memory import ProfilerConfig
from opentelemetry_instrumentation_memory.core.analysis.alerts import AlertState, alert_conditions


def readings(**overrides):
    values = dict(
        heap_percent=50.0,
        paging_leaks=0,
        growth_percent_per_hour=0.0,
        gc_per_second=0.0,
        gc_normal_per_second=5.0,
        gc_pause_percent=0.0,
        drift_percent=0.0,
    )
    values.update(overrides)
    return alert_conditions(ProfilerConfig(), **values)


def test_each_alert_fires_once_and_resolves_once():
    state = AlertState()
    sequence = [50, 85, 86, 88, 95, 96, 85, 60, 61, 62, 63]
    events = []
    for t, percent in enumerate(sequence):
        events += [(t, a.type, a.state) for a in state.update(readings(heap_percent=percent), float(t))]
    assert events == [
        (1, "heap_warning", "firing"),
        (4, "heap_critical", "firing"),
        (8, "heap_critical", "resolved"),  # after three clear readings in a row
        (9, "heap_warning", "resolved"),
    ]


def test_a_value_hovering_at_its_threshold_does_not_storm():
    state = AlertState()
    fired = []
    for t in range(100):
        fired += state.update(readings(heap_percent=81 if t % 2 else 79), float(t))
    assert [(a.type, a.state) for a in fired] == [("heap_warning", "firing")]


def test_alert_records_carry_value_threshold_severity_and_read_as_mappings():
    state = AlertState()
    (alert,) = state.update(readings(gc_per_second=25.0), 42.0)
    assert (alert.type, alert.severity, alert.state) == ("gc_spike", "warning", "firing")
    assert (alert.value, alert.threshold, alert.timestamp) == (25.0, 10.0, 42.0)
    assert alert["type"] == "gc_spike" and alert.to_dict()["value"] == 25.0
    assert "25.0" in alert.message
    assert state.firing == [alert]


def test_every_rule_of_the_spec_can_fire():
    state = AlertState()
    fired = state.update(
        readings(
            heap_percent=95.0,
            paging_leaks=2,
            growth_percent_per_hour=30.0,
            gc_per_second=40.0,
            drift_percent=120.0,
        ),
        0.0,
    )
    assert {(a.type, a.severity) for a in fired} == {
        ("heap_critical", "critical"),
        ("heap_warning", "warning"),
        ("leak_detected", "critical"),
        ("growth_rate_high", "warning"),
        ("gc_spike", "warning"),
        ("baseline_drift_critical", "critical"),
        ("baseline_drift_high", "warning"),
    }


def test_values_at_the_threshold_do_not_fire():
    state = AlertState()
    assert state.update(readings(heap_percent=80.0, gc_per_second=10.0, drift_percent=50.0), 0.0) == []


def test_a_busy_but_steady_collection_rate_is_no_spike():
    """A healthy busy worker collects 30-37 times a second, all the time: its normal."""
    assert not any(c.active for c in readings(gc_per_second=37.0, gc_normal_per_second=33.0))
    assert not any(c.active for c in readings(gc_per_second=37.0, gc_normal_per_second=None))
    (spike,) = [c for c in readings(gc_per_second=120.0, gc_normal_per_second=33.0) if c.active]
    assert spike.type == "gc_spike" and "normal 33.0/s" in spike.message


def test_time_lost_in_collection_pauses_is_a_spike_whatever_the_rate():
    (spike,) = [c for c in readings(gc_per_second=2.0, gc_pause_percent=12.0) if c.active]
    assert spike.type == "gc_spike" and "12.0% of the time" in spike.message
    assert not any(c.active for c in readings(gc_per_second=2.0, gc_pause_percent=4.0))


def test_no_drift_alert_before_the_baseline_is_settled():
    assert not any(c.active for c in readings(drift_percent=None))
    assert {c.type for c in readings(drift_percent=150.0) if c.active} == {
        "baseline_drift_high",
        "baseline_drift_critical",
    }
