"""Counting gc-tracked objects by type at the speed of the C-level count.

``Counter(map(type, gc.get_objects()))`` does the per-object work in C; only the few hundred
distinct types are then named in Python. Atomic objects (str, int, float, bytes, ...) are not
tracked by the garbage collector and so never appear here: their growth shows in resident memory
and, when it is on, in tracemalloc.

Naming runs none of the host's code: the name is read through ``type``'s own C getters, which a
metaclass property cannot override, made valid UTF-8, interned and cached once per type object.
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter
from itertools import compress
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .pacing import listed_heap, paced_slices

UNNAMED = "<unnamed type>"

# type's own descriptors: reading through them bypasses any metaclass override.
_QUALNAME = type.__dict__["__qualname__"]
_NAME = type.__dict__["__name__"]
_MODULE = type.__dict__["__module__"]

# id(type) -> (weak reference to the type, its name); an entry leaves with its type.
_names: Dict[int, Tuple["weakref.ref[type]", str]] = {}


def _text(value: object) -> Optional[str]:
    """An exact ``str`` copy of a ``str`` (or subclass) without calling its methods, else None."""
    return str.__str__(value) if issubclass(type(value), str) else None  # type: ignore[arg-type]


def _read(descriptor: Any, kind: type) -> Optional[str]:
    try:
        return _text(descriptor.__get__(kind))
    except Exception:  # a heap type whose __module__ was deleted, or anything stranger
        return None


def safe_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates become ``\\udcff`` escapes (exposition, OTLP, logs)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def defining_module(kind: type) -> Optional[str]:
    """The module a class says it was defined in, read without running its metaclass's code."""
    return _read(_MODULE, kind)


def _read_name(kind: type) -> str:
    qualname = _read(_QUALNAME, kind) or _read(_NAME, kind) or UNNAMED
    module = _read(_MODULE, kind)
    name = qualname if module is None or module == "builtins" else f"{module}.{qualname}"
    return sys.intern(safe_text(name))


def _forget(key: int) -> Any:
    def forget(reference: "weakref.ref[type]") -> None:
        entry = _names.get(key)
        if entry is not None and entry[0] is reference:  # not a newer type given the same id
            del _names[key]

    return forget


def type_name(kind: type) -> str:
    """``module.QualName``, bare for builtins; read once per type object, then cached."""
    key = id(kind)
    cached = _names.get(key)
    if cached is not None and cached[0]() is kind:
        return cached[1]
    name = _read_name(kind)
    try:
        _names[key] = (weakref.ref(kind, _forget(key)), name)
    except TypeError:  # every type object supports weak references; should one not, it goes uncached
        pass
    return name


def objects_of(names: Iterable[str], limit: int) -> Dict[str, List[object]]:
    """Up to ``limit`` live objects of each named type, youngest first (the collector lists its
    young generation first). The heap is filtered at C speed, by the identity of the types already
    named by a census: no Python code runs per object, and no metaclass ``__hash__``."""
    wanted = set(names)

    def named() -> set:
        for _ in range(3):
            try:  # a collection during the copy may run _forget, or let a thread name a new type
                entries = list(_names.items())
                break
            except RuntimeError:
                continue
        else:
            return set()
        return {key for key, (reference, name) in entries if name in wanted and reference()}

    type_ids = named()
    if len(type_ids) < len(wanted):  # a type no census has named yet: name every type once
        for kind, _ in _count_types():
            type_name(kind)
        type_ids = named()
    found: Dict[str, List[object]] = {name: [] for name in wanted}
    if not type_ids:
        return found
    open_names = len(wanted)
    with listed_heap() as (objects, listing):
        for run in paced_slices(objects, listing):
            part = list(run)
            for obj in compress(part, map(type_ids.__contains__, map(id, map(type, part)))):
                sample = found.get(type_name(type(obj)))  # None: a new type given a named one's id
                if sample is not None and len(sample) < limit:
                    sample.append(obj)
                    open_names -= len(sample) == limit
            if not open_names:
                break
    return found


def _count_types(holds: Optional[List[float]] = None) -> Iterable[Tuple[type, int]]:
    """Objects by type object, counted in slices; ``holds`` receives how long each C call held the
    GIL. Hashing a type can run its metaclass's ``__hash__``/``__eq__`` (a metaclass defining
    ``__eq__`` alone makes its classes unhashable): when that fails, the count is redone by identity,
    which runs no host code and costs about twice as much."""
    holds = [] if holds is None else holds
    with listed_heap() as (objects, listing):
        holds.append(listing)
        try:
            counts: Counter[type] = Counter()
            for run in paced_slices(objects, listing, holds):
                counts.update(map(type, run))
            return counts.items()
        except Exception:
            by_identity: Counter[int] = Counter()
            kind_of: Dict[int, type] = {}
            for run in paced_slices(objects, listing, holds):
                kinds = list(map(type, run))
                by_identity.update(map(id, kinds))
                kind_of.update(zip(map(id, kinds), kinds))
            return [(kind_of[key], count) for key, count in by_identity.items()]


def count_objects_by_type(holds: Optional[List[float]] = None) -> Dict[str, int]:
    """Counts of every gc-tracked object by qualified type name (types sharing a name are summed);
    ``holds`` receives how long each C call of the count held the GIL."""
    counts: Dict[str, int] = {}
    for kind, count in _count_types(holds):
        name = type_name(kind)
        counts[name] = counts.get(name, 0) + count
    return counts
