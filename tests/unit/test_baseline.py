from opentelemetry_instrumentation_memory.core.analysis.baseline import Baseline
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker


def snapshot_with(heap_used_mb, total_objects):
    snapshot, _ = SnapshotTaker().take(top_n=1)
    return snapshot.__class__(
        **{**snapshot.__dict__, "heap_used_mb": heap_used_mb, "total_objects": total_objects}
    )


def test_drift_reports_heap_and_significant_types():
    base = Baseline(snapshot_with(100.0, 10_000), {"a.Grows": 1_000, "a.Stable": 5_000, "a.Tiny": 2})
    drift = base.compare(
        snapshot_with(160.0, 12_000),
        {"a.Grows": 2_500, "a.Stable": 5_100, "a.Tiny": 40, "a.New": 700},
        top_n=3,
        significant_percent=50.0,
        min_significant_count=100,
    )
    assert drift.heap_drift_mb == 60.0
    assert drift.heap_drift_percent == 60.0
    assert drift.total_objects_drift == 2_000
    assert drift.object_drift == {"a.Grows": 1_500, "a.New": 700, "a.Stable": 100}
    significant = {d.object_type: d for d in drift.significant_drifts}
    assert set(significant) == {"a.Grows", "a.New"}  # Stable moved 2 %, Tiny only 38 objects
    assert significant["a.Grows"].drift_percent == 150.0
    assert significant["a.New"].baseline_count == 0
    assert drift.to_dict()["object_drift"]["a.Grows"] == 1_500


def test_shrinking_types_are_significant_too():
    base = Baseline(snapshot_with(100.0, 10_000), {"a.Shrinks": 4_000})
    drift = base.compare(snapshot_with(90.0, 8_000), {"a.Shrinks": 1_000}, 5, 50.0, 100)
    assert drift.heap_drift_percent == -10.0
    assert [d.drift for d in drift.significant_drifts] == [-3_000]
