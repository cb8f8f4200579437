"""Who holds it? Owner paths as a person would write them, found by bounded searches.

``package.module.CACHE``, ``package.module.Service.history`` (a class attribute),
``package.module.SERVICE.history`` (an attribute of a module-level object), and
``<package.module.Handler instance>.seen`` when no module global reaches the holder.

The roots are the globals of every loaded module and, one level down, the attributes of the objects
and classes they name: bounded in items visited, and no reference outlives a call.
"""

from __future__ import annotations

import collections
import gc
import sys
import types
from array import array
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, cast

from ..sampling.census import defining_module, objects_of, type_name

__all__ = ["CONTAINER_TYPES", "Holders", "Roots", "bounded", "find_roots", "holders", "retained_by"]

# An element of a C lru_cache with a maxsize: whatever it holds is bounded by that maxsize.
_LRU_ELEMENT = "functools._lru_list_elem"
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


def reach(access: Access) -> Optional[object]:
    """The object at ``access`` now (module globals and attributes read without running code)."""
    value: object = sys.modules.get(access[0])
    for name in access[1:]:
        try:
            namespace = object.__getattribute__(value, "__dict__")
            value = namespace[name]
        except Exception:
            return None
    return value


def _attributes(value: object) -> Iterator[Tuple[str, object]]:
    """An object's or a class's own attributes, read without running its code."""
    try:
        namespace = object.__getattribute__(value, "__dict__")
    except Exception:
        return
    if not issubclass(type(namespace), (dict, types.MappingProxyType)):
        return
    for name, attribute in list(namespace.items()):
        if issubclass(type(name), str) and not name.startswith("__"):
            yield name, attribute


def length_of(container: object) -> int:
    """The length by the built-in base's own ``__len__``: a subclass's override is the host's code."""
    for base in CONTAINER_TYPES:
        if issubclass(type(container), base):
            return int(base.__len__(container))  # type: ignore[arg-type]
    return 0


def find_roots(max_items: int = 200_000, skip: Tuple[str, ...] = _SKIPPED_MODULES) -> Roots:
    """Module globals and one level of their attributes, at most ``max_items`` of them."""
    roots = Roots()
    visited = 0
    for module_name, module in list(sys.modules.items()):
        if not issubclass(type(module), types.ModuleType) or module_name.startswith(skip):
            continue
        namespace = object.__getattribute__(module, "__dict__")
        if not issubclass(type(namespace), dict):
            continue
        for name, value in list(namespace.items()):
            if not issubclass(type(name), str):
                continue
            visited += 1
            if visited > max_items:
                return roots
            if name.startswith("__") or issubclass(type(value), _OPAQUE):
                continue
            path = f"{module_name}.{name}"
            if issubclass(type(value), type) and defining_module(value) != module_name:
                continue  # an imported class: named where it is defined
            roots.add(path, value, (module_name, name))
            if issubclass(type(value), CONTAINER_TYPES):
                continue
            for attribute, held in _attributes(value):
                visited += 1
                if not issubclass(type(held), _OPAQUE) and not issubclass(type(held), type):
                    roots.add(f"{path}.{attribute}", held, (module_name, name, attribute))
    return roots


def bounded(container: object) -> bool:
    """A structure that cannot grow past a bound it states: a ``deque`` with a ``maxlen``, an
    ``lru_cache`` with a ``maxsize``."""
    if issubclass(type(container), collections.deque):
        return cast(collections.deque, container).maxlen is not None
    return type_name(type(container)) == _LRU_ELEMENT


_OWN_DIRECTORY = __file__.rsplit("/core/", 1)[0]


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


def name_holder(holder: object, roots: Roots, held: Optional[object] = None) -> str:
    """The owner path of ``holder`` (a container, an instance, a namespace dict), or a description.

    ``held`` is what the holder refers to: an instance holding it directly (its managed attributes)
    is named with the attribute.
    """
    path = roots.paths.get(id(holder))
    if path is not None:
        return path
    referrers = [r for r in gc.get_referrers(holder) if not issubclass(type(r), types.FrameType)]
    try:
        for owner in referrers:
            attribute = _attribute_of(owner, holder) if not issubclass(type(owner), dict) else None
            if attribute is not None:
                base = roots.paths.get(id(owner)) or _instance_label(owner)
                return f"{base}.{attribute}"
            if issubclass(type(owner), dict):
                for key, value in list(owner.items()):
                    if value is holder and issubclass(type(key), str):
                        for namespace_owner in gc.get_referrers(owner):
                            if getattr(namespace_owner, "__dict__", None) is owner:
                                named = roots.paths.get(id(namespace_owner))
                                return f"{named or _instance_label(namespace_owner)}.{key}"
        if held is not None and not issubclass(type(holder), CONTAINER_TYPES):
            attribute = _attribute_of(holder, held)
            if attribute is not None:
                return f"{_instance_label(holder)}.{attribute}"
        function = _function_holding(holder)
        if function is not None:
            return f"<{type_name(type(holder))} in a local variable of {function}()>"
        return f"<{type_name(type(holder))}>"
    finally:
        referrers.clear()


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
            if bounded(referrer):
                held_by_bounded += count
                continue
            name = name_holder(referrer, roots, held[0])
            shares[name] = shares.get(name, 0) + count
    finally:
        referrers.clear()
    ranked = sorted(shares.items(), key=lambda item: -item[1])[:top]
    share = len(sample)
    return (
        tuple((name, round(min(1.0, count / share), 3)) for name, count in ranked),
        min(1.0, held_by_bounded / share),
    )


def sample_objects(names: Sequence[str], per_type: int) -> Dict[str, List[object]]:
    """Up to ``per_type`` live objects of each named type, youngest first."""
    return objects_of(names, per_type)


def retained_by(names: Sequence[str], roots: Roots, per_type: int = 20) -> Dict[str, Tuple[Holders, float]]:
    """For each leaking type: its dominant holders, and the share of its sample held by bounded
    structures (the leak is then a cache filling, not a leak)."""
    samples = sample_objects(names, per_type)
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
