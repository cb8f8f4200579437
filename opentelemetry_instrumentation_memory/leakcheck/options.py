"""What a leak check runs and looks for, checked once: a misuse fails before the body ever runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Tuple

from ..core.validation import require_int, shown

__all__ = ["KINDS", "CheckOptions"]

KINDS = ("type", "container")  # the census's object types, and containers by owner path
_MIN_GROWTH = 8
MIN_ITERATIONS = 16  # fewer runs cannot tell a leak of one object per run from noise


@dataclass(frozen=True)
class CheckOptions:
    """``iterations`` measured runs after ``warmup`` runs that are not measured (imports, caches
    and pools fill in them); ``kinds`` of growth that fail the check."""

    iterations: int = 16
    warmup: int = 4
    kinds: Tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        require_int("iterations", self.iterations, MIN_ITERATIONS, 10_000)
        require_int("warmup", self.warmup, 0, 10_000)
        kinds = self.kinds
        if isinstance(kinds, str) or not isinstance(kinds, Iterable):
            raise ValueError(f"kinds must be a sequence of {', '.join(KINDS)}, got {shown(kinds)}")
        kinds = tuple(kinds)
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty sequence of {', '.join(KINDS)}, got {shown(kinds)}")
        object.__setattr__(self, "kinds", kinds)

    @property
    def min_growth(self) -> int:
        """Growth over the measured runs that counts, at least: more runs find slower leaks (16
        find one object per run, 32 one per three runs, 64 one per five)."""
        return _MIN_GROWTH
