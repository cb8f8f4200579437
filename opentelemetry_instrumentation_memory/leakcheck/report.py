"""What a leak check found, and the failure message that names it: kind, owner path, type, line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

from ..core.records import AllocationSite, Leak
from .options import CheckOptions

__all__ = ["Growth", "LeaksFound"]


@dataclass(frozen=True)
class Growth:
    """Something that grew in every quarter of the measured runs. ``owner`` is the container's
    owner path, or the dominant holder of a type's objects ("" when none was found)."""

    kind: str
    owner: str
    object_type: str
    per_run: float
    count: int
    holders: Tuple[Tuple[str, float], ...]
    sites: Tuple[AllocationSite, ...]

    @classmethod
    def of(cls, leak: Leak) -> "Growth":
        owner = leak.container or (leak.retained_by[0][0] if leak.retained_by else "")
        return cls(
            kind=leak.kind,
            owner=owner,
            object_type=leak.object_type,
            per_run=leak.growth_rate_per_hour,  # the check observes its runs an hour apart
            count=leak.current_count,
            holders=leak.retained_by,
            sites=leak.sites,
        )

    @property
    def line(self) -> str:
        """``file:line`` that allocated most of the newest objects, or "" when none was traced."""
        return f"{self.sites[0].file}:{self.sites[0].line}" if self.sites else ""

    def describe(self) -> str:
        unit = "entries" if self.kind == "container" else "objects"
        if self.kind == "container":
            head = f"container {self.owner} ({self.object_type})"
        else:
            head = f"type {self.object_type}"
        parts = [f"{head}: {self.per_run:+.1f} {unit} per run, {self.count} now"]
        if self.kind == "type":
            held = ", ".join(f"{holder} ({share:.0%})" for holder, share in self.holders)
            parts.append(f"held by {held}" if held else "holder not found")
        parts.append(f"allocated at {self.line}" if self.line else "allocation line not traced")
        return "; ".join(parts)


class LeaksFound(AssertionError):
    """A check found growth; ``growths`` says what, and the message names each."""

    def __init__(self, growths: Sequence[Growth], options: CheckOptions) -> None:
        self.growths = tuple(growths)
        count = len(self.growths)
        lines = [
            f"{count} leak{'' if count == 1 else 's'}: grew in every quarter of {options.iterations} runs "
            f"(after {options.warmup} warm-up runs)"
        ]
        lines += [f"  {growth.describe()}" for growth in self.growths]
        super().__init__("\n".join(lines))
