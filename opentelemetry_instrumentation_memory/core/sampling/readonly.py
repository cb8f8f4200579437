"""The read-only heap contract: how the profiler reads the host's objects without running their code.

Every walker (census, container watch, owner and holder search, sizing, site lookups) reads host
objects through this module and nothing else. What it does:

- a type by ``type(obj)``; kinds by ``issubclass(type(obj), builtin_types)`` (the built-in types'
  own check, no ``__subclasscheck__`` and no ``__class__`` of the object's);
- references by ``gc.get_referents`` and identities by ``id`` (``gathered_referents``: never of
  ``_asyncio`` where that hands out freed objects);
- containers' lengths, sizes and items by their built-in base's own C methods (``dict.items``,
  ``list.__len__``), never a subclass's;
- an instance's attributes only through the ``__dict__`` slot CPython made for its class (a
  getset descriptor of a class made by a ``class`` statement) or a module's own dict; a ``__dict__``
  property, a proxy type's ``__dict__`` or a ``__getattribute__`` of the host's is never called;
- dict entries by iterating the built-in dict and comparing keys as exact ``str``/``int`` copies
  (``diagnosis.keys``), never by ``dict.get``, which could ask a host key's ``__eq__``;
- a key as text only when it is a ``str``/``int``/``bytes`` (or subclass, copied by the built-in's
  own method), and as a digest unless literal keys are asked for.

What it never does: ``isinstance``, ``hasattr``, ``getattr`` or ``str``/``format``/``repr`` of a
host object, hashing a host object (types included: a metaclass may define ``__hash__``), calling a
host object's method. Memory it allocates may start a collection, which runs ``__del__`` methods
and weak reference callbacks on the calling thread: CPython allows no walk in Python without that.
"""

from __future__ import annotations

import collections
import functools
import gc
import sys
import types
import weakref
from itertools import chain, compress, islice, repeat
from operator import is_
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar, cast

__all__ = [
    "class_namespace",
    "dict_items",
    "gathered_referents",
    "inherited",
    "instance_dict",
    "ITERABLE_TYPES",
    "large_items",
    "own_size",
    "referents",
    "read_attribute",
    "string_copy",
    "type_flags",
]

_TYPE_DICT: Any = type.__dict__["__dict__"]
_TYPE_MRO = type.__dict__["__mro__"]
_TYPE_FLAGS = type.__dict__["__flags__"]
_MODULE_DICT: Any = vars(types.ModuleType)["__dict__"]
_OBJCLASS: Any = types.GetSetDescriptorType.__dict__["__objclass__"]
_GETSET_GET = types.GetSetDescriptorType.__get__
_METHOD_NAME: Any = vars(types.MethodDescriptorType)["__name__"]
_GETSET_DOC: Any = vars(types.GetSetDescriptorType)["__doc__"]
_SLOT_DOC = "dictionary for instance variables"  # typeobject.c's subtype_getsets, 3.10 to 3.13
_HEAPTYPE = 1 << 9
# Static types whose ``__dict__`` getter is the generic one (no code of the host's runs).
_GENERIC_DICT_TYPES = (functools._lru_cache_wrapper, types.FunctionType)  # type: ignore[attr-defined]


def string_copy(value: object) -> Optional[str]:
    """An exact ``str`` copy of a ``str`` or subclass (by ``str``'s own method), else None."""
    return str.__str__(value) if issubclass(type(value), str) else None  # type: ignore[arg-type]


def type_flags(kind: type) -> int:
    """The type's flags, by ``type``'s own getter (a metaclass's ``__getattribute__`` never runs)."""
    return int(_TYPE_FLAGS.__get__(kind))


def _is_heap_type(kind: type) -> bool:
    return bool(type_flags(kind) & _HEAPTYPE)


def class_namespace(kind: object) -> Optional[types.MappingProxyType]:
    """A class's own attributes, by ``type``'s own getter (a metaclass cannot override it)."""
    return _TYPE_DICT.__get__(kind) if issubclass(type(kind), type) else None


def _own_entries(namespace: Optional[types.MappingProxyType]) -> Iterator[Tuple[object, object]]:
    if namespace is not None:
        yield from types.MappingProxyType.items(namespace)  # a class's namespace is a dict


