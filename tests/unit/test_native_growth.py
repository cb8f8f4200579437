"""Growth no leak explains: outside Python's allocators it is said to be so and no Python line is
named; made by Python's allocators, it is placed on the line that made it, held by the container
that keeps its blocks (a few large values: too few entries for a container leak)."""

import ctypes

import pytest

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.sampling.allocations import SAMPLER
from opentelemetry_instrumentation_memory.otel.events import leak_attributes
from opentelemetry_instrumentation_memory.otel.leak_metrics import OUTSIDE_PYTHON, leak_labels

pytestmark = pytest.mark.skipif(not SAMPLER.available, reason="the _sampler extension is not built")

MANUAL = dict(
    snapshot_interval=3600.0, census_budget=1.0, leak_window=16, leak_min_snapshots=12, warmup_seconds=0
)
STEP = 4 << 20
_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.free.argtypes = [ctypes.c_void_p]
NATIVE = []
CHUNKS = {}


def grow_natively():
    address = _libc.malloc(STEP)  # a C library's allocation: no Python allocator sees it
    ctypes.memset(address, 1, STEP)
    NATIVE.append(address)


def grow_in_python():
    CHUNKS[len(CHUNKS)] = b"\x01" * STEP  # the chunks' line: a few large values, one a census


CHUNKS_LINE = grow_in_python.__code__.co_firstlineno + 1


def unattributed_after(step, censuses=40, then=0, events=None):
    """The unattributed leak once its place is known, ``then`` censuses later; ``events`` receives
    the leak events delivered meanwhile."""
    profiler = MemoryProfiler(**MANUAL)
    if events is not None:
        profiler.register_leak_callback(events.append)
    profiler.start()
    try:
        assert profiler.heap_sampling_active
        for _ in range(censuses):
            step()
            profiler.snapshot()
            leak = next((leak for leak in profiler.detected_leaks if leak.kind == "unattributed"), None)
            if leak is not None and (leak.sites or leak.outside_python):
                for _ in range(then):
                    step()
                    profiler.snapshot()
                profiler.flush_callbacks()
                return next(leak for leak in profiler.detected_leaks if leak.kind == "unattributed")
        pytest.fail(f"no verdict on the growth's place: {profiler.detected_leaks}")
    finally:
        profiler.stop()
        for address in NATIVE:
            _libc.free(address)
        NATIVE.clear()
        CHUNKS.clear()


def test_native_growth_is_said_to_be_outside_python_and_names_no_line():
    events = []
    leak = unattributed_after(grow_natively, then=20, events=events)
    assert leak.outside_python and leak.sites == ()
    assert leak_attributes(leak)["fogcompute.memory.leak.outside_python"] is True
    assert leak_labels(leak)["site"] == OUTSIDE_PYTHON  # the info series, the summary, the report
    # Said once: the lookups retried for a line that never comes announce nothing new.
    assert sum(event.kind == "unattributed" and event.outside_python for event in events) == 1, events


def test_growth_pythons_allocators_made_is_placed_on_its_line():
    leak = unattributed_after(grow_in_python)
    assert not leak.outside_python
    assert leak.sites[0].file.endswith("test_native_growth.py") and leak.sites[0].line == CHUNKS_LINE
    assert leak.retained_by[0] == (f"{__name__}.CHUNKS", 1.0), leak.retained_by
