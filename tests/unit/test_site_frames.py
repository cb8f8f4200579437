"""A site names the application's own line, the library frames it called after it in its traceback,
from the sampled heap and from tracemalloc alike; the profiler's own allocations are nobody's site."""

import asyncio
import ctypes
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.diagnosis.heap_profile import HeapProfile
from opentelemetry_instrumentation_memory.core.diagnosis.sites import attributed_sites, growing_sites
from opentelemetry_instrumentation_memory.core.sampling.allocations import SAMPLER

needs_extension = pytest.mark.skipif(not SAMPLER.available, reason="the _sampler extension is not built")
MANUAL = dict(snapshot_interval=3600.0, census_budget=1.0)
ROOT = os.getcwd()


def buffers(count):
    return [ctypes.create_string_buffer(4000) for _ in range(count)]  # the buffers' line


async def forever():
    await asyncio.Event().wait()


def tasks(loop, count):
    return [loop.create_task(forever()) for _ in range(count)]  # the tasks' line


BUFFERS_LINE = buffers.__code__.co_firstlineno + 1
TASKS_LINE = tasks.__code__.co_firstlineno + 1


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def made_by_a_library(make, loop):
    """What ``make`` allocates through a library: ctypes's buffers, or asyncio's tasks."""
    return buffers(300) if make == "ctypes" else tasks(loop, 300)


def assert_the_applications_line_first(site, line):
    assert site.file.endswith("test_site_frames.py") and site.line == line, site
    ours = [i for i, frame in enumerate(site.traceback) if frame.endswith(f"test_site_frames.py:{line}")]
    library = site.traceback[ours[-1] + 1 :]  # a comprehension is a frame of its own before 3.12
    assert library and all(os.sep + "python3." in frame for frame in library), site.traceback


LINES = {"ctypes": BUFFERS_LINE, "asyncio": TASKS_LINE}


@needs_extension
@pytest.mark.parametrize("make", ["ctypes", "asyncio"])
def test_a_sampled_sites_line_is_the_applications_with_the_library_after_it(make, loop):
    profile = HeapProfile()
    profile.start(1024)
    try:
        objects = made_by_a_library(make, loop)
        sites = profile.sites_of(objects, 5, ROOT)
    finally:
        profile.stop()
    assert sites, "none of the objects was sampled"
    assert_the_applications_line_first(sites[0], LINES[make])


@pytest.mark.parametrize("make", ["ctypes", "asyncio"])
def test_a_traced_sites_line_is_the_applications_with_the_library_after_it(make, loop):
    tracemalloc.start(25)
    try:
        before = tracemalloc.take_snapshot()
        objects = made_by_a_library(make, loop)
        attributed = attributed_sites(objects, 5, ROOT)
        grown = growing_sites(before, tracemalloc.take_snapshot(), 5, ROOT)
    finally:
        tracemalloc.stop()
    assert_the_applications_line_first(attributed[0], LINES[make])
    assert grown[0].line == LINES[make]
    assert_the_applications_line_first(grown[0], LINES[make])


def large_buffers(count):
    return [ctypes.create_string_buffer(64 * 1024) for _ in range(count)]  # the large buffers' line


LARGE_BUFFERS_LINE = large_buffers.__code__.co_firstlineno + 1


@needs_extension
def test_ctypes_objects_are_found_by_their_buffers_at_the_default_interval():
    """A 64 KiB ctypes buffer is allocated apart from its object (about 150 bytes): at 512 KiB the
    objects alone, 60 KB in all, are all but never sampled; their 26 MB of buffers carry the
    samples (about 50)."""
    profile = HeapProfile()
    profile.start(512 * 1024)
    try:
        objects = large_buffers(400)
        sites = profile.sites_of(objects, 5, ROOT)
    finally:
        profile.stop()
    assert sites and sites[0].line == LARGE_BUFFERS_LINE, sites
    held = 400 * 64 * 1024
    assert 0.4 * held < sites[0].size_diff_bytes < 2.5 * held, (sites[0].size_diff_bytes, held)


