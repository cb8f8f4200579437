"""Argument checks whose ``ValueError`` names the argument and the value it was given."""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Optional

ECHO_LIMIT = 64
_DNS_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def excerpt(text: str, limit: int = ECHO_LIMIT) -> str:
    """``repr(text)`` cut to its first ``limit`` characters: a 1 MB value is not a 1 MB log line."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


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


def require_host(name: str, value: object) -> str:
    """An address to bind: an IP address, or a host name of DNS labels (IDNA allowed).

    Checked before any socket call, which would raise ``TypeError`` (a NUL) or ``UnicodeError``
    (an empty label) rather than ``OSError``.
    """
    if not isinstance(value, str) or not _is_host(value):
        shown = excerpt(value) if isinstance(value, str) else repr(value)
        raise ValueError(f"{name} must be an IP address or a host name, got {shown}")
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
