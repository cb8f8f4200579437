import gc
import math
import random

import pytest

from opentelemetry_instrumentation_memory import Leak, LeakDetector
from tests.unit.patterns import LEAKS, NOT_LEAKS, series

SNAPSHOTS = 200
INTERVAL = 60.0


def run(values, detector=None, name="T"):
    """Feed one type's series; return (index of first detection, leaks active after each snapshot)."""
    detector = detector or LeakDetector()
    first = None
    active = []
    for i, value in enumerate(values):
        leaks = detector.observe(i * INTERVAL, {name: value})
        active.append(leaks)
        if leaks and first is None:
            first = i
    return first, active


@pytest.mark.parametrize("name", sorted(NOT_LEAKS))
@pytest.mark.parametrize("seed", range(5))
def test_stationary_shapes_are_never_leaks(name, seed):
    first, _ = run(series(NOT_LEAKS[name], SNAPSHOTS, seed))
    assert first is None


@pytest.mark.parametrize("seed", range(5))
def test_a_batch_cycle_longer_than_the_window_is_not_a_new_leak_every_cycle(seed):
    """An hourly job (a 60-census cycle, 48-census window) builds 2,000 objects over 30 censuses and
    drops them: each climb's recent counts lay above every count left in the window, and each was
    reported as a new leak (10 in 600 censuses). Its first climb may be (nothing came before it)."""
    rng = random.Random(seed)
    values = [
        round(1_000 + (2_000 * (i % 60) / 30 if i % 60 < 30 else 0) + rng.gauss(0, 10)) for i in range(600)
    ]
    _, active = run(values)
    started = [i for i in range(1, len(active)) if active[i] and not active[i - 1]]
    assert not [i for i in started if i >= 60], started


@pytest.mark.parametrize("name", sorted(LEAKS))
@pytest.mark.parametrize("seed", range(5))
def test_persistent_growth_is_found_and_stays_found(name, seed):
    first, active = run(series(LEAKS[name], SNAPSHOTS, seed))
    assert first is not None and first < 40
    # Once found, a leak that keeps growing stays active: no flapping, so no repeated events.
    assert all(active[i] for i in range(first, SNAPSHOTS))


def flat_then_growing(rate, noise, seed, flat=60, total=120):
    rng = random.Random(seed)
    return [round(20_000 + rate * max(0, i - flat) + rng.gauss(0, noise)) for i in range(total)]


def delay(values, flat=60):
    first, _ = run(values)
    return None if first is None else first - flat + 1


@pytest.mark.parametrize("seed", range(10))
def test_a_material_clean_leak_in_a_watched_type_is_found_within_eight_censuses(seed):
    """895 objects of 200 bytes a minute add 1 % of a 1 GiB headroom an hour."""
    found = delay(flat_then_growing(895, 20, seed))
    assert found is not None and found <= 8


def test_the_evidence_needed_grows_with_the_noise():
    delays = [delay(flat_then_growing(100, noise, seed=1)) for noise in (0, 50, 150, 300)]
    assert all(found is not None for found in delays), delays
    assert delays == sorted(delays) and delays[0] < delays[-1], delays


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tau", (10, 20, 40))
def test_a_warm_up_found_early_never_ranks_above_low_and_ends(tau, seed):
    """A cache filling after a flat window (40 MB at 2 kB an entry: material): over its first
    censuses it is a leak's line, and may be reported; it ranks above low only once the span since
    it was found shows no bend towards a plateau, which a warm-up's always does."""
    rng = random.Random(seed)
    detector = LeakDetector()
    severities = set()
    for i in range(50 + 8 * tau + 48):
        value = round(5_000 + 20_000 * (1 - math.exp(-max(0, i - 50) / tau)) + rng.gauss(0, 30))
        leaks = detector.observe(i * 60.0, {"T": value}, object_sizes=lambda names: {"T": 2_000.0})
        severities |= {leak.severity for leak in leaks}
    assert severities <= {"low"}
    assert detector.active_leaks == []


def test_decisions_depend_on_shape_not_on_wall_clock_span():
    values = series(LEAKS["linear_slow"], 60)
    for interval in (0.001, 1.0, 3600.0):
        detector = LeakDetector()
        found = [bool(detector.observe(i * interval, {"T": v})) for i, v in enumerate(values)]
        assert found.index(True) == detector.min_snapshots - 1


