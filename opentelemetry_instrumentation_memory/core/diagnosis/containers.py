"""Containers whose length grows: the leak the type census cannot see.

A dict of strings or bytes that only grows is one object whose count never changes; its length is
what leaks. Every census, the containers reachable from module globals (and from the attributes of
the objects and classes they name) are measured. The globals are walked again every
``discover_every`` censuses, when one walk of the heap also finds large containers that no global
reaches and names them by the instance that holds them. Containers are reached again by their
path each time: no reference to them is kept.
"""

from __future__ import annotations

import collections
import types
import weakref
from array import array
from itertools import compress, islice
from typing import Dict, List, Mapping, Optional, Sequence, Set, Sized, Tuple, cast

from ..sampling.census import type_name
from ..sampling.pacing import listed_heap, paced_slices
from ..sampling.readonly import read_attribute
from ..sampling.sizes import retained_bytes
from .holders import owning_instances
from .keys import attribute_label
from .owners import CONTAINER_TYPES, Access, Reach, Roots, bounded, find_roots, length_of, size_of

__all__ = ["ContainerReading", "ContainerWatch"]

ContainerReading = Tuple[str, int]  # (container type name, length)
_ENTRY_SAMPLE = 64
_OWN_PACKAGE = __name__.split(".", 1)[0] + "."
_UNOWNED_RETRY = 8  # discoveries between searches for the owner of a large container none holds


def recent_entries(container: object, last: int) -> List[object]:
    """Up to ``last`` of the most recently added entries (values and keys of a dict, items
    otherwise), read through the built-in base's own methods: no subclass code runs."""
    kind = type(container)
    if issubclass(kind, dict):
        pairs = list(islice(reversed(dict.items(cast(dict, container))), last))
        return [value for _, value in pairs] + [key for key, _ in pairs]
    if issubclass(kind, list):
        return list(islice(list.__reversed__(cast(list, container)), last))
    if issubclass(kind, collections.deque):
        return list(islice(collections.deque.__reversed__(cast(collections.deque, container)), last))
    if issubclass(kind, set):
        return list(islice(set.__iter__(cast(set, container)), last))
    return []


def large_containers(min_length: int) -> List[object]:
    """The gc-tracked containers of at least ``min_length`` entries, found in slices of the heap at
    C speed: the built-in types by ``len`` (their own), subclasses by their built-in base's."""
    exact = {id(kind) for kind in CONTAINER_TYPES}
    subclasses: Dict[int, bool] = {}  # id(type) -> a subclass of a container type?
    found: List[object] = []
    with listed_heap() as (objects, listing):
        for run in paced_slices(objects, listing):
            part = list(run)
            kinds = list(map(type, part))
            kind_ids = list(map(id, kinds))
            if not subclasses.keys() >= set(kind_ids):  # types not seen yet: which are containers?
                for key, kind in dict(zip(kind_ids, kinds)).items():
                    if key not in subclasses:
                        subclasses[key] = key not in exact and issubclass(kind, CONTAINER_TYPES)
            kinds.clear()
            builtins: List[Sized] = list(compress(part, map(exact.__contains__, kind_ids)))  # type: ignore[arg-type]
            found.extend(compress(builtins, map(min_length.__le__, map(len, builtins))))
            builtins.clear()
            derived = {key for key, derives in subclasses.items() if derives}
            found.extend(
                obj
                for obj in compress(part, map(derived.__contains__, kind_ids))
                if length_of(obj) >= min_length
            )
        return found


