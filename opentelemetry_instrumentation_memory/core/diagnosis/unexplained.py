"""Where growth that no type or container leak explains lies, from the sampled heap: outside
Python's allocators (a C library's ``malloc``), or on a line whose blocks a watched container keeps
(a dict gaining a few large values grows too little in entries to be a container leak)."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

from ..records import AllocationSite
from .heap_profile import HeapProfile
from .holders import Holders

PYTHON_SHARE = 0.25  # of the growth Python's allocators must make for their lines to be named
NEWEST_ENTRIES = 8  # of each watched container, looked up in the sampled heap
_HOLDERS = 3


def outside_python(resident_bytes_per_hour: float, heap: HeapProfile) -> bool:
    """Whether Python's allocators added far less than resident memory grew: the lines that grew
    most then merely allocate, and are not named."""
    python = heap.growth_per_hour()
    return python is not None and python < PYTHON_SHARE * resident_bytes_per_hour


def holders_of_growth(
    top: Optional[AllocationSite], entries: Mapping[str, Sequence[object]], heap: HeapProfile, root: str
) -> Holders:
    """The containers (by owner path, from their newest ``entries``) whose sampled entries were
    allocated on the ``top`` growing line, with their shares of those entries' sampled bytes."""
    if top is None:
        return ()
    held: Dict[str, int] = {}
    for path, objects in entries.items():
        found = heap.sites_of(objects, NEWEST_ENTRIES, root)
        size = sum(site.size_diff_bytes for site in found if (site.file, site.line) == (top.file, top.line))
        if size > 0:
            held[path] = size
    total = sum(held.values())
    ranked = sorted(held.items(), key=lambda item: -item[1])[:_HOLDERS]
    return tuple((path, round(size / total, 2)) for path, size in ranked)
