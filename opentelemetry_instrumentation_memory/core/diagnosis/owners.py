"""Who holds it? Owner paths as a person would write them, found by bounded searches.

``package.module.CACHE``, ``package.module.Service.history`` (a class attribute),
``package.module.SERVICE.history`` (an attribute of a module-level object), and
``<package.module.Handler instance>.seen`` when no module global reaches the holder; the dict of an
unbounded ``lru_cache`` by the function it caches, ``package.module.lookup (lru_cache)``
(``caches``), a thread-local's attribute by its name, ``package.module._local.items (thread-local)``
(``thread_locals``).

The roots are the globals of every loaded module and, two levels down, the attributes of the objects
and classes they name and the values of the dicts: bounded in items visited, and no reference
outlives a call. Everything is read through the built-in types' own methods, never the host's.
"""

from __future__ import annotations

import collections
import sys
import types
from array import array
from typing import Dict, Iterator, List, Optional, Set, Tuple, Union

from ..sampling.census import defining_module, safe_text, type_name
from ..sampling.pacing import Pacer
from ..sampling.readonly import class_namespace, dict_items, instance_dict, read_attribute
from .caches import CACHE_STEP, LRU_WRAPPER, cache_label, has_maxsize, unbounded_cache
from .keys import DictKey, attribute_label, key_label, match_key
from .thread_locals import THREAD_LOCAL, thread_local_attributes

__all__ = [
    "CONTAINER_TYPES",
    "Access",
    "Reach",
    "Roots",
    "attributes_of",
    "bounded",
    "find_roots",
    "length_of",
    "size_of",
]

# An element of a C lru_cache with a maxsize: bounded by that maxsize.
LRU_ELEMENT = "functools._lru_list_elem"
_DICT_VALUES = 1000  # values of a global dict looked at for containers
_LIBRARY_PREFIXES = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})

CONTAINER_TYPES = (dict, list, set, collections.deque, bytearray, array)
_SKIPPED_MODULES = ("opentelemetry_instrumentation_memory", "opentelemetry.", "_pytest", "pytest")
_OWN_PREFIX = "opentelemetry_instrumentation_memory."
_OPAQUE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType)
_DEQUE_MAXLEN = collections.deque.__dict__["maxlen"]


# (module name, global name[, attribute name or dict key ...]): how to reach an object again.
Access = Tuple[Union[str, DictKey], ...]


class Roots:
    """``id(object) -> owner path`` for module globals and their attributes, found in one walk.

    ``containers`` lists the containers among them: (path, how to reach it again), in walk order.
    """

    def __init__(self, literal_keys: bool = False) -> None:
        self.paths: Dict[int, str] = {}
        self.containers: List[Tuple[str, Access]] = []
        self.literal_keys = literal_keys
        self.container_paths: Set[str] = set()

    def add(self, path: str, value: object, access: Access) -> None:
        key = id(value)
        if key in self.paths:
            return
        self.paths[key] = path
        # A path listed once: a thread-local's attribute is one path in every thread (before, 2,000
        # threads' lists under one name took every one of the 2,000 watched containers' places).
        if (
            issubclass(type(value), CONTAINER_TYPES)
            and not bounded(value)
            and path not in self.container_paths
        ):
            self.container_paths.add(path)
            self.containers.append((path, access))


def _name_key(name: Union[str, DictKey]) -> DictKey:
    """A module or attribute name as the dict index keys it (a long name by its digest)."""
    found = match_key(name)
    assert found is not None  # names in an access path are str
    return found


class Reach:
    """Objects at access paths now, for one walk: each dict on the way is indexed once by its keys'
    values (found by value, never by a lookup that could ask a host key's ``__eq__``)."""

    def __init__(self) -> None:
        self._indexes: Dict[int, Tuple[object, Dict[DictKey, object]]] = {}

    def _entry(self, mapping: object, wanted: DictKey, first: Optional[int] = None) -> Optional[object]:
        """The value under ``wanted`` among the first ``first`` entries (all when None)."""
        cached = self._indexes.get(id(mapping))
        if cached is None or cached[0] is not mapping:
            index: Dict[DictKey, object] = {}
            for key, value in dict_items(mapping, first):
                found = match_key(key)
                if found is not None:
                    index.setdefault(found, value)
            cached = self._indexes[id(mapping)] = (mapping, index)
        return cached[1].get(wanted)

    def __call__(self, access: Access) -> Optional[object]:
        value: Optional[object] = self._entry(sys.modules, _name_key(access[0]))
        for step in access[1:]:
            if value is None:
                return None
            if step == CACHE_STEP:
                value = unbounded_cache(value)
                continue
            if isinstance(step, tuple) and step[0] == THREAD_LOCAL:
                value = _one_of_threads(
                    held for name, held in thread_local_attributes(value) if name == step[1]
                )
                continue
            if isinstance(step, tuple):  # a dict key, among the entries discovery looked at: a dict's
                # order is its insertion order, so a key found there stays there until removed
                value = self._entry(value, step, _DICT_VALUES) if issubclass(type(value), dict) else None
                continue
            namespace: object = (
                class_namespace(value) if issubclass(type(value), type) else instance_dict(value)
            )
            value = self._entry(namespace, _name_key(step)) if namespace is not None else None
        return value

    def close(self) -> None:
        self._indexes.clear()


def _one_of_threads(values: Iterator[object]) -> Optional[object]:
    """Of the values threads keep under one thread-local name, the longest container (the one a
    leak grows), else the first."""
    found: Optional[object] = None
    for value in values:
        if found is None or (
            issubclass(type(value), CONTAINER_TYPES)
            and (not issubclass(type(found), CONTAINER_TYPES) or length_of(value) > length_of(found))
        ):
            found = value
    return found


