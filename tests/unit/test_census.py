import collections
import gc
import time
from collections import Counter

from opentelemetry_instrumentation_memory.core.sampling import census
from opentelemetry_instrumentation_memory.core.sampling.census import count_objects_by_type, type_name


class Widget:
    class Part:
        pass


def test_names_are_qualified_and_builtins_bare():
    assert type_name(dict) == "dict"
    assert type_name(Widget) == f"{__name__}.Widget"
    assert type_name(Widget.Part) == f"{__name__}.Widget.Part"
    assert type_name(collections.OrderedDict) == "collections.OrderedDict"


def test_census_counts_every_tracked_object_of_a_type():
    widgets = [Widget() for _ in range(5_000)]
    counts = count_objects_by_type()
    assert counts[f"{__name__}.Widget"] == 5_000
    del widgets
    assert count_objects_by_type().get(f"{__name__}.Widget", 0) == 0


def test_census_agrees_with_the_c_level_count():
    gc.collect()
    reference = Counter(type_name(type(obj)) for obj in gc.get_objects())
    counts = count_objects_by_type()
    for name in ("function", "type", "dict", f"{__name__}.Widget"):
        assert abs(counts.get(name, 0) - reference.get(name, 0)) <= 5


def test_untracked_atomic_objects_are_invisible():
    strings = [str(i) * 3 for i in range(10_000)]
    counts = count_objects_by_type()
    assert counts.get("str", 0) < 1_000
    assert len(strings) == 10_000


class Hostile(type):
    """A metaclass whose names raise or stall, and whose classes are unhashable (``__eq__`` alone)."""

    calls = 0

    def __getattribute__(cls, name):
        if name in ("__qualname__", "__name__"):
            Hostile.calls += 1
            raise RuntimeError(f"no {name} for you")
        return type.__getattribute__(cls, name)

    @property
    def __module__(cls):
        Hostile.calls += 1
        time.sleep(5)
        return "slow"

    def __eq__(cls, other):
        return cls is other


class Guarded(metaclass=Hostile):
    pass


def test_a_hostile_metaclass_is_named_without_running_its_code():
    guarded = [Guarded() for _ in range(3_000)]
    started = time.monotonic()
    counts = count_objects_by_type()
    assert time.monotonic() - started < 2  # the sleeping __module__ was never called
    assert counts[f"{__name__}.Guarded"] == 3_000
    assert Hostile.calls == 0
    assert counts["dict"] > 0 and len(guarded) == 3_000  # the rest of the census is intact


def test_names_are_valid_utf8_and_distinct_names_stay_distinct():
    first, second = type("Row", (), {}), type("Row", (), {})
    first.__qualname__, second.__qualname__ = "Row\udcff", "Row\udcfe"
    names = {type_name(first), type_name(second)}
    assert names == {f"{__name__}.Row\\udcff", f"{__name__}.Row\\udcfe"}
    for name in names:
        name.encode("utf-8")


def test_a_name_is_read_once_per_type_and_shared_by_types_of_the_same_name():
    long_name = "Generated" + "x" * 2_000
    first, second = type(long_name, (), {}), type(long_name, (), {})
    name = type_name(first)
    assert type_name(first) is name  # cached: every census holds the same string
    assert type_name(second) is name  # shared: one copy however many types have it
    first.__qualname__ = "Renamed"
    assert type_name(first) is name  # read once: a rename is not seen (and costs nothing)


def test_names_are_forgotten_with_their_types():
    gc.collect()
    before = len(census._names)
    kinds = [type(f"Transient{i}", (), {}) for i in range(2_000)]
    for kind in kinds:
        type_name(kind)
    assert len(census._names) >= before + 2_000
    del kinds, kind
    gc.collect()
    assert len(census._names) <= before + 10


def test_the_census_holds_the_gil_one_slice_at_a_time_and_says_how_long():
    from opentelemetry_instrumentation_memory import MemoryProfiler

    kept = [object() for _ in range(200_000)]  # several slices of 50,000
    profiler = MemoryProfiler()
    snapshot = profiler.snapshot()
    pause = profiler.census_pause_seconds
    assert 0 < pause * 1000 < snapshot.census_ms  # one C call, not the whole census
    assert len(kept) == 200_000


def test_a_name_is_dropped_with_the_last_type_that_has_it():
    """On 3.12 and later an interned string is immortal: 300k short-lived classes kept 71 MB."""
    gc.collect()
    before = len(census._shared)
    kinds = [type(f"Ephemeral{i}", (), {}) for i in range(2_000)]
    for kind in kinds:
        type_name(kind)
    assert len(census._shared) >= before + 2_000
    del kinds, kind
    gc.collect()
    assert len(census._shared) <= before + 10
