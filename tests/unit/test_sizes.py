"""Bytes per object, measured on real objects of this process."""

import ctypes
import gc
import sys
import threading

import pytest

from opentelemetry_instrumentation_memory.core.sampling.census import type_name
from opentelemetry_instrumentation_memory.core.sampling.readonly import own_size
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


def test_a_ctypes_buffer_is_measured_with_its_data():
    """``sys.getsizeof`` of a 64 KiB ctypes array reads its 136-byte header: a leak of them ranked
    500 times too small."""
    buffer_type = ctypes.c_char * 65_536
    kept = [buffer_type() for _ in range(50)]
    (size,) = ObjectSizer(sample=16)([type_name(buffer_type)]).values()
    assert sys.getsizeof(kept[0]) < 1_000
    assert 65_536 <= size < 65_536 + 1_000


def test_a_ctypes_view_of_anothers_buffer_adds_nothing():
    class Packet(ctypes.Structure):
        _fields_ = [("body", ctypes.c_char * 4_096)]

    packet = Packet()
    view = Packet.from_buffer(packet)  # shares the packet's buffer: owns none of its own
    assert own_size(packet) >= 4_096
    assert own_size(view) < 1_000


def test_a_ctypes_subclass_code_never_runs_while_it_is_measured():
    ran = []

    class Hostile(ctypes.Structure):
        _fields_ = [("body", ctypes.c_char * 1_000)]

        def __sizeof__(self):
            ran.append("__sizeof__")
            return 0

        @property
        def _b_needsfree_(self):
            ran.append("_b_needsfree_")
            return 0

    assert own_size(Hostile()) >= 1_000
    assert ran == []


class _CollidingName(str):
    """A host's key in ``sys.modules`` whose hash is ``_ctypes``'s: a lookup of ``"_ctypes"`` by
    hash asks it ``__eq__``."""

    calls: list = []

    def __hash__(self):
        return hash("_ctypes")

    def __eq__(self, other):
        _CollidingName.calls.append(threading.current_thread().name)
        return False


def test_ctypes_is_found_without_asking_a_host_key_that_collides_with_its_name():
    """``sys.modules.get("_ctypes")`` ran a colliding key's ``__eq__`` on the profiler's thread,
    for every type it sized (the key was ahead of ``_ctypes`` in the table)."""
    real = sys.modules.pop("_ctypes")
    colliding = _CollidingName("host.key")
    sys.modules[colliding] = sys  # takes the slot ``_ctypes`` left: ahead of it in the probe order
    sys.modules["_ctypes"] = real
    try:

        class Fresh(ctypes.Structure):
            _fields_ = [("body", ctypes.c_char * 4_096)]

        class Plain:
            pass

        sizes = []
        thread = threading.Thread(
            target=lambda: sizes.extend((own_size(Fresh()), own_size(Plain()))), name="sizing"
        )
        thread.start()
        thread.join()
    finally:
        del sys.modules[colliding]
    assert "sizing" not in _CollidingName.calls
    assert sizes[0] >= 4_096
