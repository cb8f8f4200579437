"""Counting gc-tracked objects by type at the speed of the C-level count.

``Counter(map(type, gc.get_objects()))`` does the per-object work in C; only the few hundred
distinct types are then named in Python. Atomic objects (str, int, float, bytes, ...) are not
tracked by the garbage collector and so never appear here: their growth shows in resident memory
and, when it is on, in tracemalloc.

Naming runs none of the host's code: the name is read through ``type``'s own C getters, which a
metaclass property cannot override, made valid UTF-8 and cached once per type object (never
interned: see ``_read_name``).
"""

from __future__ import annotations

import types
import weakref
from collections import Counter
from itertools import compress
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .pacing import Hold, listed_heap, paced_slices, unheld
from .readonly import class_namespace, dict_items, inherited, string_copy, type_flags

UNNAMED = "<unnamed type>"

# type's own descriptors: reading through them bypasses any metaclass override.
_QUALNAME = type.__dict__["__qualname__"]
_NAME = type.__dict__["__name__"]
_MODULE = type.__dict__["__module__"]
_HEAPTYPE = 1 << 9

# id(type) -> (weak reference to the type, its name); an entry leaves with its type.
_names: Dict[int, Tuple["weakref.ref[type]", str]] = {}
# name -> [the one copy every type of that name shares, how many live types have it]: what
# sys.intern gave, without keeping a name once its last type is gone.
_shared: Dict[str, List[Any]] = {}


def _share(name: str) -> str:
    entry = _shared.setdefault(name, [name, 0])
    entry[1] += 1
    return str(entry[0])


def _unshare(name: str) -> None:
    entry = _shared.get(name)
    if entry is not None:
        entry[1] -= 1
        if entry[1] <= 0:
            del _shared[name]


def _read(descriptor: Any, kind: type) -> Optional[str]:
    try:
        return string_copy(descriptor.__get__(kind))
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
    """The module a class says it was defined in, read without running its metaclass's code: a
    static type's from its C name, a class's from its own namespace, found by comparing exact
    ``str`` keys (``type.__module__`` looks it up in that dict, where a key the host put there with
    the same hash would be asked ``__eq__``)."""
    if not type_flags(kind) & _HEAPTYPE:
        return _read(_MODULE, kind)
    for key, value in dict_items(class_namespace(kind)):
        if type(key) is str and key == "__module__":
            return string_copy(value)
    return None


def qualified_name(kind: type) -> str:
    """The class's ``__qualname__`` (its ``__name__`` if that fails), read through ``type``'s own getters."""
    return safe_text(_read(_QUALNAME, kind) or _read(_NAME, kind) or UNNAMED)


def _read_name(kind: type) -> str:
    """Not interned: on 3.12 and later an interned string lives as long as the interpreter, and
    short-lived classes would each leave their name behind."""
    qualname = qualified_name(kind)
    module = defining_module(kind)
    return qualname if module is None or module == "builtins" else f"{safe_text(module)}.{qualname}"


def _forget(key: int) -> Any:
    def forget(reference: "weakref.ref[type]") -> None:
        entry = _names.get(key)
        if entry is not None and entry[0] is reference:  # not a newer type given the same id
            del _names[key]
            _unshare(entry[1])

    return forget


def type_name(kind: type) -> str:
    """``module.QualName``, bare for builtins; read once per type object, then cached."""
    key = id(kind)
    cached = _names.get(key)
    if cached is not None and cached[0]() is kind:
        return cached[1]
    name = _read_name(kind)
    try:
        reference = weakref.ref(kind, _forget(key))
    except TypeError:  # every type object supports weak references; should one not, it goes uncached
        return name
    if cached is not None:  # a dead type's entry whose callback has not run yet
        _unshare(cached[1])
    name = _share(name)
    _names[key] = (reference, name)
    return name


def objects_of(names: Iterable[str], limit: int, hold: Hold = unheld) -> Dict[str, List[object]]:
    """Up to ``limit`` live objects of each named type, in lists given to ``hold``
    (``pacing.holding``), the most recently promoted to the oldest generation first: the collector
    lists each generation oldest first, and a leak's objects are the ones that survived lately (the
    oldest first would be the program's standing ones, held elsewhere). The heap is filtered at C
    speed, by the identity of the types already named by a census: no Python code runs per object,
    and no metaclass ``__hash__``."""
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
        _count_types()
        type_ids = named()
    found: Dict[str, List[object]] = {name: hold([]) for name in wanted}
    if not type_ids:
        return found
    open_names = len(wanted)
    with listed_heap() as (objects, listing):
        objects.reverse()
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


