import re
import tracemalloc
from dataclasses import fields

import pytest

from opentelemetry_instrumentation_memory import MemoryProfiler, ProfilerConfig
from opentelemetry_instrumentation_memory.core.analysis.leaks import SERIES_BUDGET_BYTES
from opentelemetry_instrumentation_memory.core.settings import (
    MIN_CENSUS_BUDGET,
    MIN_SNAPSHOT_INTERVAL,
    SETTINGS,
)


def test_defaults_match_the_spec():
    config = ProfilerConfig()
    assert config.snapshot_interval == 60.0
    assert config.enable_tracemalloc is False
    assert config.top_objects_count == 20
    assert config.history_size == 1000
    assert (config.heap_warning_percent, config.heap_critical_percent) == (80.0, 90.0)
    assert (config.growth_rate_warning, config.growth_rate_critical) == (100.0, 500.0)
    assert config.gc_spike_per_second == 10.0
    assert config.baseline_drift_warning_percent == 50.0


@pytest.mark.parametrize(
    "name, value",
    [
        ("snapshot_interval", 0),
        ("snapshot_interval", -5),
        ("snapshot_interval", float("nan")),
        ("snapshot_interval", "60"),
        ("enable_tracemalloc", "yes"),
        ("top_objects_count", -1),
        ("top_objects_count", 2.5),
        ("history_size", 1),
        ("heap_warning_percent", 120),
        ("heap_critical_percent", -1),
        ("growth_rate_warning", -0.1),
        ("gc_spike_per_second", 0),
        ("baseline_drift_warning_percent", float("inf")),
        ("leak_min_snapshots", 4),
        ("max_detected_leaks", 0),
    ],
)
def test_invalid_values_name_the_argument_and_the_value(name, value):
    with pytest.raises(ValueError) as error:
        MemoryProfiler(**{name: value})
    assert name in str(error.value)
    assert repr(value) in str(error.value)


def test_warning_above_critical_is_rejected():
    with pytest.raises(ValueError, match="heap_critical_percent.*70"):
        ProfilerConfig(heap_warning_percent=80.0, heap_critical_percent=70.0)


def test_unknown_argument_is_named():
    with pytest.raises(ValueError, match="'snapshot_intervall'"):
        MemoryProfiler(snapshot_intervall=5)


def test_threshold_attributes_validate_on_assignment():
    profiler = MemoryProfiler()
    profiler.heap_warning_percent = 70.0
    assert profiler.config.heap_warning_percent == 70.0
    with pytest.raises(ValueError, match="heap_warning_percent.*150"):
        profiler.heap_warning_percent = 150
    assert profiler.heap_warning_percent == 70.0
    profiler.growth_rate_warning = 25
    assert profiler.config.growth_rate_warning == 25


@pytest.mark.parametrize("name", ["snapshot_interval", "census_budget", "oom_horizon_seconds", "leak_window"])
@pytest.mark.parametrize("value", [10**400, -(10**400), 10**5000], ids=["1e400", "-1e400", "1e5000"])
def test_integers_beyond_any_float_are_a_value_error_naming_the_argument(name, value):
    with pytest.raises(ValueError) as error:
        MemoryProfiler(**{name: value})
    assert name in str(error.value) and len(str(error.value)) < 200


def test_a_long_leak_window_is_bounded_by_memory_not_only_by_count():
    window = 10_000
    profiler = MemoryProfiler(leak_window=window, leak_min_snapshots=24)
    detector = profiler._analysis.detector
    assert detector.max_types == SERIES_BUDGET_BYTES // (8 * window) == 838
    assert MemoryProfiler()._analysis.detector.max_types == 20_000  # the default window keeps the cap
    tracemalloc.start()
    try:
        detector.observe(0.0, {f"Type{i}": i + 1 for i in range(1_000)})
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert detector.tracked_types == 838 and detector.types_dropped == 162
    assert held < SERIES_BUDGET_BYTES * 17 // 16 + (1 << 20)  # arrays keep a growth margin of 1/16


FLOAT_SETTINGS = [field.name for field in fields(ProfilerConfig) if type(field.default) is float]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", FLOAT_SETTINGS)
def test_no_number_setting_takes_nan_or_infinity(name, value):
    with pytest.raises(ValueError) as error:
        ProfilerConfig(**{name: value})
    assert name in str(error.value) and repr(value) in str(error.value)


@pytest.mark.parametrize("value", [1e-300, 5e-324, 0.001, 0.0099])
def test_an_interval_below_the_floor_is_refused(value):
    """1e-300 was accepted: 22,000 snapshots in 5 s, the host's throughput down 90 %."""
    with pytest.raises(ValueError) as error:
        MemoryProfiler(snapshot_interval=value)
    assert "snapshot_interval" in str(error.value) and repr(value) in str(error.value)
    assert str(MIN_SNAPSHOT_INTERVAL) in str(error.value)
    assert MemoryProfiler(snapshot_interval=MIN_SNAPSHOT_INTERVAL).config.snapshot_interval == 0.01


@pytest.mark.parametrize("value", [1e-300, 5e-324, 0.00009])
def test_a_census_budget_below_the_floor_is_refused(value):
    """1e-300 was accepted, and silently turned the census off: the next was due after any run."""
    with pytest.raises(ValueError) as error:
        MemoryProfiler(census_budget=value)
    assert "census_budget" in str(error.value) and repr(value) in str(error.value)
    assert ProfilerConfig(census_budget=MIN_CENSUS_BUDGET).census_budget == 0.0001
    assert ProfilerConfig(census_budget=1.0).census_budget == 1.0


def test_leak_owner_literal_keys_is_off_by_default_and_only_a_bool():
    assert ProfilerConfig().leak_owner_literal_keys is False
    assert MemoryProfiler(leak_owner_literal_keys=True).config.leak_owner_literal_keys is True
    for value in (1, "true", None):
        with pytest.raises(ValueError) as error:
            MemoryProfiler(leak_owner_literal_keys=value)
        assert "leak_owner_literal_keys" in str(error.value) and repr(value) in str(error.value)


def test_the_config_declares_the_settings_table_in_its_order_and_types():
    declared = [(field.name, field.type, field.default) for field in fields(ProfilerConfig)]
    assert declared == [(setting.name, setting.kind.__name__, setting.default) for setting in SETTINGS]


def test_a_bound_from_another_setting_names_an_earlier_one_of_the_same_kind():
    """Validation runs in the table's order: the bounding setting is checked first."""
    for index, setting in enumerate(SETTINGS):
        for other in filter(None, (setting.at_least, setting.at_most)):
            earlier = {s.name: s for s in SETTINGS[:index]}
            assert other in earlier and earlier[other].kind is setting.kind, setting.name


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"growth_rate_warning": 600.0}, "growth_rate_critical must be >= growth_rate_warning (600.0)"),
        ({"baseline_drift_critical_percent": 40.0}, "baseline_drift_critical_percent must be >= "),
        ({"leak_window": 10, "leak_min_snapshots": 11}, "leak_min_snapshots must be >= 8 and <= 10, got 11"),
        ({"leak_alert_severity": "urgent"}, "leak_alert_severity must be one of low, medium, high, critical"),
        ({"leak_site_path_root": 3}, "leak_site_path_root must be a path, got 3"),
    ],
)
def test_bounds_from_other_settings_and_choices_are_checked(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ProfilerConfig(**changes)
