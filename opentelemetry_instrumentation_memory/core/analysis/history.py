"""A bounded history of snapshots kept as columns of doubles: about 80 bytes a snapshot."""

from __future__ import annotations

from array import array
from typing import Dict, List, Optional

from ..records import MemorySnapshot
from .ring import tail

FIELDS = (
    "timestamp",
    "heap_used_mb",
    "heap_size_mb",
    "heap_percent",
    "rss_mb",
    "vms_mb",
    "total_objects",
    "gc_collections_total",
    "tracemalloc_current_mb",
)


class SnapshotHistory:
    """A ring of the last ``capacity`` snapshots' scalar figures, oldest first when read."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._columns: Dict[str, array] = {name: array("d", bytes(8 * capacity)) for name in FIELDS}
        self._written = 0

    def __len__(self) -> int:
        return min(self._written, self.capacity)

    def append(self, snapshot: MemorySnapshot) -> None:
        slot = self._written % self.capacity
        columns = self._columns
        for name in FIELDS:
            if name == "gc_collections_total":
                columns[name][slot] = sum(snapshot.gc_collections)
            else:
                columns[name][slot] = getattr(snapshot, name)
        self._written += 1

    def column(self, name: str, last: Optional[int] = None) -> List[float]:
        """The last ``last`` values (all kept when None) of one field, oldest first."""
        if name not in self._columns:
            raise ValueError(f"name must be one of {', '.join(FIELDS)}, got {name!r}")
        length = len(self) if last is None else min(last, len(self))
        return tail(self._columns[name], self._written, length)
