"""The monitor never reports itself: its rings, name cache and published state grow with the types it
has seen while a service warms up, and once read as leaks of tuple, weakref, cell, function, list,
array.array and as containers under a global that holds the profiler."""

from opentelemetry_instrumentation_memory import MemoryProfiler
from tests.unit.running import FAST_LEAKS

CLASSES = [type(f"WarmingUp{i}", (), {}) for i in range(3_000)]
KEPT = []  # the host's own warm-up: one instance of 50 more classes per snapshot
PROFILER = None  # a host global holding the profiler, as an application's settings module does


def test_the_profilers_bookkeeping_is_never_a_leak():
    global PROFILER
    PROFILER = MemoryProfiler(leak_site_capture=False, **FAST_LEAKS)
    try:
        for step in range(50):
            KEPT.extend(cls() for cls in CLASSES[step * 50 : (step + 1) * 50])
            PROFILER.snapshot()
        found = {leak.key for leak in PROFILER.detected_leaks}
    finally:
        PROFILER = None
        KEPT.clear()
    assert found <= {f"{__name__}.KEPT"}, sorted(found)
