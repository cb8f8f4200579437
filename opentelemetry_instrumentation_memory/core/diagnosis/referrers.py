"""What refers to these objects? ``gc.get_referrers`` in slices that let the host's threads run.

``gc.get_referrers`` is one C call over the whole heap: another thread waits about twice as long as
listing the heap takes. Here the heap is listed once (the floor of any search in Python), then
checked a slice at a time: the references a slice holds are gathered in one quick C call and
compared by identity in steps, handing the GIL over between them (``Pacer``). A slice that
holds a target is searched again by sub-slices, then one object at a time. It costs about four
times the single call in total. A built-in collection of more than ``readonly.LARGE`` items is
never gathered whole: its newest two million items are read ``_STEP`` at a time by its own iterator
(``gc.get_referents`` of a 40-million-item list copied 320 MB and held the GIL half a second), so no
call holds the GIL longer than listing the heap did; a subclass of one is still gathered whole.

Only identities are compared: no ``__eq__`` or ``__hash__`` of the host's runs. References are
gathered by ``readonly.gathered_referents``: where CPython's ``_asyncio`` module would hand out its
freed Future iterators (3.12.0 to 3.12.5), it stands for its dict alone.
"""

from __future__ import annotations

from itertools import compress, islice
from typing import Dict, List, Sequence, Set

from ..sampling.pacing import Pacer, listed_heap, paced_slices
from ..sampling.readonly import ITERABLE_TYPES, gathered_referents, large_items

__all__ = ["referrers_of"]

_SLICE = 20_000  # objects whose references are gathered by one C call, at most
_SUB_SLICE = 500  # a slice holding a target is searched in sub-slices, then one object at a time
_STEP = 50_000  # references compared per step (about 1 ms)
_LARGE_SCAN = 2_000_000  # items of one large collection looked at, newest first
_ITERABLE_IDS = set(map(id, ITERABLE_TYPES))


def _held_by_large(container: object, wanted: Set[int], pace: Pacer, stop_at_first: bool) -> Set[int]:
    """The ids of ``wanted`` among the newest ``_LARGE_SCAN`` items of a large collection, read
    ``_STEP`` at a time by its own iterator (a collection resized meanwhile ends the scan)."""
    found: Set[int] = set()
    items = large_items(container, _LARGE_SCAN)
    try:
        while items is not None:
            pace()
            step = list(islice(items, _STEP))
            if not step:
                break
            found.update(wanted.intersection(map(id, step)))
            step.clear()
            if found and stop_at_first:
                break
    except RuntimeError:
        pass
    return found


def _held(objects: Sequence[object], wanted: Set[int], pace: Pacer, stop_at_first: bool) -> Set[int]:
    """The ids of ``wanted`` that ``objects`` refer to (any one of them if ``stop_at_first``)."""
    kinds = list(map(id, map(type, objects)))
    large = [obj for obj in compress(objects, map(_ITERABLE_IDS.__contains__, kinds)) if large_items(obj, 0)]
    kinds.clear()
    found: Set[int] = set()
    for container in large:
        found |= _held_by_large(container, wanted, pace, stop_at_first)
        if found and stop_at_first:
            return found
    if large:
        skipped = set(map(id, large))
        objects = [obj for obj in objects if id(obj) not in skipped]
        large.clear()
    references = gathered_referents(objects)
    try:
        for start in range(0, len(references), _STEP):
            pace()  # gathering a large container's references may itself have held the GIL a while
            found.update(wanted.intersection(map(id, references[start : start + _STEP])))
            if found and stop_at_first:
                break
        return found
    finally:
        references.clear()


def _search(objects: List[object], wanted: Set[int], pace: Pacer, found: Dict[int, List[object]]) -> None:
    """File each of ``objects`` (a slice known to hold a target) under the targets it holds: first
    by sub-slices, then one object at a time, so that a large container is gathered three times."""
    for start in range(0, len(objects), _SUB_SLICE):
        pace()
        part = objects[start : start + _SUB_SLICE]
        if _held(part, wanted, pace, stop_at_first=True):
            for obj in part:
                pace()
                for key in _held([obj], wanted, pace, stop_at_first=False):
                    found[key].append(obj)
        part.clear()


def referrers_of(targets: Sequence[object]) -> Dict[int, List[object]]:
    """``id(target) -> the gc-tracked objects that refer to it``, for every target.

    Objects created while the search runs are not seen; ``targets`` itself and the lists the search
    builds are not counted. No reference outlives the call but those returned.
    """
    wanted = set(map(id, targets))
    found: Dict[int, List[object]] = {key: [] for key in wanted}
    if not wanted:
        return found
    pace = Pacer()
    with listed_heap() as (objects, listing):
        for run in paced_slices(objects, listing, largest=_SLICE):
            part = list(run)
            if _held(part, wanted, pace, stop_at_first=True):
                _search(part, wanted, pace, found)
    # The search's own lists were listed with the heap: one filed under a target holds the
    # referrers found so far, which may be targets too.
    own = {id(targets), *map(id, found.values())}
    for referrers in found.values():
        if any(id(referrer) in own for referrer in referrers):
            referrers[:] = [referrer for referrer in referrers if id(referrer) not in own]
    return found