_T = TypeVar("_T")


class _PerType:
    """What was found about a type, by ``id(type)``, kept while the type lives (types are never
    hashed: a metaclass may define ``__hash__``)."""

    def __init__(self, find: Callable[[type], _T]) -> None:
        self._find = find
        self._found: Dict[int, Tuple["weakref.ref[type]", Any]] = {}

    def __call__(self, kind: type) -> Any:
        key = id(kind)
        cached = self._found.get(key)
        if cached is not None and cached[0]() is kind:
            return cached[1]
        found = self._find(kind)
        try:
            self._found[key] = (weakref.ref(kind, self._forget(key)), found)
        except TypeError:
            pass
        return found

    def _forget(self, key: int) -> Callable[["weakref.ref[type]"], None]:
        def forget(reference: "weakref.ref[type]") -> None:
            entry = self._found.get(key)
            if entry is not None and entry[0] is reference:  # not a newer type given the same id
                del self._found[key]

        return forget


def inherited(kind: type, wanted: str) -> Iterator[object]:
    """The entries named ``wanted`` in the namespaces of ``kind``'s bases, nearest first."""
    for base in _TYPE_MRO.__get__(kind):
        for name, value in _own_entries(class_namespace(base)):
            if type(name) is str and name == wanted:
                yield value
                break


def _made_by_class_statement(slot: object) -> bool:
    """A getter a ``class`` statement made: its class is a heap type and the getter has CPython's
    own doc (an extension's heap type, a wrapt proxy's, has a getter of its own that forwards)."""
    doc = _GETSET_DOC.__get__(slot)
    return _is_heap_type(_OBJCLASS.__get__(slot)) and type(doc) is str and doc.startswith(_SLOT_DOC)


def _find_dict_slot(kind: type) -> Optional[object]:
    """The ``__dict__`` getter CPython made for ``kind`` or a base (skipping a property or a
    proxy's getter that shadows it), or None."""
    for value in inherited(kind, "__dict__"):
        if type(value) is types.GetSetDescriptorType:
            owner = _OBJCLASS.__get__(value)
            if _made_by_class_statement(value) or any(owner is generic for generic in _GENERIC_DICT_TYPES):
                return value
    return None


_dict_slot = _PerType(_find_dict_slot)


def instance_dict(obj: object) -> Optional[dict]:
    """A module's globals, or an instance's own attribute dict, or None: never a class's (see
    ``class_namespace``) and never through the host's code."""
    kind = type(obj)
    try:
        if issubclass(kind, types.ModuleType):
            namespace = _MODULE_DICT.__get__(obj)
        elif issubclass(kind, type):
            return None
        else:
            slot = _dict_slot(kind)
            namespace = None if slot is None else _GETSET_GET(slot, obj, kind)
    except Exception:  # a slot that does not apply (an odd layout): unreadable, not an error
        return None
    return namespace if type(namespace) is dict else None


def dict_items(mapping: object, limit: Optional[int] = None) -> List[Tuple[Any, Any]]:
    """A copy of a dict's (or subclass's, or a class namespace's) items by the built-in methods;
    empty when another thread resizes it meanwhile: the next walk reads it again."""
    kind = type(mapping)
    try:
        items: Iterable[Tuple[Any, Any]]
        if issubclass(kind, dict):
            items = dict.items(cast(dict, mapping))
        elif kind is types.MappingProxyType:
            items = types.MappingProxyType.items(cast(types.MappingProxyType, mapping))
        else:
            return []
        if limit is None:
            return list(items)
        return [item for item, _ in zip(items, range(limit))]
    except RuntimeError:
        return []


def read_attribute(obj: object, name: str) -> Optional[object]:
    """``obj``'s own attribute ``name``: an instance's or module's (its dict), a class's (its own
    namespace, not its bases'); None when absent or unreadable."""
    namespace: object = class_namespace(obj) if issubclass(type(obj), type) else instance_dict(obj)
    for key, value in dict_items(namespace):
        if type(key) is str and key == name:
            return cast(object, value)
    return None


