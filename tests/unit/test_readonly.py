"""The read-only heap contract's readers (core/sampling/readonly.py) and the findings they fixed."""

import collections
import enum
import gc
import sys
import threading
import time
import tracemalloc
from array import array

from opentelemetry_instrumentation_memory import MemoryProfiler
from opentelemetry_instrumentation_memory.core.diagnosis.referrers import referrers_of
from opentelemetry_instrumentation_memory.core.sampling.census import count_objects_by_type
from opentelemetry_instrumentation_memory.core.sampling.readonly import instance_dict, own_size, referents
from tests.unit.running import FAST_LEAKS


class Plain:
    def __init__(self):
        self.value = 1


class Slotted:
    __slots__ = ("value",)


class Subclassed(dict):
    pass


def test_own_size_is_getsizeof_for_objects_that_do_not_override_it():
    objects = [
        Plain(),
        Slotted(),
        Subclassed(a=1),
        "text",
        b"bytes",
        10**40,
        2.5,
        [1, 2],
        {1: 2},
        {3},
        collections.deque([1]),
        array("i", [1, 2]),
        bytearray(b"abc"),
        (1, 2),
        object(),
        Plain,
        len,
    ]
    assert [own_size(obj) for obj in objects] == [sys.getsizeof(obj) for obj in objects]


class Sizing(dict):
    def __sizeof__(self):
        raise AssertionError("the host's __sizeof__ ran")


class ShadowedDict:
    def __init__(self):
        self.kept = [1]

    @property
    def __dict__(self):
        raise AssertionError("the host's __dict__ property ran")


def test_the_host_sizeof_and_dict_property_are_never_called():
    sizing = Sizing(a=1)
    assert own_size(sizing) == sys.getsizeof(Subclassed(a=1))  # the same layout, sized by dict's own
    assert instance_dict(ShadowedDict()) is None  # unreadable, never read through the property


def test_a_large_collection_is_read_newest_first_without_copying_it_whole():
    """gc.get_referents of a 40-million-item list copied 320 MB and held the GIL half a second."""
    target = Plain()
    big = [None] * 2_000_000 + [target]
    listing = sys.getsizeof(gc.get_objects())  # the search lists the heap once, whatever it does
    tracemalloc.start()
    try:
        found = referrers_of([target])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any(holder is big for holder in found[id(target)])
    # The tuple-free listing holds the heap's list twice while it is built (pacing.py); the whole
    # referent array would be 16 MB more.
    assert peak < 2 * listing + 4 * 2**20, (peak, listing)
    sample, total = referents(big, 3)
    assert sample[0] is target and len(sample) == 3 and total == len(big)


class Priority(str, enum.Enum):
    HIGH = "high"
    LOW = "low"


class Unformattable(str):
    def __format__(self, spec):
        raise RuntimeError("no formatting")


QUEUES = {Priority.HIGH: [], Priority.LOW: []}
ODD_KEYS = {Unformattable("odd"): []}
GROWING = []


def test_enum_and_unformattable_keys_neither_hide_a_leak_nor_break_the_watch():
    """(str, Enum) keys were followed as '[Priority.HIGH]' and never found again; one key whose
    __format__ raised made every container census fail."""
    profiler = MemoryProfiler(leak_site_capture=False, **FAST_LEAKS)
    for _ in range(40):
        QUEUES[Priority.HIGH].extend(object() for _ in range(1_000))
        GROWING.extend(object() for _ in range(1_000))
        list.append(ODD_KEYS[next(iter(ODD_KEYS))], 1)
        profiler.snapshot()
    found = {leak.key for leak in profiler.detected_leaks}
    assert f"{__name__}.QUEUES[Priority.HIGH]" in found, sorted(found)
    assert f"{__name__}.GROWING" in found, sorted(found)
    gc.collect()


