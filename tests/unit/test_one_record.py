"""One bug, one record: a type whose new objects all sit in one growing container is reported once,
as that container's leak of that type, from the first verdict, its bytes counted once."""

import sys
import time

from opentelemetry_instrumentation_memory import MemoryProfiler
from tests.unit.running import FAST_LEAKS, run_beside


class Order:
    def __init__(self, number):
        self.number = number
        self.lines = [number] * 20  # a list per entry: a consequence of the leak, not a leak of its own


class Spread:
    """Kept by ten lists in turn: no container holds most of them."""


class Apple:
    pass


class Pear:
    pass


ORDERS = []
BASKET = []
SHELVES = [[] for _ in range(10)]


def leak_orders(stop):
    number = 0
    while not stop.is_set():
        for _ in range(20):
            ORDERS.append(Order(number))  # the leaking line
            number += 1
        time.sleep(0.002)


def leak_spread(stop):
    number = 0
    while not stop.is_set():
        for _ in range(20):
            SHELVES[number % 10].append(Spread())
            number += 1
        time.sleep(0.002)


def test_a_type_kept_by_one_list_is_that_lists_leak_reported_once():
    seen = []
    profiler = MemoryProfiler(leak_site_capture=False, heap_sampling=False, **FAST_LEAKS)
    profiler.register_leak_callback(seen.append)
    orders = f"{__name__}.ORDERS"
    try:
        # The list's own counts may convince before the orders' do: wait for the record naming them.
        run_beside(
            profiler,
            leak_orders,
            lambda: any(leak.key == orders and leak.entry_type for leak in profiler.active_leaks),
        )
        profiler.snapshot()
        profiler.flush_callbacks()
        active = {leak.key: leak for leak in profiler.active_leaks}
        detected = {leak["container"] or leak["object_type"] for leak in profiler.get_detected_leaks()}
    finally:
        ORDERS.clear()
    record = active[orders]
    assert record.kind == "container" and record.object_type == "list"
    assert record.entry_type == f"{__name__}.Order"
    assert f"{__name__}.Order" not in active and f"{__name__}.Order" not in detected
    assert all(leak.key != f"{__name__}.Order" for leak in seen), "the type was reported on its own"
    assert [leak.key for leak in seen].count(orders) >= 1
    # Each order's bytes once: the record's bytes per entry include the order's own list.
    assert record.bytes_per_object > 20 * 8


def test_a_type_spread_over_many_holders_stays_a_type_leak():
    profiler = MemoryProfiler(leak_site_capture=False, heap_sampling=False, **FAST_LEAKS)
    spread = f"{__name__}.Spread"
    try:
        run_beside(
            profiler,
            leak_spread,
            lambda: any(leak.key == spread and leak.retained_by for leak in profiler.active_leaks),
        )
        active = {leak.key: leak for leak in profiler.active_leaks}
    finally:
        for shelf in SHELVES:
            shelf.clear()
    assert active[spread].kind == "type" and active[spread].entry_type == ""
    # Held by ten lists, none of them a container watched by its owner path: no container's leak.
    assert active[spread].retained_by[0][0] == "<list>", active[spread].retained_by


def leak_fruit(stop):
    while not stop.is_set():
        for _ in range(20):
            BASKET.append(Apple())
            BASKET.append(Pear())
        time.sleep(0.002)


def test_a_list_holding_two_leaking_types_is_one_leak_naming_both():
    profiler = MemoryProfiler(leak_site_capture=False, heap_sampling=False, **FAST_LEAKS)
    basket = f"{__name__}.BASKET"

    def both_folded():
        record = next((leak for leak in profiler.active_leaks if leak.key == basket), None)
        return record is not None and record.entry_type.count(", ") == 1

    try:
        run_beside(profiler, leak_fruit, both_folded)
        active = {leak.key: leak for leak in profiler.active_leaks}
    finally:
        BASKET.clear()
    assert active[basket].entry_type == f"{__name__}.Apple, {__name__}.Pear"
    assert f"{__name__}.Apple" not in active and f"{__name__}.Pear" not in active


class Ticket:
    pass


STANDING = [Ticket() for _ in range(2_000)]  # the program's own tickets: held, not growing


def test_a_leak_into_a_container_made_after_the_walk_of_the_globals_is_that_containers():
    """Its objects are sampled newest first (the standing ones, older, would name ``STANDING``), and
    the holder search's walk of the globals watches the new container from the next census."""
    module = sys.modules[__name__]
    profiler = MemoryProfiler(
        snapshot_interval=3600.0, census_budget=1.0, leak_window=48, leak_min_snapshots=12, warmup_seconds=0
    )
    profiler.start()
    try:
        for census in range(40):
            if census == 20:
                module.LATE = []
            if census >= 20:
                module.LATE.extend(Ticket() for _ in range(60))
            profiler.snapshot()
            records = [
                leak for leak in profiler.active_leaks if f"{__name__}.Ticket" in (leak.key, leak.entry_type)
            ]
            if records and records[0].kind == "container":
                break
        else:
            raise AssertionError(f"never folded: {profiler.active_leaks}")
    finally:
        profiler.stop()
        del module.LATE
    (record,) = records
    assert record.container == f"{__name__}.LATE", record
    assert census <= 20 + 12 + 1, census  # a verdict within 12 censuses of the leak's start, then one
