"""Argument checks whose ``ValueError`` names the argument and the value it was given."""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Optional

_SHOWN_CHARACTERS = 80
_DNS_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


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


def require_host(name: str, value: object) -> str:
    """An address to bind: an IP address, or a host name of DNS labels (IDNA allowed).

    Checked before any socket call, which would raise ``TypeError`` (a NUL) or ``UnicodeError``
    (an empty label) rather than ``OSError``.
    """
    if not isinstance(value, str) or not _is_host(value):
        raise ValueError(f"{name} must be an IP address or a host name, got {shown(value)}")
    return value


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    try:
        name = value.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = name[:-1] if name.endswith(".") else name
    return len(name) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in labels.split("."))