def _find_sizeof(kind: type) -> Any:
    """The nearest built-in ``__sizeof__`` in ``kind``'s bases: one defined in Python is skipped,
    and so is any other built-in method put there under that name (``__sizeof__ =
    object.__dir__`` would read the object's attributes)."""
    for value in inherited(kind, "__sizeof__"):
        if type(value) is types.MethodDescriptorType and _METHOD_NAME.__get__(value) == "__sizeof__":
            return value
    return object.__sizeof__


_sizeof = _PerType(_find_sizeof)
_HAVE_GC = 1 << 14
_MANAGED = (1 << 3 | 1 << 4) if sys.version_info >= (3, 11) else 0  # a managed dict or weakref
_GC_HEADER = sys.getsizeof([]) - [].__sizeof__()
_POINTER = 8 if sys.maxsize > 2**32 else 4


_INLINE_CDATA = 16  # a ctypes object's data up to this size lives inside it (``b_value``)


_BUILTIN_NAME: Any = vars(types.BuiltinFunctionType)["__name__"]
_BUILTIN_SELF: Any = vars(types.BuiltinFunctionType)["__self__"]
CTypesParts = Tuple[type, Callable[[object], object], Any]  # _CData, sizeof, _b_needsfree_


def _own_entry(mapping: object, name: str) -> Optional[object]:
    """The value under the exact ``str`` key ``name``, read entry by entry: a lookup by hash would
    ask a host key whose hash collides with ``name`` its ``__eq__``."""
    for key, value in dict_items(mapping):
        if type(key) is str and key == name:
            return cast(object, value)
    return None


def _read_ctypes() -> Optional[CTypesParts]:
    """ctypes' ``_CData`` base, its C ``sizeof`` and the base's ``_b_needsfree_`` member, from the
    ``_ctypes`` module in ``sys.modules``; None before it is imported, or when what is there under
    those names is not ctypes' own (a module or a ``sizeof`` the host put in their place)."""
    module = _own_entry(sys.modules, "_ctypes")
    if type(module) is not types.ModuleType:
        return None
    simple, sizeof = read_attribute(module, "_SimpleCData"), read_attribute(module, "sizeof")
    if not issubclass(type(simple), type) or type(sizeof) is not types.BuiltinFunctionType:
        return None
    if _BUILTIN_NAME.__get__(sizeof) != "sizeof" or _BUILTIN_SELF.__get__(sizeof) is not module:
        return None
    bases = _TYPE_MRO.__get__(simple)
    cdata = bases[1] if len(bases) > 1 else None
    owns = _own_entry(class_namespace(cdata), "_b_needsfree_")
    if cdata is None or type(owns) is not types.MemberDescriptorType:
        return None
    return cdata, cast(Callable[[object], object], sizeof), owns


class _CTypes:
    """``_read_ctypes()``, read again only when ``sys.modules`` changed size while it was None, and
    kept once found."""

    def __init__(self) -> None:
        self._modules = -1
        self._found: Optional[CTypesParts] = None

    def __call__(self) -> Optional[CTypesParts]:
        if self._found is None and dict.__len__(sys.modules) != self._modules:
            self._modules = dict.__len__(sys.modules)
            self._found = _read_ctypes()
        return self._found


_ctypes_parts = _CTypes()


def _find_buffer_size(kind: type) -> Optional[Callable[[object], int]]:
    """For a ctypes type, what reads the size of an instance's own data buffer: ``__sizeof__``
    counts only the object (a 64 KiB array reads 136 bytes). ctypes' C ``sizeof`` and the base's
    ``_b_needsfree_`` member run no code of the host's, and ``_CData`` is found among ``kind``'s
    bases by identity (no ``__subclasscheck__``). None for every other type (and before ctypes is
    imported, when no ctypes type exists)."""
    parts = _ctypes_parts()
    if parts is None:
        return None
    cdata, sizeof, owns = parts
    if not any(base is cdata for base in _TYPE_MRO.__get__(kind)):
        return None

    def buffer_size(obj: object) -> int:
        size = int(cast(int, sizeof(obj)))
        return size if owns.__get__(obj) and size > _INLINE_CDATA else 0

    return buffer_size


_buffer_size = _PerType(_find_buffer_size)


