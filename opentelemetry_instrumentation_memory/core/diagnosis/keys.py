"""Dict keys in owner paths: named by their type and a digest, never by their text.

Owner paths become metric label values and log attributes, so a key's text would leave the process:
session tokens, e-mail addresses. By default a ``str``/``int``/``bytes`` key is written
``<str #3f2a9c>``: its type and 24 bits of a keyed hash whose key is drawn once per process tree
(forked workers share it, so their paths agree; no one outside can test a guess against it). Enum
members are code, not data: ``Priority.HIGH``. ``literal=True`` (the ``leak_owner_literal_keys``
setting) writes short keys as they are.
"""

from __future__ import annotations

import enum
import hashlib
import os
from typing import Optional, Tuple, Union, cast

from ..sampling.census import qualified_name, safe_text, type_name
from ..sampling.readonly import instance_dict, string_copy

__all__ = ["DictKey", "attribute_label", "key_label", "match_key"]

_SALT = os.urandom(16)
_LITERAL_CHARS = 64  # a literal key longer than this is cut, and marked so
_DIGESTED_CHARS = 1 << 19  # a key over twice this is digested on its start, its end and its length
_TYPE_MRO = type.__dict__["__mro__"]

# How a dict key is found again without keeping it: ("str", text) for a short str, ("int", value),
# ("digest", type name, digest) for anything longer.
DictKey = Tuple[Union[str, int], ...]


def _digest(data: bytes) -> str:
    length = len(data).to_bytes(8, "little")
    if len(data) > 2 * _DIGESTED_CHARS:  # a 20 MB key is not hashed whole at every census
        data = data[:_DIGESTED_CHARS] + data[-_DIGESTED_CHARS:]
    return hashlib.blake2b(data + length, digest_size=3, key=_SALT).hexdigest()


def _value(key: object) -> Optional[Union[str, int, bytes]]:
    """A copy of a ``str``/``int``/``bytes`` key (or subclass), made by the built-in's own method."""
    kind = type(key)
    if issubclass(kind, str):
        return string_copy(key)
    if issubclass(kind, bool):
        return None
    if issubclass(kind, int):
        return int.__index__(key)  # type: ignore[arg-type]
    if issubclass(kind, bytes):
        return bytes.__getitem__(cast(bytes, key), slice(None))
    return None


def _as_bytes(value: Union[str, int, bytes]) -> bytes:
    if isinstance(value, str):  # our own copies (exact types): no host code
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, int):
        return value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return value


def match_key(key: object) -> Optional[DictKey]:
    """How to find ``key`` again by value (no ``__eq__`` of the key's runs), or None for a key that
    is not a ``str``/``int``/``bytes``."""
    value = _value(key)
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= _LITERAL_CHARS:
        return ("str", value)
    if isinstance(value, int) and value.bit_length() <= 64:
        return ("int", value)
    return ("digest", type_name(type(key)), _digest(_as_bytes(value)))


def _enum_member(key: object) -> Optional[str]:
    """``Priority.HIGH`` for an enum member: a name from the code."""
    kind = type(key)
    if not any(base is enum.Enum for base in _TYPE_MRO.__get__(kind)):
        return None
    namespace = instance_dict(key)
    name = None
    if namespace is not None:
        for attribute, value in dict.items(namespace):
            if type(attribute) is str and attribute == "_name_":
                name = string_copy(value)
                break
    return f"{qualified_name(kind)}.{safe_text(name)}" if name is not None else None


def attribute_label(name: str, literal: bool = False) -> str:
    """An attribute or global name as an owner path writes it: names in code are identifiers; one
    that is not (``setattr(ns, "alice@example.com", ...)``, ``Namespace(**data)``) or is very long
    is data, written ``<attribute #3f2a9c>`` unless ``literal``."""
    if literal or (len(name) <= _LITERAL_CHARS and str.isidentifier(name)):
        return safe_text(name)
    return f"<attribute #{_digest(_as_bytes(name))}>"


def key_label(key: object, literal: bool = False) -> str:
    """The key as an owner path writes it between brackets."""
    member = _enum_member(key)
    if member is not None:
        return member
    value = _value(key)
    kind = type_name(type(key))
    if value is None:
        return f"<{kind}>"
    if literal and not isinstance(value, bytes):
        text = value if isinstance(value, str) else str(value) if value.bit_length() <= 64 else None
        if text is not None:
            cut = text[:_LITERAL_CHARS]
            return repr(safe_text(cut)) + ("…" if len(text) > len(cut) else "")
    return f"<{kind} #{_digest(_as_bytes(value))}>"
