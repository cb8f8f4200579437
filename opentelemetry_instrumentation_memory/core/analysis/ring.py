"""Reading fixed-size ``array`` rings that are written at ``count % len(ring)``."""

from __future__ import annotations

from array import array
from typing import List


def tail(ring: array, written: int, length: int) -> List[float]:
    """The last ``length`` values written to ``ring``, oldest first."""
    end = written % len(ring)
    start = end - length
    if start >= 0:
        return ring[start:end].tolist()
    return ring[start:].tolist() + ring[:end].tolist()
