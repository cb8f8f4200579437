"""Argument checks whose ``ValueError`` names the argument and the value it was given."""

from __future__ import annotations

import math
from typing import Optional

_SHOWN_CHARACTERS = 80


def shown(value: object) -> str:
    """The value's repr, cut short: a message must neither carry nor choke on a huge value (the repr
    of an integer of more than 4300 digits raises)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 3] + "..."


def require_int(name: str, value: object, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {shown(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {shown(value)}")
    return value


def require_number(
    name: str,
    value: object,
    minimum: float,
    maximum: Optional[float] = None,
    inclusive_minimum: bool = True,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond every float: out of every range
        number = math.inf
    if math.isnan(number):
        raise ValueError(f"{name} must be a number, got {shown(value)}")
    below = number < minimum if inclusive_minimum else number <= minimum
    if below or (maximum is not None and number > maximum) or math.isinf(number):
        lower = f">= {minimum}" if inclusive_minimum else f"> {minimum}"
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be a finite number {lower}{upper}, got {shown(value)}")
    return number


def require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {shown(value)}")
    return value
