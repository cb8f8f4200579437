"""The monitor never alerts on itself: what a leak-site capture leaves resident is booked as the
monitor's own and left out of drift and growth."""

import sys
import threading
import time
import tracemalloc

import pytest

from opentelemetry_instrumentation_memory.core.analysis.state import MemoryAnalysis
from opentelemetry_instrumentation_memory.core.config import ProfilerConfig
from opentelemetry_instrumentation_memory.core.diagnosis.sites import SiteCapture
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker


def one_second_capture(**callbacks):
    return SiteCapture(
        window=1.0, cooldown=0.0, frames=10, top=5, root=".", quiet=threading.RLock(), **callbacks
    )


def test_a_capture_books_what_its_tracing_left_resident():
    booked, done = [], threading.Event()
    capture = one_second_capture(on_sites=lambda sites: done.set(), on_own_memory=booked.append)
    kept = []
    assert capture.trigger(["x"])
    while not done.wait(0.01):  # the host allocates while the window is open: every block traced
        kept.append([object() for _ in range(200)])
        del kept[:-2000]
    assert len(booked) == 1 and 0 <= booked[0] < 512 << 20
    if sys.version_info >= (3, 11):  # on 3.10 the window left nothing resident here: 0 is booked
        assert booked[0] > 0


def test_a_window_reads_the_most_its_tracing_held_not_only_what_is_left_at_its_end():
    """A batch built and dropped inside the window: its traces are gone at the end, the memory
    tracing took for them is what the window may leave resident."""
    capture = one_second_capture(on_sites=lambda sites: None)
    tracemalloc.start(10)
    try:
        batch_done = threading.Event()

        def batch():
            time.sleep(0.2)
            kept = [{"n": i} for i in range(150_000)]
            time.sleep(0.3)
            del kept
            batch_done.set()

        worker = threading.Thread(target=batch)
        worker.start()
        peak = capture._wait_out_window(True)
        worker.join()
        assert batch_done.is_set()
        left = tracemalloc.get_tracemalloc_memory()
    finally:
        tracemalloc.stop()
    assert peak > left + 5_000_000, (peak, left)  # 150,000 traces of 10 frames: megabytes


def test_drift_and_growth_leave_out_the_monitors_own_memory():
    base, _ = SnapshotTaker().take(top_n=1)
    analysis = MemoryAnalysis(ProfilerConfig(warmup_seconds=0.0))

    def record(minute, used):
        snapshot = base.__class__(**{**base.__dict__, "timestamp": 60.0 * minute, "heap_used_mb": used})
        analysis.record(snapshot, {})

    for minute in range(30):
        record(minute, 200.0)
    analysis.book_own_memory(60 << 20)  # a capture left 60 MB resident
    for minute in range(30, 60):
        record(minute, 260.0)
    assert analysis.latest_drift.heap_drift_percent == pytest.approx(0.0)
    assert analysis.signals["growth_mb_per_hour"] == pytest.approx(0.0, abs=1e-6)
    assert analysis.signals["heap_percent"] == analysis.latest.heap_percent  # the kernel's view stays whole
