"""Who holds a leaking type, and which instance holds a container, named by owner path.

Every search is one sliced pass of ``referrers_of`` for a whole batch of objects (all the leaking
types' samples at once, all the containers at once), never one pass per object.
"""

from __future__ import annotations

import sys
import types
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..sampling.census import objects_of, safe_text, type_name
from ..sampling.readonly import dict_items, instance_dict
from .keys import attribute_label
from .owners import CONTAINER_TYPES, LRU_ELEMENT, Roots, attributes_of, bounded
from .referrers import referrers_of

__all__ = ["Holders", "owning_instances", "retained_by", "sampled_holders"]

Holders = Tuple[Tuple[str, float], ...]  # (owner path, share of the sample it holds), largest first
Owners = Mapping[int, Tuple[object, str]]  # id(held) -> (the object holding it, its attribute)

_OWN_DIRECTORY = __file__.rsplit("/core/", 1)[0]
_OWN_NAMES = ("opentelemetry_instrumentation_memory.", "<opentelemetry_instrumentation_memory.")
_TOP = 3


def _attribute_of(owner: object, held: object) -> Optional[str]:
    for name, value in attributes_of(owner):
        if value is held:
            return name
    return None


def owning_instances(helds: Sequence[object]) -> Dict[int, Tuple[object, str]]:
    """``id(held) -> (the object, its attribute)`` for each of ``helds`` that an object holds as an
    attribute: directly (an instance's managed attributes) or through its ``__dict__``."""
    found: Dict[int, Tuple[object, str]] = {}
    namespaces: Dict[int, Tuple[object, List[Tuple[int, str]]]] = {}  # id -> (dict, [(id(held), key)])
    by_held = referrers_of(helds)
    by_namespace: Dict[int, List[object]] = {}
    try:
        for held in helds:
            for owner in by_held[id(held)]:
                if issubclass(type(owner), types.FrameType):
                    continue
                if not issubclass(type(owner), dict):
                    attribute = _attribute_of(owner, held)
                    if attribute is not None:
                        found.setdefault(id(held), (owner, attribute))
                    continue
                for key, value in dict_items(owner):
                    if value is held and type(key) is str:
                        namespaces.setdefault(id(owner), (owner, []))[1].append((id(held), key))
        by_held.clear()
        unexplained = [
            namespace for namespace, keys in namespaces.values() if any(key not in found for key, _ in keys)
        ]
        by_namespace = referrers_of(unexplained) if unexplained else {}
        unexplained.clear()
        for namespace, keys in namespaces.values():
            for namespace_owner in by_namespace.get(id(namespace), ()):
                if instance_dict(namespace_owner) is namespace:
                    for key, attribute in keys:
                        found.setdefault(key, (namespace_owner, attribute))
                    break
        return found
    finally:
        by_held.clear()
        by_namespace.clear()
        namespaces.clear()


def _function_name(code: types.CodeType) -> str:
    if sys.version_info >= (3, 11):
        return code.co_qualname
    return code.co_name


_OPTIMIZED = 0x1  # CO_OPTIMIZED: a function's frame, whose locals CPython keeps itself


def _local_values(frame: types.FrameType) -> List[object]:
    """A function frame's local values, read by CPython's own code: a snapshot dict before 3.13, a
    ``FrameLocalsProxy`` after. A class body's or ``exec``'s locals are a mapping the host may have
    made (a ``__prepare__``), and are never read."""
    if not frame.f_code.co_flags & _OPTIMIZED:
        return []
    values = frame.f_locals
    if type(values) is dict:
        return list(dict.values(values))
    if type_name(type(values)) == "FrameLocalsProxy":
        return list(type(values).values(values))  # type: ignore[attr-defined]
    return []


def _function_holding(holder: object, max_depth: int = 50) -> Optional[str]:
    """The innermost running function (of any thread) with a local variable bound to ``holder``."""
    for top in list(sys._current_frames().values()):
        frame: Optional[types.FrameType] = top
        depth = 0
        while frame is not None and depth < max_depth:
            code = frame.f_code
            if not code.co_filename.startswith(_OWN_DIRECTORY) and any(
                value is holder for value in _local_values(frame)
            ):
                return _function_name(code)
            frame, depth = frame.f_back, depth + 1
    return None


def _instance_label(owner: object) -> str:
    return f"<{type_name(type(owner))} instance>"