def test_a_metaclass_hash_is_never_called_by_the_census():
    calls = []

    class Meta(type):
        def __hash__(cls):
            calls.append(1)
            return type.__hash__(cls)

    class Counted(metaclass=Meta):
        pass

    kept = [Counted() for _ in range(1_000)]
    calls.clear()
    counts = MemoryProfiler().snapshot().top_objects
    assert calls == [] and len(kept) == 1_000 and counts


LONG_NAMED_GLOBAL = "G" * 100


def test_a_container_under_a_long_name_is_watched():
    """Names over 64 characters are indexed by digest: a watched path must be looked up the same way."""
    globals()[LONG_NAMED_GLOBAL] = []
    profiler = MemoryProfiler(leak_site_capture=False, **FAST_LEAKS)
    try:
        for _ in range(40):
            globals()[LONG_NAMED_GLOBAL].extend(object() for _ in range(1_000))
            profiler.snapshot()
        found = {leak.key for leak in profiler.detected_leaks}  # a name this long is data: digested
        assert any(key.startswith(f"{__name__}.<attribute #") for key in found), sorted(found)
    finally:
        del globals()[LONG_NAMED_GLOBAL]


def test_a_metaclass_given_a_hash_during_a_census_is_never_called():
    """Before: the census asked once whether any metaclass defines __hash__, then hashed types for
    a whole census while the host could add one between two slices."""
    calls = []

    class Meta(type):
        pass

    def recording_hash(cls):
        calls.append(threading.current_thread().name)
        return type.__hash__(cls)

    class Counted(metaclass=Meta):
        pass

    kept = [Counted() for _ in range(2_000)]
    stop = threading.Event()

    def toggle():
        while not stop.is_set():
            Meta.__hash__ = recording_hash
            del Meta.__hash__

    thread = threading.Thread(target=toggle)
    thread.start()
    try:
        for _ in range(20):
            count_objects_by_type()
    finally:
        stop.set()
        thread.join()
    assert [name for name in calls if name != thread.name] == [] and kept


class RecordingNamespace(dict):
    """A class body's namespace from ``__prepare__``: its methods are the host's code."""

    reads = []

    def values(self):
        RecordingNamespace.reads.append(threading.current_thread().name)
        return dict.values(self)

    items = keys = values


class Prepared(type):
    @classmethod
    def __prepare__(mcs, name, bases):
        return RecordingNamespace()


def test_a_running_class_body_is_never_read_through_its_namespace():
    """Before: the holder search read ``frame.f_locals.values()``, which for a class body is the
    host's ``__prepare__`` mapping."""
    profiler = MemoryProfiler(leak_site_capture=False, **FAST_LEAKS)
    grown, done = threading.Event(), threading.Event()

    def worker():
        class Body(metaclass=Prepared):
            held = []
            for _ in range(40):
                held.extend(Plain() for _ in range(500))
                grown.set()
                done.wait(0.05)

    thread = threading.Thread(target=worker, name="class-body")
    thread.start()
    try:
        grown.wait(5)
        for _ in range(40):
            profiler.snapshot()
            time.sleep(0.01)
    finally:
        done.set()
        thread.join()
    assert [name for name in RecordingNamespace.reads if name != "class-body"] == []


class Settings:
    pass


TENANTS = Settings()


def test_attribute_names_that_are_data_never_leave_as_text():
    """Before: ``setattr(obj, "alice@example.com", [...])`` became the label
    ``...TENANTS.alice@example.com``."""
    setattr(TENANTS, "alice@example.com", [])
    profiler = MemoryProfiler(leak_site_capture=False, **FAST_LEAKS)
    try:
        for _ in range(40):
            getattr(TENANTS, "alice@example.com").extend(object() for _ in range(1_000))
            profiler.snapshot()
        found = {leak.key for leak in profiler.detected_leaks}
    finally:
        delattr(TENANTS, "alice@example.com")
    assert any(key.startswith(f"{__name__}.TENANTS.<attribute #") for key in found), sorted(found)
    assert not any("@" in key for key in found)
