import tracemalloc

import pytest

from opentelemetry_instrumentation_memory.core.analysis.history import SnapshotHistory
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker


def test_ring_keeps_the_last_capacity_snapshots_oldest_first():
    snapshot, _ = SnapshotTaker().take(top_n=1)
    history = SnapshotHistory(capacity=5)
    for i in range(12):
        history.append(snapshot.__class__(**{**snapshot.__dict__, "timestamp": float(i)}))
    assert len(history) == 5
    assert history.column("timestamp") == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert history.column("timestamp", last=2) == [10.0, 11.0]
    assert history.column("gc_collections_total")[-1] == sum(snapshot.gc_collections)


def test_unknown_column_is_a_value_error():
    with pytest.raises(ValueError, match="'nope'"):
        SnapshotHistory(3).column("nope")


def test_a_thousand_snapshots_retain_well_under_a_megabyte():
    snapshot, _ = SnapshotTaker().take(top_n=20)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        history = SnapshotHistory(capacity=1000)
        for _ in range(1000):
            history.append(snapshot)
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(history) == 1000
    assert retained < 100_000
