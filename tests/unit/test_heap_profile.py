"""Each leak's line from the sampled heap profile, at the verdict, with tracemalloc never tracing;
a forked child's profile is its own; without the extension, the tracemalloc fallback."""

import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from types import SimpleNamespace

import pytest

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.diagnosis.heap_profile import HeapProfile
from opentelemetry_instrumentation_memory.core.sampling.allocations import SAMPLER, AllocationSampler
from tests.unit.running import FAST_LEAKS, run_beside

needs_extension = pytest.mark.skipif(not SAMPLER.available, reason="the _sampler extension is not built")
SITELESS = SimpleNamespace(sites=())
MANUAL = dict(snapshot_interval=3600.0, census_budget=1.0, leak_window=16, leak_min_snapshots=12)


class Orphan:
    """Allocated where it leaks."""


KEPT = []
CACHE = {}


def leak_objects(step):
    for _ in range(3000):
        KEPT.append(Orphan())  # the objects' line


def leak_bytes(step):
    for i in range(100):
        CACHE[f"{step}:{i}"] = bytes(3000)  # the bytes' line


class Record:
    """Small itself; its payload, allocated on the same line, holds the bytes."""

    def __init__(self, payload):
        self.payload = payload


def leak_records(step):
    for _ in range(50):
        KEPT.append(Record(bytes(80_000)))  # the records' line


OBJECTS_LINE = leak_objects.__code__.co_firstlineno + 2
RECORDS_LINE = leak_records.__code__.co_firstlineno + 2
BYTES_LINE = leak_bytes.__code__.co_firstlineno + 2


@pytest.fixture
def no_tracemalloc(monkeypatch):
    """Fails the test if anything turns tracemalloc on."""
    started = []
    monkeypatch.setattr(tracemalloc, "start", lambda *args: started.append(args))
    assert not tracemalloc.is_tracing()
    yield started
    assert started == [] and not tracemalloc.is_tracing()


def censuses_until_sited(profiler, step, key, limit=60):
    """Drive censuses with a leak step before each; the censuses from the verdict to the sites."""
    verdict = None
    for census in range(limit):
        step(census)
        profiler.snapshot()
        leak = next((leak for leak in profiler.detected_leaks if leak.key == key), None)
        if leak is not None and verdict is None:
            verdict = census
        if leak is not None and leak.sites:
            return census - verdict, leak
    pytest.fail(f"{key}: no sites after {limit} censuses (verdict at {verdict})")


@needs_extension
@pytest.mark.parametrize(
    "step, key, line, interval",
    [
        # The objects all sit in KEPT: one leak, KEPT's.
        (leak_objects, f"{__name__}.KEPT", OBJECTS_LINE, 16 * 1024),
        (leak_bytes, f"{__name__}.CACHE", BYTES_LINE, 16 * 1024),
        # At the default rate the small records themselves are rarely sampled: their payloads are.
        (leak_records, f"{__name__}.KEPT", RECORDS_LINE, 512 * 1024),
    ],
    ids=["objects", "bytes-in-a-module-dict", "records-holding-payloads"],
)
def test_a_leak_gets_its_line_within_one_census_of_the_verdict(no_tracemalloc, step, key, line, interval):
    seen = []
    profiler = MemoryProfiler(heap_sampling_interval=interval, **MANUAL)
    profiler.register_leak_callback(seen.append)
    profiler.start()
    try:
        assert profiler.heap_sampling_active
        late, leak = censuses_until_sited(profiler, step, key)
    finally:
        profiler.stop()
        KEPT.clear()
        CACHE.clear()
    assert late <= 1, f"sites came {late} censuses after the verdict"
    top = leak.sites[0]
    assert top.file.endswith("test_heap_profile.py") and top.line == line, leak.sites
    assert top.size_diff_bytes > 0 and top.count_diff > 0
    assert top.traceback[-1].endswith(f"test_heap_profile.py:{line}")
    profiler.flush_callbacks()
    assert any(event.key == key and event.sites for event in seen), "no leak event carried the sites"