def _name(holder: object, roots: Roots, held: object, owners: Owners) -> str:
    """The owner path of ``holder`` (a container, an instance, a namespace dict), or a description.
    An instance holding ``held`` directly (its managed attributes) is named with the attribute."""
    path = roots.paths.get(id(holder))
    if path is not None:
        return path
    found = owners.get(id(holder))
    if found is not None:
        owner, attribute = found
        named = roots.paths.get(id(owner)) or _instance_label(owner)
        return f"{named}.{attribute_label(attribute, roots.literal_keys)}"
    if not issubclass(type(holder), CONTAINER_TYPES):
        direct = _attribute_of(holder, held)
        if direct is not None:
            return f"{_instance_label(holder)}.{attribute_label(direct, roots.literal_keys)}"
    function = _function_holding(holder)
    if function is not None:
        return f"<{type_name(type(holder))} in a local variable of {function}()>"
    return f"<{type_name(type(holder))}>"


def retained_by(names: Sequence[str], roots: Roots, per_type: int = 20) -> Dict[str, Tuple[Holders, float]]:
    """For each leaking type: its dominant holders, and the share of its sample held by bounded
    structures (the leak is then a cache filling, not a leak)."""
    samples = objects_of(names, per_type)
    try:
        return _shares(samples, roots)
    finally:
        for sample in samples.values():
            sample.clear()
        samples.clear()


def sampled_holders(samples: Dict[str, List[object]], roots: Roots) -> Dict[str, Tuple[Holders, float]]:
    """``retained_by`` for samples the caller chose (a leak check's objects born while it traced);
    the samples are emptied."""
    try:
        return _shares(samples, roots)
    finally:
        for sample in samples.values():
            sample.clear()


def _shares(samples: Dict[str, List[object]], roots: Roots) -> Dict[str, Tuple[Holders, float]]:
    type_of = {id(obj): name for name, sample in samples.items() for obj in sample}
    everything = [obj for sample in samples.values() for obj in sample]
    ours = {id(samples), *map(id, samples.values())}
    # id(referrer) -> (referrer, sampled objects it holds by type, one of them)
    held: Dict[int, Tuple[object, Dict[str, int], object]] = {}
    by_target = referrers_of(everything)
    try:
        for obj in everything:
            for referrer in by_target[id(obj)]:
                key = id(referrer)
                if key in ours or key in type_of or issubclass(type(referrer), types.FrameType):
                    continue
                counts = held.setdefault(key, (referrer, {}, obj))[1]
                counts[type_of[id(obj)]] = counts.get(type_of[id(obj)], 0) + 1
        by_target.clear()
        everything.clear()
        return _ranked(samples, held, roots)
    finally:
        by_target.clear()
        everything.clear()
        held.clear()


def _ranked(
    samples: Mapping[str, Sequence[object]],
    held: Mapping[int, Tuple[object, Dict[str, int], object]],
    roots: Roots,
) -> Dict[str, Tuple[Holders, float]]:
    shares: Dict[str, Dict[str, int]] = {name: {} for name in samples}
    by_bounded = dict.fromkeys(samples, 0)
    unbounded = []
    for referrer, counts, first in held.values():
        try:
            is_bounded = bounded(referrer)
        except Exception:
            is_bounded = False
        if is_bounded:
            for name, count in counts.items():
                by_bounded[name] += count
        else:
            unbounded.append((referrer, counts, first))
    owners = owning_instances([referrer for referrer, _, _ in unbounded if id(referrer) not in roots.paths])
    for referrer, counts, first in unbounded:
        try:
            label = safe_text(_name(referrer, roots, first, owners))
        except Exception:  # a holder whose own code raises: named by its type only
            label = f"<{type_name(type(referrer))}>"
        if label.startswith(_OWN_NAMES):
            continue  # the profiler's own bookkeeping
        for name, count in counts.items():
            shares[name][label] = shares[name].get(label, 0) + count
    unbounded.clear()
    found: Dict[str, Tuple[Holders, float]] = {}
    for name, sample in samples.items():
        size = max(1, len(sample))
        ranked = sorted(shares[name].items(), key=lambda item: -item[1])[:_TOP]
        share_bounded = 1.0 if name == LRU_ELEMENT else min(1.0, by_bounded[name] / size)
        holders = tuple((label, round(min(1.0, count / size), 3)) for label, count in ranked)
        found[name] = (holders, share_bounded)
    return found
