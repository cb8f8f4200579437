"""Argument checks whose ``ValueError`` names the argument and the value it was given."""

from __future__ import annotations

import math
from typing import Optional


def require_int(name: str, value: object, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value!r}")
    return value


def require_number(
    name: str,
    value: object,
    minimum: float,
    maximum: Optional[float] = None,
    inclusive_minimum: bool = True,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    below = value < minimum if inclusive_minimum else value <= minimum
    if below or (maximum is not None and value > maximum) or math.isinf(value):
        lower = f">= {minimum}" if inclusive_minimum else f"> {minimum}"
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be a finite number {lower}{upper}, got {value!r}")
    return float(value)


def require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value