def hold():
    return [bytes(1000) for _ in range(4000)]  # the held line


HELD_LINE = hold.__code__.co_firstlineno + 1


def held_bytes(profile):
    return sum(
        site.size_diff_bytes
        for site in profile.live_sites(50, os.getcwd())
        if site.file.endswith("test_heap_profile.py") and site.line == HELD_LINE
    )


@needs_extension
def test_live_bytes_by_line_estimate_what_is_held():
    profile = HeapProfile()
    profile.start(16 * 1024)
    try:
        held = hold()
        truth = len(held) * sys.getsizeof(held[0])
        assert 0.7 * truth < held_bytes(profile) < 1.4 * truth
        del held
        assert held_bytes(profile) < truth / 10, "freed blocks still counted"
    finally:
        profile.stop()


@needs_extension
def test_a_freed_samples_filter_bit_is_cleared():
    """The allocator hands a freed block's address straight back: a bit left set would send every
    later free of that address through the sample table."""
    from opentelemetry_instrumentation_memory import _sampler

    profile = HeapProfile()
    profile.start(1024)
    try:
        held = [bytes(100) for _ in range(20000)]
        assert 0 < _sampler.stats()["filter_bits"] <= _sampler.stats()["live_samples"]
        del held
        stats = _sampler.stats()
        assert stats["filter_bits"] <= stats["live_samples"] < 200, stats
    finally:
        profile.stop()


@needs_extension
def test_a_name_at_a_freed_names_address_is_read_again():
    """Code objects made and dropped one after another: each file name is a new string, often at the
    address of the last one, and a sample must carry its own."""
    from opentelemetry_instrumentation_memory import _sampler

    profile = HeapProfile()
    profile.start(256)  # a 5 KB block is sampled all but surely
    try:
        held = {}
        for i in range(300):
            held[i] = []
            exec(compile("held.append(bytes(5000))", f"<made {i * 7919}>", "exec"), {"held": held[i]})
        for i, blocks in held.items():
            files = {frames[0][0] for frames, *_ in _sampler.find(blocks, ()) if frames}
            assert files == {f"<made {i * 7919}>"}, (i, files)
    finally:
        profile.stop()


@needs_extension
def test_stop_forgets_the_stacks_with_the_samples():
    """Stacks left from a stopped profile would fill the tables of the next one."""
    from opentelemetry_instrumentation_memory import _sampler

    source = "kept.append(bytes(5000))\n" * 400
    profile = HeapProfile()
    profile.start(1024)
    try:
        exec(compile(source, "<lines to forget>", "exec"), {"kept": []})
        assert _sampler.stats()["stacks"] >= 300
    finally:
        profile.stop()
    profile.start(1024)
    try:
        assert _sampler.stats()["stacks"] < 50
    finally:
        profile.stop()


@needs_extension
def test_a_restart_during_a_report_leaves_the_reported_names_whole():
    """A collection that the report's own allocations start (3.10 and 3.11 collect there) may run a
    finalizer that stops and restarts sampling: the stacks being reported must not be cleared and
    written over under the report."""
    import gc

    from opentelemetry_instrumentation_memory import _sampler

    class RestartsWhenCollected:
        def __init__(self):
            self.cycle = self

        def __del__(self):
            _sampler.stop()
            _sampler.start(256, 6)
            exec(compile("junk.append(bytes(5000))\n" * 200, "<written over>", "exec"), {"junk": junk})

    junk = []
    profile = HeapProfile()
    profile.start(256)
    threshold, switch = gc.get_threshold(), sys.getswitchinterval()
    sys.setswitchinterval(1000)  # no other thread's allocation collects it first
    try:
        kept = []
        exec(compile("kept.append(bytes(5000))\n" * 200, "<reported>", "exec"), {"kept": kept})
        gc.collect()
        gc.disable()
        RestartsWhenCollected()
        gc.set_threshold(1)
        gc.enable()
        rows = _sampler.live()  # its first allocation collects the finalizer's cycle
    finally:
        gc.set_threshold(*threshold)
        sys.setswitchinterval(switch)
        profile.stop()
    files = {frames[0][0] for frames, *_ in rows if frames}
    assert "<reported>" in files and "<written over>" not in files, files


