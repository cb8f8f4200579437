"""Caps on what leaves the process: every label value, attribute value and log body is bounded.

Type names (a class's ``__qualname__`` is any string), owner paths (a module attribute's name is
any string) and site file names come from the host and have no length of their own. Each becomes,
at most, ``MAX_VALUE`` characters of valid UTF-8 (so at most 1 KiB): a longer text keeps its first
characters, then ``…#`` and 8 hex digits of a BLAKE2b digest of the whole text, so that two long
texts with one beginning still make two series. The digest is unkeyed, hence stable across
restarts: it only stands for text that is either code (names) or already digested by the core
(dict keys, core/diagnosis/keys.py). A list attribute keeps at most ``MAX_ITEMS`` items.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..core.sampling.census import safe_text

__all__ = ["MAX_BODY", "MAX_ITEMS", "MAX_VALUE", "bounded", "bounded_items", "with_tail"]

MAX_VALUE = 256  # characters of a metric label value or a log / span event attribute value
MAX_BODY = 1024  # characters of a log record's body
MAX_ITEMS = 32  # items of a list attribute (sites, holders, traceback frames)
MARK = "\u2026#"  # "…#", then the digest


def bounded(text: str, limit: int = MAX_VALUE) -> str:
    """``text`` as valid UTF-8 of at most ``limit`` characters; a cut text ends ``…#<8 hex>``."""
    if len(text) <= limit:
        safe = safe_text(text)  # lone surrogates become escapes, which may lengthen it
        if len(safe) <= limit:
            return safe
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return safe_text(text[:limit])[: limit - len(MARK) - len(digest)] + MARK + digest


def with_tail(text: str, tail: str) -> str:
    """``text`` then ``tail`` (``:42``, `` (75%)``) in ``MAX_VALUE`` characters, ``text`` cut first."""
    if len(tail) > MAX_VALUE // 4:  # not a short tail of our own
        return bounded(text + tail)
    return bounded(text, MAX_VALUE - len(tail)) + tail


def bounded_items(texts: Sequence[str], newest_last: bool = False) -> list[str]:
    """At most ``MAX_ITEMS`` bounded texts: the first ones, or with ``newest_last`` the last ones
    (a traceback's frames nearest the allocation); the item given up for it says how many were left."""
    if len(texts) <= MAX_ITEMS:
        return [bounded(text) for text in texts]
    left = len(texts) - MAX_ITEMS + 1
    if newest_last:
        return [f"\u2026 {left} older"] + [bounded(text) for text in texts[-(MAX_ITEMS - 1) :]]
    return [bounded(text) for text in texts[: MAX_ITEMS - 1]] + [f"\u2026 {left} more"]
