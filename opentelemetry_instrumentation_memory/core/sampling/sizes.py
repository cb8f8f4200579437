"""Bytes per object of a leaking type: what a leak costs, so that its severity means impact.

Asked only for the types that leak now, so it runs on the rare censuses that bring one. One walk of
the garbage collector's list samples up to ``sample`` objects of each type and measures each with
what it alone holds (its ``__dict__`` values, a list's items, ...): ``sys.getsizeof`` of the object
and, two levels down, of every referent no one else refers to. Results are kept for ``ttl`` seconds.
"""

from __future__ import annotations

import sys
import time
import types
from itertools import islice
from typing import Dict, List, Mapping, Sequence, Tuple

from .census import objects_of
from .readonly import own_size, referents

__all__ = ["ObjectSizer"]

_SHARED_KINDS = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
# References to a referent while it is measured: the owner's, the referents list, the loop variable
# and getrefcount's own argument. More means someone else holds it too.
_SOLE_OWNER_REFCOUNT = 4
_DEPTH = 2
_MAX_REFERENTS = 256  # per object and level: a huge container is measured on its first items


def sole_referents(owner: object, into: List[object]) -> int:
    """Append to ``into`` up to ``_MAX_REFERENTS`` of what ``owner`` alone refers to; how many it
    refers to in all."""
    found, count = referents(owner, _MAX_REFERENTS)
    for referent in islice(found, _MAX_REFERENTS):
        if not (
            issubclass(type(referent), _SHARED_KINDS) or sys.getrefcount(referent) > _SOLE_OWNER_REFCOUNT
        ):
            into.append(referent)
    found.clear()
    return count


def retained_bytes(obj: object) -> int:
    total = own_size(obj)
    level = [obj]
    for _ in range(_DEPTH):
        below: List[object] = []
        for owner in level:
            first = len(below)
            count = sole_referents(owner, below)
            owned = below[first:]
            total += sum(own_size(referent) for referent in owned)
            if count > _MAX_REFERENTS and owned:
                # The rest of a large container's items: assume they are like the first ones.
                total += int(sum(own_size(r) for r in owned) / _MAX_REFERENTS * (count - _MAX_REFERENTS))
            owned.clear()
        level = below
    return total


def owned_parts(objects: List[object], limit: int) -> None:
    """Extend ``objects`` with what each of them alone holds, two levels down, up to ``limit`` in
    all: an instance's payload, a list's items. A byte-rate sampler sees a leak's large parts far
    more often than its small owners."""
    level = list(objects)
    for _ in range(_DEPTH):
        below: List[object] = []
        for owner in level:
            if len(objects) + len(below) >= limit:
                break
            sole_referents(owner, below)
        del below[max(limit - len(objects), 0) :]
        objects.extend(below)
        level = below


class ObjectSizer:
    """Estimated bytes per object by type name; bounded in samples, kept entries and age."""

    def __init__(self, sample: int = 64, ttl: float = 3600.0, max_entries: int = 1000) -> None:
        self.sample = sample
        self.ttl = ttl
        self.max_entries = max_entries
        self._known: Dict[str, Tuple[float, float]] = {}  # name -> (bytes per object, measured at)

    def __call__(self, names: Sequence[str]) -> Mapping[str, float]:
        now = time.monotonic()
        stale = [name for name in names if name not in self._known or now - self._known[name][1] > self.ttl]
        if stale:
            for name, size in self._measure(stale).items():
                self._known[name] = (size, now)
            while len(self._known) > self.max_entries:
                del self._known[next(iter(self._known))]
        return {name: self._known[name][0] for name in names if name in self._known}

    def _measure(self, names: Sequence[str]) -> Dict[str, float]:
        samples = objects_of(names, self.sample)
        sizes = {
            name: sum(map(retained_bytes, sampled)) / len(sampled)
            for name, sampled in samples.items()
            if sampled
        }
        samples.clear()  # no lasting references to the host's objects
        return sizes
