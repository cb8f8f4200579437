"""gc_spike: a departure from the process's normal once warmed up, or a share of time in collection
pauses that lasts; not traffic arriving after an idle start, nor one long pause in a second."""

import pytest

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


def test_one_long_collection_now_and_then_is_no_spike():
    """A full collection of 80 ms every 20 s: 0.4 % of the time, 8 % of the second it falls in."""
    assert _gc_spikes(0.5, 900.0, lambda t: 0.08 * (t // 20.0)) == []


@pytest.mark.parametrize("interval", [0.1, 0.5, 60.0])
def test_a_lasting_share_of_time_in_pauses_is_a_spike_at_any_interval(interval):
    """8 % of the time in pauses from the start: it fires once five minutes of it are read (or as
    much as the readings kept cover, at a tenth of a second)."""
    (spike,) = _gc_spikes(interval, 1200.0, lambda t: 0.08 * t)
    assert spike.state == "firing" and "8.0% of the time in collection pauses" in spike.message


def _collections(rates):
    """Cumulative collections at time t for piecewise rates: [(from second, per second), ...]."""

    def at(t):
        total = 0.0
        for (start, rate), (end, _) in zip(rates, rates[1:] + [(float("inf"), 0.0)]):
            total += rate * max(0.0, min(t, end) - start)
        return int(total)

    return at


def test_traffic_arriving_after_an_idle_warm_up_is_no_spike():
    """Idle at 1 collection a second for the 60 s warm-up, then 12 a second of ordinary traffic."""
    busy = _collections([(0.0, 1.0), (60.0, 12.0)])
    assert _gc_spikes(1.0, 600.0, lambda t: 0.0, busy, warmup_seconds=60.0) == []


def test_a_departure_from_the_warmed_up_normal_is_a_spike():
    """12 a second after the warm-up, then 40 a second: three times the normal and above 10."""
    surge = _collections([(0.0, 1.0), (60.0, 12.0), (300.0, 40.0)])
    (spike,) = _gc_spikes(1.0, 320.0, lambda t: 0.0, surge, warmup_seconds=60.0)
    assert spike.state == "firing" and "(normal 12.0/s)" in spike.message
