"""Bytes per object, measured on real objects of this process."""

import gc
import sys

import pytest

from opentelemetry_instrumentation_memory.core.sampling.sizes import ObjectSizer

NAME = f"{__name__}.Record"


class Record:
    def __init__(self, payload_bytes: int):
        self.payload = b"x" * payload_bytes + bytes(str(id(self)), "ascii")  # its own, not shared
        self.tags = ["a", "b"]


@pytest.mark.parametrize("payload", [100, 10_000])
def test_an_object_is_measured_with_what_it_alone_holds(payload):
    kept = [Record(payload) for _ in range(200)]
    (size,) = ObjectSizer(sample=32)([NAME]).values()
    one = kept[0]
    alone = sys.getsizeof(one) + sys.getsizeof(one.payload) + sys.getsizeof(one.tags)
    assert size >= alone  # the instance, its bytes and its list at least
    assert size < alone + 1_000  # and not the shared strings, the class or the module


def test_shared_referents_are_not_counted():
    shared = b"y" * 50_000
    kept = [Record(10) for _ in range(100)]
    for record in kept:
        record.payload = shared
    (size,) = ObjectSizer()([NAME]).values()
    assert size < 5_000


def test_results_are_cached_and_no_reference_is_kept():
    kept = [Record(10) for _ in range(50)]
    sizer = ObjectSizer(ttl=3600.0)
    first = sizer([NAME])
    kept.clear()
    gc.collect()
    assert sizer([NAME]) == first  # from the cache: nothing of this type is left to measure
    assert not [o for o in gc.get_objects() if type(o) is Record]
    assert sizer(["no.such.Type"]) == {}
