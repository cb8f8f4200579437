"""A bounded soak: thousands of snapshots over a churning heap; the profiler's own memory stays flat.

It runs in a fresh interpreter, so that the heap is the soak's own and not the test session's.
"""

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.soak

SOAK = textwrap.dedent(
    """
    import json, random, tracemalloc
    from opentelemetry_instrumentation_memory import MemoryProfiler

    def own_memory():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(True, "*opentelemetry_instrumentation_memory*")]
        )
        return sum(stat.size for stat in snapshot.statistics("filename"))

    rng = random.Random(3)
    profiler = MemoryProfiler(history_size=500, max_detected_leaks=20, leak_site_capture=False)
    transitions = []
    profiler.register_alert_callback(transitions.append)
    churn, sizes = [], {}
    tracemalloc.start()
    for index in range(2_000):
        if index % 5 == 0:  # types come and go: a new class every 5 snapshots, dropped later
            kind = type(f"Churn{index}", (), {})
            churn.append([kind() for _ in range(rng.randint(1, 300))])
            churn = churn[-20:]
        garbage = [[i] for i in range(rng.randint(0, 3_000))]
        profiler.snapshot()
        del garbage
        if index in (700, 1_999):
            profiler.flush_callbacks()
            sizes[index] = own_memory()
    tracemalloc.stop()
    profiler.flush_callbacks()
    print(json.dumps({
        "stats": profiler.get_stats(),
        "sizes": sizes,
        "transitions": [(a.type, a.state) for a in transitions],
    }))
    """
)


def test_thousands_of_snapshots_over_a_churning_heap_stay_flat():
    result = subprocess.run([sys.executable, "-c", SOAK], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    stats, sizes = report["stats"], report["sizes"]
    assert stats["total_snapshots"] == 2_000 and stats["history_length"] == 500
    assert stats["detected_leaks"] <= 20
    assert stats["tracked_types"] < 1_000  # vanished classes are forgotten, not accumulated
    assert sizes["1999"] < sizes["700"] * 1.1 + 64 * 1024, sizes
    assert len(report["transitions"]) < 20, report["transitions"]
