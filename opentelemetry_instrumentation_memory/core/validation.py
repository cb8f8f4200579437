"""Argument checks whose ``ValueError`` names the argument and the value it was given."""

from __future__ import annotations

import ipaddress
import math
import re
import signal
from typing import Optional

_SHOWN_CHARACTERS = 80
_DNS_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
# IPv4 in the C library's legacy notations: the resolver reads '0', '0x0' and '0.0' as 0.0.0.0 (every
# interface), '127.1' as 127.0.0.1, '010.0.0.1' as 8.0.0.1. Neither an address (ipaddress refuses
# them) nor a host name (no top-level label is all digits): refused, so the bound address is the one
# written.
_LEGACY_IPV4_PART = r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)"
_LEGACY_IPV4 = re.compile(rf"{_LEGACY_IPV4_PART}(?:\.{_LEGACY_IPV4_PART}){{0,3}}\.?", re.ASCII)
# Numbers from the environment: ASCII digits in plain decimal notation, nothing else. ``int()`` and
# ``float()`` also take other scripts' digits ('١٠' is 10), underscores, 'nan', 'inf' and 'infinity'.
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
# Signals that may reset the baseline: ones whose default action only ends the process and that
# programs do not rely on for anything else. SIGTERM would no longer end the process, and a handler
# on SIGSEGV, SIGBUS, SIGFPE or SIGILL returns to the faulting instruction: a crash becomes a spin.
RESET_SIGNAL_NAMES = ("SIGUSR1", "SIGUSR2", "SIGHUP")


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


def parse_ascii_int(text: str) -> int:
    """An integer written in ASCII digits (an optional sign, no underscores); ``ValueError`` otherwise."""
    if not _ASCII_INTEGER.fullmatch(text):
        raise ValueError(f"not an integer in ASCII digits: {shown(text)}")
    return int(text)


def parse_ascii_float(text: str) -> float:
    """A decimal number written in ASCII digits (``60``, ``0.5``, ``1e-3``); never ``nan``, ``inf``,
    underscores or another script's digits. ``ValueError`` otherwise."""
    if not _ASCII_DECIMAL.fullmatch(text):
        raise ValueError(f"not a decimal number in ASCII digits: {shown(text)}")
    return float(text)


def require_reset_signal(name: str, value: object) -> signal.Signals:
    """One of SIGUSR1, SIGUSR2 or SIGHUP, given as a ``signal.Signals``, a number or a name with or
    without ``SIG`` in any case (``"usr2"``); ``ValueError`` naming the argument otherwise, and
    where the platform has no such signal."""
    wanted: Optional[str] = None
    if isinstance(value, signal.Signals):
        wanted = value.name
    elif isinstance(value, int) and not isinstance(value, bool):
        wanted = next((n for n in RESET_SIGNAL_NAMES if getattr(signal, n, None) == value), None)
    elif isinstance(value, str) and value.isascii():
        upper = value.strip().upper()
        wanted = upper if upper.startswith("SIG") else "SIG" + upper
    signum = getattr(signal, wanted, None) if wanted is not None and wanted in RESET_SIGNAL_NAMES else None
    if not isinstance(signum, signal.Signals):  # not one of the three, or not on this platform
        raise ValueError(f"{name} must be one of {', '.join(RESET_SIGNAL_NAMES)}, got {shown(value)}")
    return signum


def require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {shown(value)}")
    return value


def require_host(name: str, value: object) -> str:
    """An address to bind: an IP address, or a host name of DNS labels (IDNA allowed) whose last label
    is not all digits; never an IPv4 address in a legacy notation (``0``, ``0x0``, ``0.0``, ``127.1``),
    which binds an address other than the one it seems to name.

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
    labels = (name[:-1] if name.endswith(".") else name).split(".")
    if _LEGACY_IPV4.fullmatch(name) or labels[-1].isdigit():
        return False
    return len(name) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in labels)
