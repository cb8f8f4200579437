import collections
import gc
from collections import Counter

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