def attributes_of(value: object) -> Iterator[Tuple[str, object]]:
    """An object's or a class's own attributes, read without running its code."""
    namespace: object = class_namespace(value) if issubclass(type(value), type) else instance_dict(value)
    if namespace is None:
        return
    for name, attribute in dict_items(namespace):
        if type(name) is str and not name.startswith("__"):
            yield name, attribute


def _builtin_base(container: object) -> Optional[type]:
    """The built-in container type ``container`` is, or derives from: its methods are not the host's."""
    for base in CONTAINER_TYPES:
        if issubclass(type(container), base):
            return base
    return None


def size_of(container: object) -> int:
    """The container's own bytes (its table or array, not its entries) by the built-in base's
    ``__sizeof__``: ``object.__sizeof__`` would count only its header."""
    base = _builtin_base(container)
    return object.__sizeof__(container) if base is None else int(base.__sizeof__(container))  # type: ignore[call-arg]


def length_of(container: object) -> int:
    """The length by the built-in base's own ``__len__``: a subclass's override is the host's code."""
    base = _builtin_base(container)
    return 0 if base is None else int(base.__len__(container))  # type: ignore[attr-defined]


def _library(module: object) -> bool:
    """A module of the standard library or an installed package: walked after the application's."""
    found = read_attribute(module, "__file__")
    if type(found) is not str:
        return True  # built-in or namespace module
    path = found
    return path.startswith(_LIBRARY_PREFIXES) or "site-packages" in path or "dist-packages" in path


def _modules(skip: Tuple[str, ...]) -> List[Tuple[str, types.ModuleType]]:
    modules = [
        (name, module)
        for name, module in dict_items(sys.modules)
        if type(name) is str and issubclass(type(module), types.ModuleType) and not name.startswith(skip)
    ]
    return sorted(modules, key=lambda item: _library(item[1]))  # stable: import order within each


def _profilers(value: object) -> bool:
    """An object of the package's own (a profiler a host global holds): its insides are its
    bookkeeping, never the host's leak."""
    return type_name(type(value)).startswith(_OWN_PREFIX)


def _below(
    path: str, access: Access, value: object, literal_keys: bool
) -> Iterator[Tuple[str, Access, object]]:
    """What a root holds one level down: its attributes, or the values of a dict under str, int or
    bytes keys (named by type and digest unless ``literal_keys``); an unbounded ``lru_cache``'s dict,
    a thread-local's attributes in every thread."""
    if access[-1] == CACHE_STEP:
        return  # a cache's values are its results, one per call: never owners, nor 1000 watched lists
    if issubclass(type(value), dict):
        for key, held in dict_items(value, _DICT_VALUES):
            if issubclass(type(held), CONTAINER_TYPES):
                found = match_key(key)
                if found is not None:
                    yield f"{path}[{key_label(key, literal_keys)}]", (*access, found), held
        return
    if issubclass(type(value), CONTAINER_TYPES) or _profilers(value):
        return
    cache = unbounded_cache(value)
    if cache is not None:
        yield cache_label(value, path), (*access, CACHE_STEP), cache
    for attribute, held in thread_local_attributes(value):
        if _named(held):
            label = f"{path}.{attribute_label(attribute, literal_keys)} (thread-local)"
            yield label, (*access, (THREAD_LOCAL, attribute)), held
    for attribute, held in attributes_of(value):
        if _named(held):
            yield f"{path}.{attribute_label(attribute, literal_keys)}", (*access, attribute), held


def _named(value: object) -> bool:
    """Data an owner path may name: not code, a module or a class."""
    return not issubclass(type(value), _OPAQUE) and not issubclass(type(value), type)


def find_roots(
    max_items: int = 200_000, skip: Tuple[str, ...] = _SKIPPED_MODULES, literal_keys: bool = False
) -> Roots:
    """Module globals and two levels below them (attributes, values of dicts), the application's
    modules first, at most ``max_items`` items."""
    roots = Roots(literal_keys)
    visited = 0
    pace = Pacer()
    for module_name, module in _modules(skip):
        namespace = instance_dict(module)
        if namespace is None:
            continue
        module_path = safe_text(module_name)
        for name, value in dict_items(namespace):
            if type(name) is not str:
                continue
            visited += 1
            if visited > max_items:
                return roots
            if name.startswith("__") or issubclass(type(value), _OPAQUE):
                continue
            if issubclass(type(value), type) and defining_module(value) != module_name:
                continue  # an imported class: named where it is defined
            pace()
            path = f"{module_path}.{attribute_label(name, literal_keys)}"
            roots.add(path, value, (module_name, name))
            for first_path, first_access, first in _below(path, (module_name, name), value, literal_keys):
                visited += 1
                roots.add(first_path, first, first_access)
                for second_path, second_access, second in _below(
                    first_path, first_access, first, literal_keys
                ):
                    visited += 1
                    roots.add(second_path, second, second_access)
    return roots


def bounded(container: object) -> bool:
    """A structure that cannot grow past a bound it states: a ``deque`` with a ``maxlen``, an
    ``lru_cache`` with a ``maxsize``."""
    kind = type(container)
    if issubclass(kind, collections.deque):
        return _DEQUE_MAXLEN.__get__(container) is not None
    if kind is LRU_WRAPPER:
        return has_maxsize(container)
    return type_name(kind) == LRU_ELEMENT
