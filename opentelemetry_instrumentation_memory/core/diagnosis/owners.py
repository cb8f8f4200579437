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
import gc
import sys
import types
from array import array
from itertools import islice
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, cast

from ..sampling.census import defining_module, objects_of, safe_text, type_name

__all__ = ["CONTAINER_TYPES", "Holders", "Roots", "bounded", "find_roots", "holders", "retained_by"]

# An element of a C lru_cache with a maxsize, and the cache itself: bounded by that maxsize.
_LRU_ELEMENT = "functools._lru_list_elem"
_LRU_WRAPPER = "functools._lru_cache_wrapper"
_DICT_VALUES = 1000  # values of a global dict looked at for containers
_LIBRARY_PREFIXES = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
Holders = Tuple[Tuple[str, float], ...]

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


def _items(mapping: object, limit: Optional[int] = None) -> List[Tuple[Any, Any]]:
    """A snapshot of a mapping's items by the built-in ``dict`` (or mappingproxy) methods; empty
    when another thread resizes it meanwhile (a collection run during the copy lets threads
    switch): the next walk reads it again."""
    try:
        items = dict.items(cast(dict, mapping)) if issubclass(type(mapping), dict) else mapping.items()  # type: ignore[attr-defined]
        return list(islice(items, limit))
    except RuntimeError:
        return []


def _attributes(value: object) -> Iterator[Tuple[str, object]]:
    """An object's or a class's own attributes, read without running its code."""
    namespace = namespace_of(value)
    if not issubclass(type(namespace), (dict, types.MappingProxyType)):
        return
    for name, attribute in _items(namespace):
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
        for name, module in _items(sys.modules)
        if issubclass(type(name), str)
        and issubclass(type(module), types.ModuleType)
        and not name.startswith(skip)
    ]
    return sorted(modules, key=lambda item: _library(item[1]))  # stable: import order within each


def _below(path: str, access: Access, value: object) -> Iterator[Tuple[str, Access, object]]:
    """What a root holds one level down: its attributes, or the values of a dict under str keys."""
    if issubclass(type(value), dict):
        for key, held in _items(value, _DICT_VALUES):
            if issubclass(type(key), str) and issubclass(type(held), CONTAINER_TYPES):
                yield f"{path}[{safe_text(str.__str__(key))!r}]", (*access, f"[{key}]"), held
        return
    if issubclass(type(value), CONTAINER_TYPES):
        return
    for attribute, held in _attributes(value):
        if not issubclass(type(held), _OPAQUE) and not issubclass(type(held), type):
            yield f"{path}.{safe_text(attribute)}", (*access, attribute), held


def find_roots(max_items: int = 200_000, skip: Tuple[str, ...] = _SKIPPED_MODULES) -> Roots:
    """Module globals and two levels below them (attributes, values of dicts), the application's
    modules first, at most ``max_items`` items."""
    roots = Roots()
    visited = 0
    for module_name, module in _modules(skip):
        namespace = namespace_of(module)
        if not issubclass(type(namespace), dict):
            continue
        module_path = safe_text(module_name)
        for name, value in _items(namespace):
            if not issubclass(type(name), str):
                continue
            visited += 1
            if visited > max_items:
                return roots
            if name.startswith("__") or issubclass(type(value), _OPAQUE):
                continue
            if issubclass(type(value), type) and defining_module(value) != module_name:
                continue  # an imported class: named where it is defined
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
    return name == _LRU_ELEMENT


_OWN_DIRECTORY = __file__.rsplit("/core/", 1)[0]
_OWN_NAMES = ("opentelemetry_instrumentation_memory.", "<opentelemetry_instrumentation_memory.")


def _function_holding(holder: object, max_depth: int = 50) -> Optional[str]:
    """The innermost running function (of any thread) with a local variable bound to ``holder``."""
    for top in list(sys._current_frames().values()):
        frame: Optional[types.FrameType] = top
        depth = 0
        while frame is not None and depth < max_depth:
            code = frame.f_code
            if not code.co_filename.startswith(_OWN_DIRECTORY):
                try:
                    if any(value is holder for value in frame.f_locals.values()):
                        return str(getattr(code, "co_qualname", code.co_name))
                except Exception:
                    pass
            frame, depth = frame.f_back, depth + 1
    return None


def _instance_label(owner: object) -> str:
    return f"<{type_name(type(owner))} instance>"


