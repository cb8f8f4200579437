"""A tuple under construction is never held by a walk: ``tuple(generator)`` fills a tuple, then
resizes it, and the resize fails with ``SystemError`` in the host if anyone else holds a reference.
Before, ``gc.get_objects()`` in every walk picked such tuples up and held them: 13 ``SystemError``s
in the host's ``tuple()`` calls in 5 s (3.11; 3.12 and 3.13 alike)."""

import threading
import time

from opentelemetry_instrumentation_memory.core.diagnosis.containers import large_containers
from opentelemetry_instrumentation_memory.core.diagnosis.referrers import referrers_of
from opentelemetry_instrumentation_memory.core.sampling.census import count_objects_by_type, objects_of

BASE = [object() for _ in range(100_000)]  # each walk lasts a while


def test_no_walk_makes_the_hosts_tuple_calls_fail():
    target = object()
    holder = [target]
    errors, calls = [], [0]
    stop = threading.Event()

    def host():
        while not stop.is_set():
            try:
                tuple(x for x in range(50_000))
                calls[0] += 1
            except SystemError as error:
                errors.append(error)

    thread = threading.Thread(target=host)
    thread.start()
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            count_objects_by_type()
            referrers_of([target])
            large_containers(1_000)
            objects_of(["list"], 10)
    finally:
        stop.set()
        thread.join()
    assert errors == [] and calls[0] > 100 and holder


def test_the_census_still_counts_tuples():
    kept = [(object(), []) for _ in range(5_000)]  # tracked tuples (they hold a list)
    assert count_objects_by_type().get("tuple", 0) >= 5_000 and len(kept) == 5_000