def test_rate_is_per_hour_from_the_timestamps():
    detector = LeakDetector()
    for i in range(30):
        leaks = detector.observe(i * 10.0, {"T": 1_000 + 5 * i})
    (leak,) = leaks
    assert leak.growth_rate_per_hour == pytest.approx(5 * 360, rel=1e-6)
    assert leak.current_count == 1_000 + 5 * 29
    assert leak.first_detected == 130.0 and leak.last_detected == 290.0


def test_leak_record_fields_and_dict():
    detector = LeakDetector()
    for i in range(30):
        leaks = detector.observe(float(i), {"pkg.Thing": 100 + 20 * i})
    leak = leaks[0]
    assert isinstance(leak, Leak)
    record = leak.to_dict()
    for key in ("object_type", "severity", "growth_count", "growth_percent", "growth_rate_per_hour"):
        assert record[key] == getattr(leak, key)
    assert record["object_type"] == "pkg.Thing"
    assert leak.growth_count > 0 and leak.growth_percent > 0


def test_faster_growth_never_gets_lower_severity():
    ranks = []
    for per_snapshot in (1, 2, 5, 10, 30, 100, 300, 1_000, 3_000, 10_000, 100_000):
        detector = LeakDetector(min_growth=1)
        for i in range(60):
            leaks = detector.observe(i * 60.0, {"T": 10_000 + per_snapshot * i})
        assert leaks, per_snapshot
        ranks.append(["low", "medium", "high", "critical"].index(leaks[0].severity))
    assert ranks == sorted(ranks)
    assert ranks[0] == 0 and ranks[-1] == 3


@pytest.mark.parametrize(
    "bytes_per_object, headroom_gib, severity",
    [
        (64, 16, "low"),  # 240 objects/h of 64 B: centuries to fill 16 GiB
        (1_000_000, 32, "medium"),  # 240 MB/h: six days
        (1_000_000, 4, "high"),  # 240 MB/h: 17 hours
        (1_000_000, 1, "critical"),  # 240 MB/h: four hours
    ],
)
def test_severity_is_the_time_to_fill_the_headroom(bytes_per_object, headroom_gib, severity):
    """Two hours of growth: enough for each to have added 1 % of its headroom (328 MB of 32 GiB)."""
    detector = LeakDetector()
    for i in range(120):
        leaks = detector.observe(
            i * 60.0,
            {"T": 1_000 + 4 * i},
            headroom_bytes=headroom_gib * 2**30,
            object_sizes=lambda names: {name: bytes_per_object for name in names},
        )
    (leak,) = leaks
    assert leak.severity == severity
    assert leak.bytes_per_object == bytes_per_object
    assert leak.retained_bytes_per_hour == pytest.approx(240 * bytes_per_object, rel=1e-3)
    assert leak.growth_percent < 200  # from the window's mean level, never thousands of percent


def test_a_new_leak_ranks_low_until_it_keeps_growing():
    detector = LeakDetector()
    severities = []
    for i in range(60):
        leaks = detector.observe(i * 60.0, {"T": 1_000 + 40_000 * i}, headroom_bytes=2**30)
        severities.append(leaks[0].severity if leaks else None)
    first = next(i for i, s in enumerate(severities) if s)
    assert set(severities[first : first + 12]) == {"low"}
    assert severities[-1] == "critical"


def test_a_type_holding_a_sliver_of_the_headroom_ranks_low_whatever_its_rate():
    """A cache of 2,000 small objects filled in minutes: thousands per hour, a megabyte at most."""
    detector = LeakDetector()
    for i in range(60):
        leaks = detector.observe(
            i * 3.0, {"T": 40 * i}, headroom_bytes=2 * 2**30, object_sizes=lambda names: {"T": 300.0}
        )
    assert leaks[0].severity == "low" and leaks[0].retained_bytes_per_hour > 10 * 2**20


def test_a_cache_among_many_objects_of_its_type_ranks_low_while_it_fills():
    """10,000 entries filled over 55 snapshots beside 50,000 objects of the same type held for good
    (12 MB at 200 bytes, above 1 % of 1 GiB): the cache has added 2 MB, so it is no material leak,
    however long it keeps filling after it is found."""
    detector = LeakDetector()
    seen = set()
    for i in range(120):
        leaks = detector.observe(i * 60.0, {"T": 50_000 + round(10_000 * (1 - (1 - min(1, i / 55)) ** 2))})
        seen |= {leak.severity for leak in leaks}
    assert seen <= {"low"}