CHILD = textwrap.dedent(
    """
    import json, os
    from opentelemetry_instrumentation_memory.core.diagnosis.heap_profile import HeapProfile

    def lines(profile):
        return sorted(site.line for site in profile.live_sites(50, os.getcwd()) if site.file == "<string>")

    profile = HeapProfile()
    profile.start(8 * 1024)
    before = [bytes(500) for _ in range(4000)]  # line 10: the parent's, before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        child = [bytes(500) for _ in range(4000)]  # line 14: the child's own
        os.write(write, json.dumps(lines(profile)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_lines = json.loads(os.read(read, 10000))
    after = [bytes(500) for _ in range(4000)]  # line 19: the parent's, after the fork
    print(json.dumps([child_lines, lines(profile)]))
    """
)


@needs_extension
def test_a_forked_childs_profile_is_its_own():
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert result.returncode == 0, result.stderr
    child, parent = json.loads(result.stdout)
    assert 14 in child and 19 not in child, result.stdout
    assert 19 in parent and 14 not in parent, result.stdout
    assert 10 in child and 10 in parent  # the blocks allocated before the fork live in both


def trickle(stop):
    while not stop.is_set():
        KEPT.append(Orphan())  # the trickle's line
        time.sleep(0.0005)


TRICKLE_LINE = trickle.__code__.co_firstlineno + 2


def test_without_the_extension_the_tracemalloc_fallback_names_the_line(caplog):
    profiler = MemoryProfiler(leak_site_window_seconds=0.5, **FAST_LEAKS)
    profiler._heap = HeapProfile(AllocationSampler(extension=None))

    def orphan_leak():
        return next((leak for leak in profiler.detected_leaks if leak.key == f"{__name__}.KEPT"), None)

    try:
        run_beside(profiler, trickle, lambda: (orphan_leak() or SITELESS).sites)
    finally:
        KEPT.clear()
    assert sum("heap sampling is unavailable" in r.getMessage() for r in caplog.records) == 1
    leak = orphan_leak()
    assert leak is not None and leak.sites, "the fallback found no sites"
    assert leak.sites[0].line == TRICKLE_LINE and not tracemalloc.is_tracing()


def test_the_extension_switched_off_by_setting_is_the_fallback(no_tracemalloc):
    profiler = MemoryProfiler(heap_sampling=False, leak_site_capture=False, **MANUAL)
    profiler.start()
    try:
        assert not profiler.heap_sampling_active
        profiler.configure(heap_sampling=True)
        assert profiler.heap_sampling_active == SAMPLER.available
        profiler.configure(heap_sampling=False)
        assert not profiler.heap_sampling_active
    finally:
        profiler.stop()


@needs_extension
def test_the_stack_table_is_compacted_to_the_stacks_live_samples_use():
    """Thousands of distinct allocating lines come and go; the tables keep only those still live."""
    from opentelemetry_instrumentation_memory import _sampler

    lines = 3500  # past three quarters of the 4,096 stacks: the next reading compacts
    source = "".join(f"kept.append(bytes(20000)) if {i} % 500 == 0 else bytes(20000)\n" for i in range(lines))
    code = compile(source, "<many lines>", "exec")
    profile = HeapProfile()
    profile.start(1024)
    try:
        kept = []
        exec(code, {"kept": kept})
        assert _sampler.stats()["stacks"] >= lines * 3 // 4
        live = {frames[0][2] for frames, *_ in _sampler.live() if frames and frames[0][0] == "<many lines>"}
        assert live == {i + 1 for i in range(lines) if i % 500 == 0}
        assert _sampler.stats()["stacks"] < lines // 4, "the stacks of freed samples were kept"
    finally:
        profile.stop()