AUDITED = textwrap.dedent(
    """
    import ctypes, json, sys
    sys.path.insert(0, {root!r})

    def refuse(event, arguments):
        if (event == "ctypes.dlsym" and arguments[1] == "malloc_trim") or event == "ctypes.addressof":
            raise RuntimeError("refused by the host")

    sys.addaudithook(refuse)
    from opentelemetry_instrumentation_memory.core.diagnosis import capture
    from opentelemetry_instrumentation_memory.core.diagnosis.heap_profile import HeapProfile

    profile = HeapProfile()
    profile.start(1024)
    objects = [ctypes.create_string_buffer(4000) for _ in range(300)]
    sites = profile.sites_of(objects, 5, "/")
    profile.stop()
    print(json.dumps({{"trim": capture._MALLOC_TRIM is not None, "sites": len(sites)}}))
    """
)


@needs_extension
def test_a_host_audit_hook_refusing_ctypes_raises_nothing_into_the_host():
    """The trim's lookup at import and the buffers' ``addressof`` raise audit events, which a host's
    hook may refuse: the import, and the objects' own sites, go on without them."""
    script = AUDITED.format(root=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"trim": False, "sites": 1}


class RecordedName(str):
    """A file name whose methods note each call: host code, which no site lookup may run."""

    calls = []

    def __eq__(self, other):
        RecordedName.calls.append("__eq__")
        return str.__eq__(self, other)

    __hash__ = str.__hash__  # tracemalloc hashes it as it traces: CPython's call, not ours

    def startswith(self, *arguments):
        RecordedName.calls.append("startswith")
        return str.startswith(self, *arguments)

    def __contains__(self, part):
        RecordedName.calls.append("__contains__")
        return str.__contains__(self, part)


def test_a_file_name_of_a_host_str_subclass_runs_none_of_its_code():
    code = compile("kept = [bytearray(100) for _ in range(500)]", RecordedName("/app/made.py"), "exec")
    tracemalloc.start(10)
    try:
        before = tracemalloc.take_snapshot()
        made = {}
        exec(code, made)
        after = tracemalloc.take_snapshot()
        RecordedName.calls.clear()
        attributed = attributed_sites(made["kept"], 5, ROOT)
        grown = growing_sites(before, after, 5, ROOT)
    finally:
        tracemalloc.stop()
    assert RecordedName.calls == []
    assert (attributed[0].file, attributed[0].line) == ("/app/made.py", 1)
    assert (grown[0].file, grown[0].line) == ("/app/made.py", 1)
    assert type(attributed[0].file) is str


def keep_snapshots(profiler, kept):
    for index in range(len(kept)):
        kept[index] = profiler.snapshot()  # the snapshots' line: the profiler allocates them


SNAPSHOTS_LINE = keep_snapshots.__code__.co_firstlineno + 2


@needs_extension
def test_the_profilers_own_allocations_are_no_callers_site_in_the_sampled_heap():
    profile = HeapProfile()
    profile.start(1024)
    profiler = MemoryProfiler(**MANUAL)
    kept = [None] * 60  # no allocation on the snapshots' line but the profiler's
    try:
        keep_snapshots(profiler, kept)
        sites = profile.live_sites(200, ROOT)
    finally:
        profile.stop()
    assert all(kept)
    assert not [
        site for site in sites if site.line == SNAPSHOTS_LINE and site.file.endswith("test_site_frames.py")
    ]


def test_the_profilers_own_allocations_are_no_callers_site_under_tracemalloc():
    profiler = MemoryProfiler(**MANUAL)
    kept = [None] * 3
    tracemalloc.start(25)
    try:
        keep_snapshots(profiler, kept)
        sites = attributed_sites(kept, 5, ROOT)
    finally:
        tracemalloc.stop()
    assert all(kept) and sites == (), sites
