"""An unbounded cache is named by the function it caches, a thread-local's attribute by its name:
before, both were a ``<dict>`` (or ``<list>``) nobody named, and a cache of bytes went unseen."""

import functools
import itertools
import sys
import threading
import time
import types

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.diagnosis.containers import ContainerWatch
from opentelemetry_instrumentation_memory.core.diagnosis.owners import find_roots
from tests.unit.running import FAST_LEAKS, run_beside

SETTINGS = dict(FAST_LEAKS, leak_site_capture=False, heap_sampling=False)
STEPS = itertools.count()


class Profile:
    def __init__(self, key):
        self.key = key


@functools.cache
def profile(key):
    return Profile(key)


class Service:
    @functools.lru_cache(maxsize=None)  # noqa: B019 - the leak under test
    def token(self, key):
        return b"t" * 256 + key.to_bytes(8, "little")


@functools.lru_cache(maxsize=100)
def bounded(key):
    return [key]


SERVICE = Service()
_local = threading.local()


class Event:
    pass


def remember():
    items = getattr(_local, "items", None)
    if items is None:
        items = _local.items = []
    items.append(Event())


def requests(stop):
    """A worker thread: its thread-local list, and calls of the caches, grow every request."""
    while not stop.is_set():
        for _ in range(20):
            step = next(STEPS)
            profile(step)
            SERVICE.token(step)
            bounded(step)
            remember()
        time.sleep(0.002)


def test_unbounded_caches_and_thread_locals_are_named_by_what_they_are():
    profiler = MemoryProfiler(**SETTINGS)
    wanted = {
        f"{__name__}.profile (lru_cache)",
        f"{__name__}.Service.token (lru_cache)",
        f"{__name__}._local.items (thread-local)",
    }

    def named():
        active = {leak.key: leak for leak in profiler.active_leaks}
        return wanted <= set(active) and all(active[key].entry_type for key in wanted - {min(wanted)})

    try:
        run_beside(profiler, requests, named)
        found = {leak.key: leak for leak in profiler.active_leaks}
    finally:
        profile.cache_clear()
        Service.token.cache_clear()
    assert wanted <= set(found), sorted(found)
    cache = found[f"{__name__}.profile (lru_cache)"]
    assert cache.kind == "container" and cache.object_type == "dict"
    assert cache.entry_type == f"{__name__}.Profile"
    # A cache of bytes: no count of objects by type could see it.
    assert found[f"{__name__}.Service.token (lru_cache)"].object_type == "dict"
    local = found[f"{__name__}._local.items (thread-local)"]
    assert local.kind == "container" and local.object_type == "list"
    assert local.entry_type == f"{__name__}.Event"
    assert not [key for key in found if "bounded" in key], sorted(found)


def test_a_cache_is_named_by_its_functions_copies_when_wrapped_is_not_a_function():
    """``__wrapped__`` may be anything the host put there (a callable object, a proxy): it is never
    asked for its name; the names ``update_wrapper`` copied onto the wrapper serve."""
    from opentelemetry_instrumentation_memory.core.diagnosis.caches import cache_label, unbounded_cache

    ran = []

    class Lookup:
        def __call__(self, key):
            return [key]

        def __getattribute__(self, name):  # functools's decoration and the call read it; no walk may
            ran.append(name)
            return object.__getattribute__(self, name)

    lookup = functools.cache(Lookup())
    lookup.__module__, lookup.__qualname__ = "app.views", "lookup"
    lookup(1)
    ran.clear()
    assert unbounded_cache(lookup) == {1: [1]}
    assert cache_label(lookup, "app.views.LOOKUP") == "app.views.lookup (lru_cache)"
    assert ran == []
    assert unbounded_cache(bounded) is None


@functools.cache
def rows(key):
    return [key]


def test_a_caches_results_are_not_watched_one_by_one():
    """A cache of 1,500 lists is one watched container: its results, one per call, would otherwise
    take 1,000 of the 2,000 containers watched, and leave a real leak elsewhere unwatched."""
    from opentelemetry_instrumentation_memory.core.diagnosis.owners import find_roots

    for key in range(1500):
        rows(key)
    try:
        paths = [path for path, _ in find_roots().containers]
    finally:
        rows.cache_clear()
    assert f"{__name__}.rows (lru_cache)" in paths
    assert not [path for path in paths if path.startswith(f"{__name__}.rows (lru_cache)[")], len(paths)


def test_a_thread_local_in_many_threads_takes_one_watched_place():
    """Each thread's list under one thread-local name is one path: listed once per thread, 100
    threads took 100 of the watched containers' places, and a global after them went unwatched."""
    module = types.ModuleType("tests_unit_local_in_many_threads")
    module.local = threading.local()
    module.QUEUE = list(range(500))
    sys.modules[module.__name__] = module
    ready, done = threading.Barrier(101), threading.Event()

    def worker():
        module.local.items = [1, 2, 3]
        ready.wait()
        done.wait()

    threads = [threading.Thread(target=worker) for _ in range(100)]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
        paths = [path for path, _ in find_roots().containers]
        queue = f"{module.__name__}.QUEUE"
        places = len(dict.fromkeys(paths[: paths.index(queue) + 1]))  # distinct paths up to the queue
        watch = ContainerWatch(max_containers=places)
        watch.census()
        readings = watch.census()
    finally:
        done.set()
        for thread in threads:
            thread.join()
        del sys.modules[module.__name__]
    assert queue in readings
    assert f"{module.__name__}.local.items (thread-local)" in readings