def test_a_smooth_fill_that_plateaus_ends_within_a_quarter_window():
    """A user-capped cache: 500 entries in 25 snapshots, then full. It may be seen while it fills,
    never above low, and stops being active soon after it is full."""
    detector = LeakDetector()
    values = [min(20 * i, 500) for i in range(100)]
    _, active = run(values, detector)
    seen = [leaks[0].severity for leaks in active if leaks]
    assert set(seen) <= {"low"}
    last_active = max((i for i, leaks in enumerate(active) if leaks), default=None)
    assert last_active is None or last_active < 25 + 12
    assert detector.active_leaks == []


def test_a_leak_that_stops_growing_stops_being_active():
    detector = LeakDetector()
    values = [1_000 + 40 * i for i in range(60)] + [1_000 + 40 * 59] * 60
    _, active = run(values, detector)
    assert active[59]
    assert not active[-1]
    assert detector.active_leaks == []


def test_new_type_from_zero_is_found_long_before_it_could_enter_a_top_20():
    rng = random.Random(3)
    detector = LeakDetector()
    population = {f"mod.Stable{i}": rng.randint(5_000, 50_000) for i in range(300)}
    for i in range(40):
        counts = {name: base + rng.randint(-100, 100) for name, base in population.items()}
        counts["mod.NewLeak"] = 8 * i
        leaks = detector.observe(i * 60.0, counts)
    assert [leak.object_type for leak in leaks] == ["mod.NewLeak"]
    assert leaks[0].current_count < 500  # far below every type of the top 20


def test_hundreds_of_stationary_types_raise_no_false_positive():
    """300 types of every stationary shape over 300 snapshots: 90,000 decisions, none a leak.

    At the defaults each decision must pass four tests at once (ordered segment levels, every
    step two standard errors up, the whole rise four standard errors up and a line fitting better
    than a step), so repeated testing across types and snapshots does not add up to an alarm.
    """
    rng = random.Random(11)
    shapes = sorted(NOT_LEAKS)
    types = {}
    for index in range(300):
        shape = NOT_LEAKS[shapes[index % len(shapes)]]
        scale = rng.choice((0.01, 0.1, 1.0, 10.0))
        offset = rng.randrange(200)
        types[f"app.Type{index}"] = (shape, scale, offset, random.Random(index))
    detector = LeakDetector()
    for i in range(300):
        counts = {
            name: max(0, round(shape(i + offset, own) * scale))
            for name, (shape, scale, offset, own) in types.items()
        }
        assert detector.observe(i * 60.0, counts) == [], f"false positive at snapshot {i}"


def test_vanished_types_are_forgotten_and_tracking_is_bounded():
    detector = LeakDetector(window=8, min_snapshots=8, max_types=50)
    for i in range(40):
        counts = {f"churn.T{i}": 5} if i < 20 else {}
        counts.update({f"fixed.T{j}": 10 for j in range(45)})
        detector.observe(float(i), counts)
    assert detector.tracked_types == 45
    for i in range(40, 45):
        detector.observe(float(i), {f"new.T{j}": 1 for j in range(100)})
    assert detector.tracked_types == 50
    assert detector.types_dropped > 0


def test_one_class_leaking_in_a_real_heap_is_the_only_leak():
    class Session:
        pass

    class Cache:
        pass

    leaked = []
    churn = []
    detector = LeakDetector()
    from opentelemetry_instrumentation_memory.core.sampling.census import count_objects_by_type

    rng = random.Random(5)
    for i in range(40):
        leaked.extend(Session() for _ in range(200))
        churn = [Cache() for _ in range(rng.randint(1_000, 3_000))]  # bounded, noisy
        gc.collect()
        leaks = detector.observe(i * 60.0, count_objects_by_type())
    assert churn
    names = [leak.object_type for leak in leaks]
    assert any(name.endswith("Session") for name in names)
    assert not any(name.endswith("Cache") for name in names)
    assert len(names) == 1, names


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": 4}, "window"),
        ({"min_snapshots": 100}, "min_snapshots"),
        ({"min_growth": 0}, "min_growth"),
        ({"significance": -1}, "significance"),
        ({"balance": 1.5}, "balance"),
        ({"max_types": "many"}, "max_types"),
    ],
)
def test_invalid_arguments_name_the_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        LeakDetector(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(error.value)
