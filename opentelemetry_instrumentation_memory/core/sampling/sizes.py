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


def retained_bytes(obj: object) -> int:
    total = own_size(obj)
    level = [obj]
    for _ in range(_DEPTH):
        below: List[object] = []
        for owner in level:
            found, count = referents(owner, _MAX_REFERENTS)
            for referent in islice(found, _MAX_REFERENTS):
                if (
                    issubclass(type(referent), _SHARED_KINDS)
                    or sys.getrefcount(referent) > _SOLE_OWNER_REFCOUNT
                ):
                    continue
                total += own_size(referent)
                below.append(referent)
            found.clear()
            if count > _MAX_REFERENTS and below:
                # The rest of a large container's items: assume they are like the first ones.
                share = sum(own_size(r) for r in below[-_MAX_REFERENTS:]) / _MAX_REFERENTS
                total += int(share * (count - _MAX_REFERENTS))
        level = below
    return total


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