def named_types() -> int:
    """How many types have been named (and live): the profiler's bookkeeping grows with it."""
    return len(_names)


def _live_name(key: int) -> Optional[str]:
    """The cached name of the live type whose id is ``key``."""
    cached = _names.get(key)
    return cached[1] if cached is not None and cached[0]() is not None else None


_DEFAULT_HASH = object.__dict__["__hash__"]
_MAX_METACLASSES = 10_000
# Library metaclasses whose ``__hash__`` is ``type.__hash__(cls)``: typing_extensions, which
# OpenTelemetry imports, defines one, and the quick count would otherwise never apply.
_PLAIN_HASHES = {"typing_extensions._ProtocolMeta", "typing._ProtocolMeta"}
_FUNCTION_QUALNAME = types.FunctionType.__dict__["__qualname__"]
_FUNCTION_MODULE = types.FunctionType.__dict__["__module__"]


def _hashes_as_type(meta: type) -> bool:
    found = next(inherited(meta, "__hash__"), None)
    if found is _DEFAULT_HASH:
        return True
    if type(found) is not types.FunctionType or type_name(meta) not in _PLAIN_HASHES:
        return False
    name = f"{_FUNCTION_MODULE.__get__(found)}.{_FUNCTION_QUALNAME.__get__(found)}"
    return name == f"{type_name(meta)}.__hash__"


def _types_hash_in_c() -> bool:
    """Whether hashing any class runs no Python code: no metaclass defines ``__hash__`` (or sets it
    to None, with ``__eq__`` alone). Read from ``type``'s own subclass lists, not from instances."""
    pending: List[type] = [type]
    seen = 0
    while pending:
        meta = pending.pop()
        seen += 1
        if seen > _MAX_METACLASSES or not _hashes_as_type(meta):
            return False
        pending.extend(type.__subclasses__(meta))  # type: ignore[call-arg]
    return True


def _count_by_identity(objects: List[object], listing: float, holds: List[float]) -> Counter[int]:
    """Objects by ``id`` of their type. Types are hashed (about 1.7x quicker than counting ids) only
    while no metaclass defines ``__hash__``, asked before each slice: the host may give one a
    ``__hash__`` while the census hands the GIL over. Every type counted by type is named."""
    by_type: Counter[type] = Counter()
    by_identity: Counter[int] = Counter()
    hashing = True
    for run in paced_slices(objects, listing, holds):
        if hashing and not _types_hash_in_c():
            hashing = False
        if hashing:
            by_type.update(map(type, run))
        else:
            by_identity.update(map(id, map(type, run)))
    for kind, count in by_type.items():  # iterating hashes nothing
        type_name(kind)
        by_identity[id(kind)] += count
    return by_identity


def _count_types(holds: Optional[List[float]] = None) -> Dict[str, int]:
    """Objects by type name, counted in slices by type, or by the identity of their types where a
    metaclass defines ``__hash__`` (it would run on the profiler's thread); types not named yet are
    named in a second pass over the same listing, filtered at C speed. ``holds`` receives how long
    each C call held the GIL."""
    holds = [] if holds is None else holds
    tuples: List[int] = []
    with listed_heap(tuples) as (objects, listing):
        holds.append(listing)
        by_identity = _count_by_identity(objects, listing, holds)
        unnamed = {key for key in by_identity if _live_name(key) is None}
        if unnamed:
            for run in paced_slices(objects, listing, holds):
                kinds = list(map(type, run))
                for kind in compress(kinds, map(unnamed.__contains__, map(id, kinds))):
                    if id(kind) in unnamed:
                        unnamed.discard(id(kind))
                        type_name(kind)
                if not unnamed:
                    break
        counts: Dict[str, int] = {}
        for key, count in by_identity.items():
            name = _live_name(key) or UNNAMED
            counts[name] = counts.get(name, 0) + count
    if tuples[0]:  # counted as the heap was listed: the listing leaves them out
        counts[type_name(tuple)] = tuples[0]
    return counts


def count_objects_by_type(holds: Optional[List[float]] = None) -> Dict[str, int]:
    """Counts of every gc-tracked object by qualified type name (types sharing a name are summed);
    ``holds`` receives how long each C call of the count held the GIL."""
    return _count_types(holds)