def own_size(obj: object) -> int:
    """``sys.getsizeof`` without any ``__sizeof__`` of the host's: the built-in base's own, with
    the data buffer a ctypes object allocated beside itself."""
    kind = type(obj)
    try:
        size = int(_sizeof(kind)(obj))
        buffer_size = _buffer_size(kind)
        if buffer_size is not None:
            size += buffer_size(obj)
    except Exception:
        size = object.__sizeof__(obj)
    flags = type_flags(kind)
    return size + (_GC_HEADER if flags & _HAVE_GC else 0) + (2 * _POINTER if flags & _MANAGED else 0)


# Built-in collections whose items can be read a few at a time by their own iterators.
ITERABLE_TYPES = (list, tuple, dict, set, frozenset, collections.deque)
_ITERABLE: Dict[int, Any] = {id(kind): kind for kind in ITERABLE_TYPES}
_NEWEST_FIRST: Dict[int, Callable[[Any], Iterator[object]]] = {
    id(dict): lambda mapping: chain.from_iterable(reversed(dict.items(mapping))),
    id(list): list.__reversed__,
    id(collections.deque): collections.deque.__reversed__,
    id(tuple): reversed,  # by index: a tuple has no methods to override it with
    id(set): set.__iter__,
    id(frozenset): frozenset.__iter__,
}
LARGE = 100_000  # items from which a collection's referents are never copied whole


def large_items(container: object, limit: int) -> Optional[Iterator[object]]:
    """Up to ``limit`` of a large built-in collection's references, newest first where it has an
    order (a leak appends), by the collection's own iterator: never a copy of all of them
    (``gc.get_referents`` of a 40-million-item list costs 320 MB); None for anything else. An
    iterator may stop early with ``RuntimeError`` when another thread resizes the collection."""
    kind = _ITERABLE.get(id(type(container)))
    if kind is None or kind.__len__(container) <= LARGE:
        return None
    return islice(_NEWEST_FIRST[id(kind)](container), limit)


# CPython 3.12.0 to 3.12.5 (and 3.13's pre-releases before rc2): the _asyncio module's traversal visits
# its freelist of freed Future iterators, so ``gc.get_referents`` of the module hands them out; when
# the list is dropped each is freed again and the freelist becomes a cycle, around which the next
# garbage collection (or the next such call) loops forever (python/cpython#122695).
_ASYNCIO_FREELIST_TRAVERSED = sys.implementation.name == "cpython" and (
    (3, 12) <= sys.version_info < (3, 12, 6) or (3, 13) <= sys.version_info < (3, 13, 0, "candidate", 2)
)


def _is_asyncio_module(module: object) -> bool:
    """An instance of the _asyncio extension module: the first entry of a module's dict is its
    ``__name__`` (read by value, no lookup)."""
    first = dict_items(instance_dict(module), 1)
    if not first:
        return False
    ((name, value),) = first
    return type(name) is str and name == "__name__" and type(value) is str and value == "_asyncio"


def gathered_referents(objects: Sequence[object]) -> List[object]:
    """``gc.get_referents(*objects)``, except that on an interpreter whose _asyncio module hands out
    freed objects that way, such a module stands for its dict alone (its globals, not its state)."""
    if _ASYNCIO_FREELIST_TRAVERSED:
        modules = list(compress(objects, map(is_, map(type, objects), repeat(types.ModuleType))))
        unsafe = [module for module in modules if _is_asyncio_module(module)]
        modules.clear()
        if unsafe:
            skipped = set(map(id, unsafe))
            found = gc.get_referents(*[obj for obj in objects if id(obj) not in skipped])
            found.extend(namespace for namespace in map(instance_dict, unsafe) if namespace is not None)
            unsafe.clear()
            return found
    return gc.get_referents(*objects)


def referents(obj: object, limit: int) -> Tuple[List[object], int]:
    """Up to ``limit`` of what ``obj`` refers to, and how many it refers to in all."""
    items = large_items(obj, limit)
    if items is None:
        found = gathered_referents([obj])
        return found, len(found)
    total = _ITERABLE[id(type(obj))].__len__(obj) * (2 if type(obj) is dict else 1)
    try:
        return list(items), total
    except RuntimeError:
        return [], total
