"""The windowed signals gc_spike and growth compare: rates over five minutes, a normal learnt after
the warm-up, growth over the last hour; each absent until it can be stated, at any interval."""

import pytest

from opentelemetry_instrumentation_memory.core.analysis.signals import AlertSignals, Trend, WindowRate
from opentelemetry_instrumentation_memory.core.analysis.state import MemoryAnalysis
from opentelemetry_instrumentation_memory.core.config import ProfilerConfig
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker


def _gc_spikes(interval, seconds, pause_seconds_at, collections_at=lambda t: 0, warmup_seconds=600.0):
    """Feed snapshots every ``interval`` for ``seconds``, with the cumulative pause time and
    collections functions of the time; return the gc_spike transitions."""
    base, _ = SnapshotTaker().take(top_n=1)
    analysis = MemoryAnalysis(ProfilerConfig(warmup_seconds=warmup_seconds))
    transitions = []
    for i in range(int(seconds / interval)):
        t = i * interval
        snapshot = base.__class__(
            **{
                **base.__dict__,
                "timestamp": t,
                "gc_collections": (collections_at(t), 0, 0),
                "gc_pause_seconds": pause_seconds_at(t),
            }
        )
        transitions += [a for a in analysis.record(snapshot, {})[1] if a.type == "gc_spike"]
    return transitions


def _collections(rates):
    """Cumulative collections at time t for piecewise rates: [(from second, per second), ...]."""

    def at(t):
        total = 0.0
        for (start, rate), (end, _) in zip(rates, rates[1:] + [(float("inf"), 0.0)]):
            total += rate * max(0.0, min(t, end) - start)
        return int(total)

    return at


def test_one_long_collection_now_and_then_is_no_spike():
    """A full collection of 80 ms every 20 s: 0.4 % of the time, 8 % of the second it falls in."""
    assert _gc_spikes(0.5, 900.0, lambda t: 0.08 * (t // 20.0)) == []


def test_batch_bursts_every_twenty_seconds_are_the_normal_not_spikes():
    """The trial's clean app: 1,700 collections in the second a batch runs, every 20 s (85/s that
    second), 2 a second otherwise; read every 2 s for 20 minutes."""
    bursts = lambda t: int(2 * t + 1700 * (t // 20.0))  # noqa: E731
    assert _gc_spikes(2.0, 1200.0, lambda t: 0.0, bursts, warmup_seconds=120.0) == []


@pytest.mark.parametrize("interval", [0.1, 2.0, 60.0])
def test_a_lasting_share_of_time_in_pauses_is_a_spike_at_any_interval(interval):
    """8 % of the time in pauses from the start: read over five minutes, held five more."""
    (spike,) = _gc_spikes(interval, 1200.0, lambda t: 0.08 * t)
    assert spike.state == "firing" and "value 8.00" in spike.message
    assert 600.0 <= spike.timestamp <= 600.0 + interval


def test_traffic_arriving_after_an_idle_warm_up_is_no_spike():
    """Idle at 1 collection a second for the 60 s warm-up, then 12 a second of ordinary traffic."""
    busy = _collections([(0.0, 1.0), (60.0, 12.0)])
    assert _gc_spikes(1.0, 1800.0, lambda t: 0.0, busy, warmup_seconds=60.0) == []


def test_a_lasting_departure_from_the_warmed_up_normal_is_a_spike():
    """12 a second, then 40 a second from minute 30: it fires once the five-minute rate has stood
    above three times the normal (36/s) for five minutes."""
    surge = _collections([(0.0, 12.0), (1800.0, 40.0)])
    (spike,) = _gc_spikes(10.0, 2800.0, lambda t: 0.0, surge, warmup_seconds=60.0)
    assert spike.state == "firing" and 1800.0 + 300.0 < spike.timestamp < 1800.0 + 900.0


def test_rates_and_trends_keep_a_bounded_number_of_readings():
    rate, trend = WindowRate(300.0), Trend(3600.0, 600.0)
    for i in range(400_000):  # an hour and more at 0.01 s
        rate.update(i * 0.01, i)
        trend.update(i * 0.01, 100.0 + i * 0.01 / 36.0)  # 100 MB per hour
    assert len(rate._readings) <= 722 and len(trend._readings) <= 722
    assert rate.update(4000.0, 400_000) == pytest.approx(100.0, rel=0.01)
    assert trend.update(4000.01, 100.0 + 4000.01 / 36.0) == pytest.approx(100.0, rel=1e-6)


def test_growth_is_absent_before_the_warm_up_and_for_ten_minutes_after():
    signals = AlertSignals()
    seen = []
    for minute in range(40):
        warmed_up = minute >= 10
        latest = signals.update(minute * 60.0, 100.0 + minute, 0, 0.0, warmed_up)
        seen.append(latest["growth_mb_per_hour"])
    assert seen[:20] == [None] * 20  # the warm-up, then ten minutes of readings
    assert seen[20] == pytest.approx(60.0) and seen[-1] == pytest.approx(60.0)