def _attribute_of(owner: object, held: object) -> Optional[str]:
    for name, value in _attributes(owner):
        if value is held:
            return name
    return None


def owning_instance(held: object) -> Optional[Tuple[object, str]]:
    """(the object, its attribute) that holds ``held`` as an attribute: directly (an instance's
    managed attributes) or through its ``__dict__``; None when nothing does."""
    referrers = [r for r in gc.get_referrers(held) if not issubclass(type(r), types.FrameType)]
    try:
        for owner in referrers:
            if not issubclass(type(owner), dict):
                attribute = _attribute_of(owner, held)
                if attribute is not None:
                    return owner, attribute
                continue
            for key, value in _items(owner):
                if value is held and issubclass(type(key), str):
                    for namespace_owner in gc.get_referrers(owner):
                        if namespace_of(namespace_owner) is owner:
                            return namespace_owner, key
        return None
    finally:
        referrers.clear()


def name_holder(holder: object, roots: Roots, held: Optional[object] = None) -> str:
    return safe_text(_name_holder(holder, roots, held))


def _name_holder(holder: object, roots: Roots, held: Optional[object] = None) -> str:
    """The owner path of ``holder`` (a container, an instance, a namespace dict), or a description.

    ``held`` is what the holder refers to: an instance holding it directly (its managed attributes)
    is named with the attribute.
    """
    path = roots.paths.get(id(holder))
    if path is not None:
        return path
    found = owning_instance(holder)
    if found is not None:
        owner, attribute = found
        return f"{roots.paths.get(id(owner)) or _instance_label(owner)}.{attribute}"
    if held is not None and not issubclass(type(holder), CONTAINER_TYPES):
        direct = _attribute_of(holder, held)
        if direct is not None:
            return f"{_instance_label(holder)}.{direct}"
    function = _function_holding(holder)
    if function is not None:
        return f"<{type_name(type(holder))} in a local variable of {function}()>"
    return f"<{type_name(type(holder))}>"


def holders(
    sample: Sequence[object],
    roots: Roots,
    top: int = 3,
    is_internal: Callable[[object], bool] = lambda _: False,
) -> Tuple[Holders, float]:
    """The dominant holders of ``sample`` ((owner path, share of the sample it holds), largest
    first), and the share of the sample held by bounded structures.

    One ``gc.get_referrers`` pass over the heap finds what refers to any sampled object; each
    referrer is then named. ``is_internal`` excludes the caller's own lists.
    """
    if not sample:
        return (), 0.0
    wanted = {id(obj) for obj in sample}
    shares: Dict[str, int] = {}
    held_by_bounded = 0
    referrers = gc.get_referrers(*sample)
    try:
        for referrer in referrers:
            if (
                referrer is sample
                or issubclass(type(referrer), types.FrameType)
                or is_internal(referrer)
                or id(referrer) in wanted
            ):
                continue
            held = [r for r in gc.get_referents(referrer) if id(r) in wanted]
            if not held:
                continue
            count = len({id(r) for r in held})
            try:
                if bounded(referrer):
                    held_by_bounded += count
                    continue
                name = name_holder(referrer, roots, held[0])
            except Exception:  # a holder whose own code raises: named by its type only
                name = f"<{type_name(type(referrer))}>"
            if name.startswith(_OWN_NAMES):
                continue  # the profiler's own bookkeeping
            shares[name] = shares.get(name, 0) + count
    finally:
        referrers.clear()
    ranked = sorted(shares.items(), key=lambda item: -item[1])[:top]
    share = len(sample)
    return (
        tuple((name, round(min(1.0, count / share), 3)) for name, count in ranked),
        min(1.0, held_by_bounded / share),
    )


def retained_by(names: Sequence[str], roots: Roots, per_type: int = 20) -> Dict[str, Tuple[Holders, float]]:
    """For each leaking type: its dominant holders, and the share of its sample held by bounded
    structures (the leak is then a cache filling, not a leak)."""
    samples = objects_of(names, per_type)
    found: Dict[str, Tuple[Holders, float]] = {}
    try:
        for name, sample in samples.items():
            internal = {id(samples), id(sample)}

            def is_internal(obj: object, ours: "set[int]" = internal) -> bool:
                return id(obj) in ours

            found[name] = holders(sample, roots, is_internal=is_internal)
            if name == _LRU_ELEMENT:
                found[name] = (found[name][0], 1.0)
            sample.clear()
    finally:
        samples.clear()
    return found
