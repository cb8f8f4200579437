"""Allocation sites of a real leak, found by a short tracemalloc window: the fallback where heap sampling
is off or not built (tests/unit/test_heap_profile.py has the sampled heap's)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.diagnosis.capture import SiteCapture
from opentelemetry_instrumentation_memory.core.diagnosis.sites import trim_path
from tests.unit.running import run_beside


class Orphan:
    """Allocated where it leaks: the instance is created on the leaking line itself."""


def leak_forever(stop, sink):
    while not stop.is_set():
        sink.append(Orphan())  # the leaking line
        time.sleep(0.0005)


LEAKING_LINE = leak_forever.__code__.co_firstlineno + 2
FAST = dict(
    snapshot_interval=0.05, census_budget=1.0, leak_window=16, leak_min_snapshots=12, heap_sampling=False
)


def run_leak(profiler, until, timeout=60):
    sink = []
    run_beside(profiler, lambda stop: leak_forever(stop, sink), until, timeout)


def orphan_leak(profiler):
    return next(
        (leak for leak in profiler.get_detected_leaks() if leak["object_type"].endswith("Orphan")), None
    )


def test_the_reported_site_is_the_line_that_leaks_and_tracemalloc_is_off_again():
    assert not tracemalloc.is_tracing()
    seen = []
    profiler = MemoryProfiler(leak_site_window_seconds=0.5, **FAST)
    profiler.register_leak_callback(seen.append)
    run_leak(profiler, lambda: (orphan_leak(profiler) or {}).get("sites"))
    leak = orphan_leak(profiler)
    assert leak and leak["sites"], "no sites captured"
    top = leak["sites"][0]
    assert top["file"].endswith("test_sites.py") and top["line"] == LEAKING_LINE, leak["sites"]
    assert top["size_diff_bytes"] > 0 and top["count_diff"] > 0
    assert top["traceback"][-1].endswith(f"test_sites.py:{LEAKING_LINE}")
    assert not tracemalloc.is_tracing()
    profiler.flush_callbacks()
    with_sites = [leak for leak in seen if leak.object_type.endswith("Orphan") and leak.sites]
    assert with_sites and str(with_sites[0].sites[0]).startswith(f"{top['file']}:{LEAKING_LINE} +")


def test_repeated_leaks_do_not_keep_tracemalloc_on():
    profiler = MemoryProfiler(leak_site_window_seconds=0.2, leak_site_cooldown_seconds=3600, **FAST)
    assert profiler._sites.trigger(["a.First"])
    time.sleep(0.5)
    assert not tracemalloc.is_tracing()
    assert not profiler._sites.trigger(["a.Second"])  # in its cool-down
    assert not tracemalloc.is_tracing()


def test_tracemalloc_on_by_configuration_stays_on():
    """In a fresh interpreter: with tracemalloc tracing every allocation, the test session's heap
    would make each census slow enough to starve this test."""
    script = textwrap.dedent(
        f"""
        import json, sys, tracemalloc
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.unit.test_sites import FAST, MemoryProfiler, orphan_leak, run_leak

        profiler = MemoryProfiler(enable_tracemalloc=True, leak_site_window_seconds=0.5, **FAST)
        seen = {{}}

        def sites_found():
            sites = (orphan_leak(profiler) or {{}}).get("sites")
            if sites:
                seen["tracing_after_capture"] = tracemalloc.is_tracing()
            return sites

        run_leak(profiler, sites_found)
        leak = orphan_leak(profiler) or {{"sites": []}}
        print(json.dumps({{"sites": leak["sites"], **seen}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sites"] and report["sites"][0]["line"] == LEAKING_LINE, report
    assert report["tracing_after_capture"]  # the capture left the configured tracing on


def tracing_in_a_child():
    """Fork now; the child reports whether tracemalloc traces, at once and a moment later."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.alarm(10)  # a child that hangs dies instead of hanging the suite
        try:
            at_once = tracemalloc.is_tracing()
            time.sleep(0.3)
            os.write(write, json.dumps([at_once, tracemalloc.is_tracing()]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ended with status {status}"
    return json.loads(report)


def test_a_child_forked_during_a_capture_turns_tracemalloc_off_and_the_parents_capture_completes():
    """Pre-fork servers fork at any moment, a capture's window included: the child has no capture
    thread to end it, so it ends it at fork; the parent's capture goes on to find the site."""
    assert not tracemalloc.is_tracing()
    # No cool-down: in a loaded session's heap a first capture may go to another leak, and this
    # test's leak must get the next one rather than wait ten minutes.
    profiler = MemoryProfiler(leak_site_window_seconds=2.0, leak_site_cooldown_seconds=0.0, **FAST)
    child = []

    def fork_during_the_capture():
        if not child and tracemalloc.is_tracing():  # only a capture turns it on in this test
            child.append(tracing_in_a_child())
        return (orphan_leak(profiler) or {}).get("sites")

    run_leak(profiler, fork_during_the_capture)
    assert child == [[False, False]]
    sites = orphan_leak(profiler)["sites"]
    assert sites and sites[0]["line"] == LEAKING_LINE
    assert not tracemalloc.is_tracing()


def test_a_child_forked_during_a_capture_keeps_tracing_that_was_on_before():
    tracemalloc.start(1)
    try:
        found = threading.Event()
        capture = SiteCapture(
            window=1.0,
            cooldown=0.0,
            frames=10,
            top=5,
            root="",
            on_sites=lambda sites: found.set(),
            quiet=threading.Lock(),
        )
        assert capture.trigger(["tests.Orphan"])
        assert tracing_in_a_child() == [True, True]
        assert found.wait(30) and tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_capture_can_be_turned_off():
    profiler = MemoryProfiler(leak_site_capture=False, **FAST)
    run_leak(profiler, lambda: orphan_leak(profiler))
    assert orphan_leak(profiler)["sites"] == []
    assert not profiler._sites.active


@pytest.mark.parametrize(
    "path, root, shown",
    [
        ("/srv/app/handlers/cart.py", "/srv/app", "handlers/cart.py"),
        ("/usr/lib/python3/site-packages/requests/models.py", "/srv/app", "requests/models.py"),
        ("/opt/other/x.py", "/srv/app", "/opt/other/x.py"),
        ("/srv/app/venv/lib/python3.11/site-packages/flask/app.py", "/srv/app", "flask/app.py"),
        ("/srv/app/.venv/lib/python3/dist-packages/yaml/nodes.py", "/srv/app", "yaml/nodes.py"),
        ("/usr/lib/python3/dist-packages/jinja2/runtime.py", "/srv/app", "jinja2/runtime.py"),
    ],
)
def test_paths_are_trimmed_to_the_package_or_the_project_root(path, root, shown):
    assert trim_path(path, root) == shown


def test_tracing_the_host_asked_for_during_a_capture_stays_on():
    """Before: a program that called tracemalloc.start(25) while a capture window was open found
    tracing off once the window closed (take_snapshot() raised)."""
    from opentelemetry_instrumentation_memory.core.diagnosis.capture import _tracing

    assert not tracemalloc.is_tracing()
    try:
        assert _tracing.start(5)
        tracemalloc.start(25)  # the host's own call, a no-op while the capture traces
        _tracing.stop()
        assert tracemalloc.is_tracing()
        tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert _tracing.start(5)
    _tracing.stop()
    assert not tracemalloc.is_tracing() and tracemalloc.start is not _tracing._host_start
