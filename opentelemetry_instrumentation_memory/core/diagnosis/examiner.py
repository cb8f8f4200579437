"""What the profiler asks of the heap about leaks: containers to watch, bytes per object and per
entry, who holds a leaking type, and which objects to look up (in the sampled heap, or in
tracemalloc's traces). Every answer comes from a bounded walk, run at a census or when a leak is
found, and keeps no reference."""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

from ..sampling.census import objects_of
from ..sampling.pacing import Hold, unheld
from ..sampling.sizes import ObjectSizer
from .containers import ContainerReading, ContainerWatch, recent_entries
from .holders import Holders, retained_by
from .owners import Reach, find_roots

__all__ = ["LeakExaminer"]

# A leaking type whose sample is mostly held by bounded structures is a cache filling.
BOUNDED_SHARE = 0.5
_LOCATE_PER_LEAK = 2000


class LeakExaminer:
    def __init__(self) -> None:
        self.containers = ContainerWatch()
        self._object_sizer = ObjectSizer()

    def container_census(self) -> Dict[str, ContainerReading]:
        return self.containers.census()

    def entry_sizes(self, paths: Sequence[str]) -> Mapping[str, float]:
        return self.containers.entry_sizes(paths)

    def object_sizes(self, names: Sequence[str]) -> Mapping[str, float]:
        """Bytes per object; a type whose objects' own code raises is ranked with the default."""
        try:
            return self._object_sizer(names)
        except Exception:
            return {}

    def holders(self, type_names: Sequence[str]) -> Tuple[Dict[str, Holders], List[str]]:
        """The holders of each leaking type, and the types held by bounded structures."""
        roots = find_roots(literal_keys=self.containers.literal_keys)
        found = retained_by(type_names, roots)
        self.containers.adopt(roots)
        held_by_bounded = [name for name, (_, share) in found.items() if share >= BOUNDED_SHARE]
        return {name: holders for name, (holders, _) in found.items()}, held_by_bounded

    def locate(
        self, kinds: Mapping[str, str], limit: int = _LOCATE_PER_LEAK, hold: Hold = unheld
    ) -> Dict[str, List[object]]:
        """Up to ``limit`` candidate objects of each leak (``kinds``: key -> "type" or "container"),
        youngest first, in lists given to ``hold``; leaks of other kinds are left out."""
        types = [key for key, kind in kinds.items() if kind == "type"]
        located: Dict[str, List[object]] = dict(objects_of(types, limit, hold)) if types else {}
        reach = Reach()  # one walk for all the containers: each dict on the way indexed once
        try:
            for key, kind in kinds.items():
                if kind == "container":
                    container = self.containers.resolve(key, reach)
                    located[key] = hold(recent_entries(container, limit) if container is not None else [])
                    container = None
        finally:
            reach.close()
        return located
