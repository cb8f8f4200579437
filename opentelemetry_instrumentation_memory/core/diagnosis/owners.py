"""Who holds it? Owner paths as a person would write them, found by bounded searches.

``package.module.CACHE``, ``package.module.Service.history`` (a class attribute),
``package.module.SERVICE.history`` (an attribute of a module-level object), and
``<package.module.Handler instance>.seen`` when no module global reaches the holder.

The roots are the globals of every loaded module and, two levels down, the attributes of the objects
and classes they name and the values of the dicts: bounded in items visited, and no reference
outlives a call. Everything is read through the built-in types' own methods, never the host's.
"""

from __future__ import annotations

import collections
import sys
import types
from array import array
from itertools import islice
from typing import Any, Dict, Iterator, List, Optional, Tuple, cast

from ..sampling.census import defining_module, safe_text, type_name
from ..sampling.pacing import Pacer

__all__ = [
    "CONTAINER_TYPES",
    "Access",
    "Roots",
    "attribute_value",
    "attributes_of",
    "bounded",
    "find_roots",
    "items_of",
    "length_of",
    "reach",
    "size_of",
]

# An element of a C lru_cache with a maxsize, and the cache itself: bounded by that maxsize.
LRU_ELEMENT = "functools._lru_list_elem"
_LRU_WRAPPER = "functools._lru_cache_wrapper"
_DICT_VALUES = 1000  # values of a global dict looked at for containers
_LIBRARY_PREFIXES = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})

CONTAINER_TYPES = (dict, list, set, collections.deque, bytearray, array)
_SKIPPED_MODULES = ("opentelemetry_instrumentation_memory", "opentelemetry.", "_pytest", "pytest")
_OPAQUE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType)


Access = Tuple[str, ...]  # (module name, global name[, attribute name])


class Roots:
    """``id(object) -> owner path`` for module globals and their attributes, found in one walk.

    ``containers`` lists the containers among them: (path, how to reach it again), in walk order.
    """

    def __init__(self) -> None:
        self.paths: Dict[int, str] = {}
        self.containers: List[Tuple[str, Access]] = []

    def add(self, path: str, value: object, access: Access) -> None:
        key = id(value)
        if key in self.paths:
            return
        self.paths[key] = path
        if issubclass(type(value), CONTAINER_TYPES) and not bounded(value):
            self.containers.append((path, access))


def namespace_of(value: object) -> object:
    """``value.__dict__`` as the object stores it (no ``__getattribute__`` of its own runs), or None."""
    try:
        return object.__getattribute__(value, "__dict__")
    except Exception:
        return None


def attribute_value(value: object, name: str) -> Optional[object]:
    """``value``'s own attribute ``name`` (an instance's, or a class's), read without running code."""
    namespace = namespace_of(value)
    try:
        if issubclass(type(namespace), dict):
            return dict.get(cast(dict, namespace), name)
        if type(namespace) is types.MappingProxyType:  # a class's attributes
            return namespace.get(name)
    except Exception:  # an unhashable or raising key
        pass
    return None


def reach(access: Access) -> Optional[object]:
    """The object at ``access`` now (module globals and attributes read without running code)."""
    value: Optional[object] = sys.modules.get(access[0])
    for name in access[1:]:
        if name.startswith("[") and issubclass(type(value), dict):
            value = dict.get(cast(dict, value), name[1:-1])
        else:
            value = attribute_value(value, name)
        if value is None:
            return None
    return value


def items_of(mapping: object, limit: Optional[int] = None) -> List[Tuple[Any, Any]]:
    """A snapshot of a mapping's items by the built-in ``dict`` (or mappingproxy) methods; empty
    when another thread resizes it meanwhile (a collection run during the copy lets threads
    switch): the next walk reads it again."""
    try:
        items = dict.items(cast(dict, mapping)) if issubclass(type(mapping), dict) else mapping.items()  # type: ignore[attr-defined]
        return list(islice(items, limit))
    except RuntimeError:
        return []


def attributes_of(value: object) -> Iterator[Tuple[str, object]]:
    """An object's or a class's own attributes, read without running its code."""
    namespace = namespace_of(value)
    if not issubclass(type(namespace), (dict, types.MappingProxyType)):
        return
    for name, attribute in items_of(namespace):
        if issubclass(type(name), str) and not name.startswith("__"):
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
    found = attribute_value(module, "__file__")
    if not issubclass(type(found), str):
        return True  # built-in or namespace module
    path = cast(str, found)
    return path.startswith(_LIBRARY_PREFIXES) or "site-packages" in path or "dist-packages" in path


def _modules(skip: Tuple[str, ...]) -> List[Tuple[str, types.ModuleType]]:
    modules = [
        (name, module)
        for name, module in items_of(sys.modules)
        if issubclass(type(name), str)
        and issubclass(type(module), types.ModuleType)
        and not name.startswith(skip)
    ]
    return sorted(modules, key=lambda item: _library(item[1]))  # stable: import order within each


def _below(path: str, access: Access, value: object) -> Iterator[Tuple[str, Access, object]]:
    """What a root holds one level down: its attributes, or the values of a dict under str keys."""
    if issubclass(type(value), dict):
        for key, held in items_of(value, _DICT_VALUES):
            if issubclass(type(key), str) and issubclass(type(held), CONTAINER_TYPES):
                yield f"{path}[{safe_text(str.__str__(key))!r}]", (*access, f"[{key}]"), held
        return
    if issubclass(type(value), CONTAINER_TYPES):
        return
    for attribute, held in attributes_of(value):
        if not issubclass(type(held), _OPAQUE) and not issubclass(type(held), type):
            yield f"{path}.{safe_text(attribute)}", (*access, attribute), held


def find_roots(max_items: int = 200_000, skip: Tuple[str, ...] = _SKIPPED_MODULES) -> Roots:
    """Module globals and two levels below them (attributes, values of dicts), the application's
    modules first, at most ``max_items`` items."""
    roots = Roots()
    visited = 0
    pace = Pacer()
    for module_name, module in _modules(skip):
        namespace = namespace_of(module)
        if not issubclass(type(namespace), dict):
            continue
        module_path = safe_text(module_name)
        for name, value in items_of(namespace):
            if not issubclass(type(name), str):
                continue
            visited += 1
            if visited > max_items:
                return roots
            if name.startswith("__") or issubclass(type(value), _OPAQUE):
                continue
            if issubclass(type(value), type) and defining_module(value) != module_name:
                continue  # an imported class: named where it is defined
            pace()
            path = f"{module_path}.{safe_text(name)}"
            roots.add(path, value, (module_name, name))
            for first_path, first_access, first in _below(path, (module_name, name), value):
                visited += 1
                roots.add(first_path, first, first_access)
                for second_path, second_access, second in _below(first_path, first_access, first):
                    visited += 1
                    roots.add(second_path, second, second_access)
    return roots


def bounded(container: object) -> bool:
    """A structure that cannot grow past a bound it states: a ``deque`` with a ``maxlen``, an
    ``lru_cache`` with a ``maxsize``."""
    kind = type(container)
    if issubclass(kind, collections.deque):
        return collections.deque.__dict__["maxlen"].__get__(container) is not None
    name = type_name(kind)
    if name == _LRU_WRAPPER:
        try:
            return container.cache_parameters()["maxsize"] is not None  # type: ignore[attr-defined]
        except Exception:
            return False
    return name == LRU_ELEMENT
