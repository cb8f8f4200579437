"""Walking the heap without stalling the host's threads for longer than listing it takes.

A walk lists the heap once with ``gc.get_objects()`` (one C call, the floor of any exact walk in
Python), then works through the list in slices, handing the GIL over between them: a host thread
waits one C call at most, never a whole walk.
"""

from __future__ import annotations

import contextlib
import gc
import time
from itertools import chain, compress, count, islice, repeat, starmap, tee
from operator import is_, is_not
from typing import Callable, Dict, Iterator, List, Optional, Tuple, cast

from . import fork

__all__ = ["Pacer", "listed_heap", "paced_slices"]

_TARGET = 0.002  # seconds of work on one slice, at least
_FIRST = 2_000  # items in the first slice, before the work per item is known (0.1-1 ms)
_LARGEST = 500_000  # items in a slice at most: after a run of cheap items may come dear ones
_GROWTH = 4  # a slice at most this many times the last: one quick slice says little


class Pacer:
    """Call between the C calls of a walk: once the walk has held the GIL for ``every`` seconds it
    hands it over (``time.sleep(0)``) to any thread waiting for it, which would otherwise wait the
    interpreter's switch interval (5 ms) on top of the call. A walk of many short calls pays one
    sleep per ``every`` seconds, not one per call: each costs about 70 us of wall time here.
    """

    __slots__ = ("every", "_since")

    def __init__(self, every: float = _TARGET) -> None:
        self.every = every
        self._since = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self._since >= self.every:
            time.sleep(0)
            self._since = time.perf_counter()


# id(listing) -> listing, for the walks in progress. A walk hands the GIL over, so the host may fork
# during one: the child has no walking thread to clear the listing, which would keep every object the
# parent had for the child's lifetime. The child clears them.
_listings: Dict[int, List[object]] = {}


def _heap_without_tuples() -> Iterator[object]:
    """A lazy pipeline of C callables: for ``L = gc.get_objects()``, the objects of L that are not
    tuples, then ``len(L)``, then ``L.clear()`` (yielding nothing). L lists the pipeline's own
    objects, which hold L: without the clear, that cycle would keep the whole heap until the next
    collection."""
    listings, for_types, for_length, last = tee(map(gc.get_objects, (None,)), 4)
    keep = map(map, repeat(is_not), map(map, repeat(type), for_types), repeat(repeat(tuple)))
    emptied = compress(map(list.clear, last), repeat(False))
    return chain(chain.from_iterable(starmap(compress, zip(listings, keep))), map(len, for_length), emptied)


def _listing_without_tuples(objects: List[object]) -> int:
    """Fills ``objects`` with every gc-tracked object but tuples; returns how many tuples there
    were. A tuple may be under construction (``tuple(generator)`` fills it, then resizes it, and the
    resize raises ``SystemError`` in the host if anyone else holds a reference to it): the heap is
    listed, filtered and the full listing emptied within the one C call of ``list.extend``; no
    bytecode runs while the full listing holds anything."""
    objects.extend(_heap_without_tuples())
    listed = cast(int, objects.pop())
    # The list being filled was listed too: taken out by identity (it is among the youngest objects,
    # which the collector lists first, so the search ends early).
    del objects[next(compress(count(), map(is_, objects, repeat(objects))))]
    return listed - len(objects) - 1


@contextlib.contextmanager
def listed_heap(tuples: Optional[List[int]] = None) -> Iterator[Tuple[List[object], float]]:
    """Every gc-tracked object but tuples (``_listing_without_tuples``; ``tuples`` receives how many
    there were), and the seconds listing them held the GIL; the references are dropped when the
    block ends.

    The listing is registered before it is filled: a thread waiting to fork gets the GIL at the
    first check after the long fill, before any later line could register it, and the child would
    keep the whole heap."""
    started = time.perf_counter()
    objects: List[object] = []
    _listings[id(objects)] = objects
    try:
        tuple_count = _listing_without_tuples(objects)
        held = time.perf_counter() - started
        if tuples is not None:
            tuples.append(tuple_count)
        yield objects, held
    finally:
        _listings.pop(id(objects), None)
        objects.clear()


Hold = Callable[[List[object]], List[object]]


def unheld(objects: List[object]) -> List[object]:
    return objects


@contextlib.contextmanager
def holding() -> Iterator[Hold]:
    """For lists of heap objects a lookup keeps past its walk: ``hold(objects)`` registers one, which
    is cleared when the block ends, and in a child forked meanwhile (where the holding thread's frame
    outlives the fork, and would pin the objects for the child's life)."""
    held: List[List[object]] = []

    def hold(objects: List[object]) -> List[object]:
        _listings[id(objects)] = objects
        held.append(objects)
        return objects

    try:
        yield hold
    finally:
        for objects in held:
            _listings.pop(id(objects), None)
            objects.clear()


def _release_all_in_child() -> None:
    for objects in list(_listings.values()):
        objects.clear()
    _listings.clear()


fork.register_function(_release_all_in_child)


def paced_slices(
    items: List[object],
    listing: float = 0.0,
    holds: Optional[List[float]] = None,
    largest: int = _LARGEST,
) -> Iterator[Iterator[object]]:
    """Consecutive runs of ``items``, each to be consumed whole before the next, sized from the last
    so that the caller's work on one takes about a quarter of ``listing`` (the seconds it took to
    list them), 2 ms at least; the GIL is handed over before each, the first included (the caller
    has just listed the heap). A slice then holds the GIL for a fraction of what listing did, a
    request that needs the GIL several times waits a few slices, and a large heap is walked in a few
    dozen slices: each hand-over costs a sleep of about 70 us (the kernel's timer slack), which is
    not the host's time but lengthens the walk. The work per item varies tenfold (under tracemalloc
    every new int is a traced allocation), so a fixed size would not bound the hold. ``holds``
    receives the seconds each slice's work took."""
    target = max(_TARGET, listing / 4)
    remaining, size = len(items), _FIRST
    whole = iter(items)
    while remaining > 0:
        time.sleep(0)
        began = time.perf_counter()
        yield islice(whole, size)
        held = time.perf_counter() - began
        if holds is not None:
            holds.append(held)
        remaining -= size
        size = max(100, min(largest, size * _GROWTH, int(size * target / max(held, 1e-6))))
