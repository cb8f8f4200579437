"""Every leak gets an owner and a line: real leaks in this process, beside bounded structures."""

import collections
import functools
import itertools
import os
import re
import time

from opentelemetry_instrumentation_memory import MemoryProfiler
from tests.unit.running import run_beside

FAST = dict(snapshot_interval=0.05, census_budget=1.0, leak_window=16, leak_min_snapshots=12)


class Service:
    def __init__(self):
        self.history = []


class Registry:
    items = []


class Record:
    """Small objects kept by a module-level list: a type leak."""


CACHE = {}  # bytes under string keys: the leak the type census cannot see
SERVICE = Service()  # its history only ever grows
SEEN = set()
RECORDS = []
BOUNDED = collections.deque(maxlen=3000)
CAPPED = {}
WARM = {}
STEPS = itertools.count()  # across tests: the structures above live as long as the module


@functools.lru_cache(maxsize=500)
def cached(key):
    return [key]


def leak_step(i):
    """One request's worth of leaking and of ordinary, bounded caching. Each leak has its own line."""
    CACHE[f"key-{i}"] = os.urandom(512)  # line: CACHE
    SERVICE.history.append(f"request {i} " * 4)  # line: HISTORY
    SEEN.add(10**12 + i)
    Registry.items.append(Record())  # line: REGISTRY
    RECORDS.append(Record())
    BOUNDED.append(object())
    # The bounded ones fill over ten to twenty snapshots, as real caches do, then stay full.
    if len(CAPPED) < 400 and i % 10 == 0:
        CAPPED[i] = [i]
    if i < 3000:
        WARM[i] = {"i": i}
    cached(i // 10)


LINES = {
    marker: number
    for number, text in enumerate(open(__file__).read().splitlines(), start=1)
    for marker in ("CACHE", "HISTORY", "REGISTRY")
    if text.rstrip().endswith(f"# line: {marker}")
}


def requests(stop):
    while not stop.is_set():
        for _ in range(10):
            leak_step(next(STEPS))
        time.sleep(0.002)


def run(profiler, until, timeout=60):
    run_beside(profiler, requests, until, timeout)


def by_key(profiler):
    return {leak["container"] or leak["object_type"]: leak for leak in profiler.get_detected_leaks()}


def test_container_leaks_are_named_by_owner_path_with_their_own_lines(tmp_path):
    profiler = MemoryProfiler(leak_site_window_seconds=0.5, leak_site_cooldown_seconds=0.0, **FAST)
    module = __name__
    wanted = {f"{module}.CACHE", f"{module}.SERVICE.history", f"{module}.SEEN", f"{module}.Registry.items"}

    def all_found_with_sites():
        found = by_key(profiler)
        return wanted <= set(found) and all(found[key]["sites"] for key in wanted - {f"{module}.SEEN"})

    run(profiler, all_found_with_sites)
    found = by_key(profiler)
    assert wanted <= set(found), sorted(found)
    cache = found[f"{module}.CACHE"]
    assert cache["kind"] == "container" and cache["object_type"] == "dict"
    assert cache["growth_count"] > 100 and cache["growth_rate_per_hour"] > 0
    assert cache["bytes_per_object"] > 512  # the bytes value, its key and the dict's own share
    assert found[f"{module}.SERVICE.history"]["object_type"] == "list"
    assert found[f"{module}.SEEN"]["object_type"] == "set"
    own_lines = {
        f"{module}.CACHE": LINES["CACHE"],
        f"{module}.SERVICE.history": LINES["HISTORY"],
        f"{module}.Registry.items": LINES["REGISTRY"],
    }
    for key, line in own_lines.items():
        top = found[key]["sites"][0]
        assert top["file"].endswith("test_owners.py") and top["line"] == line, (key, found[key]["sites"])
    assert f"{module}.BOUNDED" not in found  # a deque with a maxlen states its bound


def test_a_type_leak_names_the_list_that_holds_it():
    profiler = MemoryProfiler(leak_site_capture=False, **FAST)
    name = f"{__name__}.Record"
    run(profiler, lambda: name in by_key(profiler) and by_key(profiler)[name]["retained_by"])
    holders = {entry["holder"]: entry["share"] for entry in by_key(profiler)[name]["retained_by"]}
    assert {f"{__name__}.RECORDS", f"{__name__}.Registry.items"} <= set(holders), holders
    assert sum(holders.values()) <= 1.0


def test_bounded_structures_never_rank_above_low_and_end_once_full():
    """lru_cache(maxsize), deque(maxlen): never named. A dict capped by user code and a warm-up
    dict: nothing can know their bound while they fill; low at most, and not active once full."""
    profiler = MemoryProfiler(leak_site_capture=False, **FAST)
    run(profiler, lambda: profiler.total_snapshots >= 80)
    found = by_key(profiler)
    active = {leak.key for leak in profiler.active_leaks}
    assert "functools._lru_list_elem" not in found
    assert f"{__name__}.BOUNDED" not in found
    for key in (f"{__name__}.CAPPED", f"{__name__}.WARM"):
        if key in found:
            assert found[key]["severity"] == "low" and key not in active, found[key]
    assert f"{__name__}.CACHE" in active and f"{__name__}.Record" in active  # real leaks beside them


class Guarded(dict):
    """A dict whose own methods raise: the profiler must read it through the built-in ones."""

    def __getitem__(self, key):
        raise RuntimeError("no reading")

    def __iter__(self):
        raise RuntimeError("no iterating")


GUARDED = Guarded()
CACHES = {"users": {}}  # a dict of plain values two levels down


def test_hostile_containers_and_nested_dicts_are_watched_without_running_their_code():
    profiler = MemoryProfiler(leak_site_capture=False, **FAST)
    for i in range(40):
        for j in range(50):
            dict.__setitem__(GUARDED, f"{i}-{j}", b"x" * 32)
            CACHES["users"][f"{i}-{j}"] = b"y" * 32
        profiler.snapshot()  # never raises, whatever the dict's own methods do
    found = by_key(profiler)
    assert f"{__name__}.GUARDED" in found, sorted(found)
    nested = [key for key in found if key.startswith(f"{__name__}.CACHES[")]
    assert len(nested) == 1 and re.fullmatch(r".*CACHES\[<str #[0-9a-f]{6}>\]", nested[0]), sorted(found)
    assert found[f"{__name__}.GUARDED"]["bytes_per_object"] > 32


def test_dict_keys_show_as_they_are_only_when_asked():
    CACHES["users"].clear()
    profiler = MemoryProfiler(leak_site_capture=False, leak_owner_literal_keys=True, **FAST)
    for i in range(40):
        for j in range(50):
            CACHES["users"][f"{i}-{j}"] = b"y" * 32
        profiler.snapshot()
    assert f"{__name__}.CACHES['users']" in by_key(profiler)