class ContainerWatch:
    """Lengths of the containers worth watching, by owner path; bounded in containers and time."""

    def __init__(self, min_length: int = 100, max_containers: int = 2000, discover_every: int = 30) -> None:
        self.literal_keys = False  # owner paths name dict keys by type and digest (diagnosis.keys)
        self.min_length = min_length
        self.max_containers = max_containers
        self.discover_every = discover_every
        self._held_by_instances: Dict[str, Tuple["weakref.ref[object]", str]] = {}
        # The profiler's own large containers: found once, never read, not searched again.
        self._ours: Dict[str, Tuple["weakref.ref[object]", str]] = {}
        # Large containers no instance holds (a closure's, a dict's value): searched again only every
        # few discoveries. By id: a new container given the id of one of them waits as long.
        self._unowned: Set[int] = set()
        self._discoveries = 0
        self._watched: Dict[str, Access] = {}
        self._censuses = 0

    def census(self) -> Dict[str, ContainerReading]:
        """The current length of every watched container (bounded deques excluded)."""
        # The globals from the second census on (the first snapshot stays as quick as it was),
        # then half a cycle later the heap: one walk per census at most.
        phase = (self._censuses - 1) % self.discover_every
        if self._censuses and (phase == 0 or phase == self.discover_every // 2):
            roots = find_roots(literal_keys=self.literal_keys)
            self.adopt(roots)
            if phase:
                self._discover(roots)
            roots.containers.clear()
            roots.paths.clear()
            roots.container_paths.clear()
        self._censuses += 1
        readings: Dict[str, ContainerReading] = {}
        reach = Reach()
        try:
            for path, access in self._watched.items():
                container = reach(access)
                if issubclass(type(container), CONTAINER_TYPES) and not bounded(container):
                    readings[path] = (type_name(type(container)), length_of(container))
        finally:
            reach.close()
        for path, (owner_ref, attribute) in list(self._held_by_instances.items()):
            container = self._resolve_held(owner_ref, attribute)
            if container is None:
                del self._held_by_instances[path]
            elif path not in readings and len(readings) < self.max_containers:
                readings[path] = (type_name(type(container)), length_of(container))
        return readings

    def adopt(self, roots: Roots) -> None:
        """Watch the containers of a fresh walk of the globals (a holder search's too: a leak's
        container made since the last discovery is watched from the next census on)."""
        self._watched = dict(roots.containers[: self.max_containers])

    @staticmethod
    def _resolve_held(owner_ref: "weakref.ref[object]", attribute: str) -> Optional[object]:
        owner = owner_ref()
        container = None if owner is None else read_attribute(owner, attribute)
        return container if issubclass(type(container), CONTAINER_TYPES) and not bounded(container) else None

    def _discover(self, roots: Roots) -> None:
        """Large containers held by instances that no global reaches, named by their instance."""
        for label, held in list(self._ours.items()):
            if self._resolve_held(*held) is None:
                del self._ours[label]
        watched = [*self._held_by_instances.values(), *self._ours.values()]
        known = {id(self._resolve_held(*held)) for held in watched} | roots.paths.keys()
        if self._discoveries % _UNOWNED_RETRY:
            known |= self._unowned
        else:
            self._unowned.clear()
        self._discoveries += 1
        known |= {
            id(known),
            id(roots.paths),
            id(roots.containers),
            id(roots.container_paths),
        }  # this walk's own
        large = [obj for obj in large_containers(self.min_length * 10) if id(obj) not in known]
        large.sort(key=length_of, reverse=True)
        del large[20:]
        owners = owning_instances(large)
        for container in large:
            found = owners.get(id(container))
            if found is None:
                self._unowned.add(id(container))
                continue
            if len(self._held_by_instances) >= self.max_containers:
                continue
            owner, attribute = found
            try:
                reference = weakref.ref(owner)
            except TypeError:  # no weak reference to it: it cannot be watched without keeping it
                continue
            owner_type = type_name(type(owner))
            # A module's global that the roots do not name (the profiler's own, a skipped module's,
            # a dunder such as __all__) is not an instance's: kept aside like the profiler's own.
            ours = owner_type.startswith(_OWN_PACKAGE) or issubclass(type(owner), types.ModuleType)
            kept = self._ours if ours else self._held_by_instances
            label = f"<{owner_type} instance>.{attribute_label(attribute, self.literal_keys)}"
            kept.setdefault(label, (reference, attribute))
        owners.clear()
        large.clear()

    def resolve(self, path: str, reach: Optional[Reach] = None) -> Optional[object]:
        """The container at ``path`` now, or None; ``reach`` is the walk of many lookups (each dict
        on the way indexed once for all of them: a module's 2,000 watched globals took 2,000
        indexes of its dict, 1.8 s)."""
        if path in self._held_by_instances:
            return self._resolve_held(*self._held_by_instances[path])
        access = self._watched.get(path)
        if access is None:
            return None
        walk = Reach() if reach is None else reach
        try:
            value = walk(access)
        finally:
            if reach is None:
                walk.close()
        return value if issubclass(type(value), CONTAINER_TYPES) else None

    def entry_sizes(self, paths: Sequence[str]) -> Mapping[str, float]:
        """Bytes per entry of these containers: their own per-entry share and a sample of entries."""
        sizes: Dict[str, float] = {}
        for path in paths:
            try:
                size = self._entry_size(path)
            except Exception:  # the host's code inside an entry raised: ranked with the default
                continue
            if size is not None:
                sizes[path] = size
        return sizes

    def _entry_size(self, path: str) -> Optional[float]:
        container = self.resolve(path)
        length = length_of(container) if container is not None else 0
        if not length:
            return None
        own = size_of(container) / length
        if issubclass(type(container), (bytearray, array)):
            return own
        entries = recent_entries(container, _ENTRY_SAMPLE)
        try:
            return own + sum(map(retained_bytes, entries)) / max(1, min(length, _ENTRY_SAMPLE))
        finally:
            entries.clear()
