"""``functools`` caches: their bound, the dict an unbounded one fills, and the function it caches.

``lru_cache(maxsize=None)`` (and ``functools.cache``) keeps every result in a dict no attribute
names: CPython's wrapper holds it in its C struct. A cache that only grows is then a plain dict's
leak, held by ``<dict>``; it is named instead by the function it caches, ``package.module.lookup
(lru_cache)``, as a person would say it. Everything is read without running the host's code: the
dict among the wrapper's referents, the names from the wrapper's own attribute dict and the cached
function's own C getters (a ``__wrapped__`` property or descriptor is never called).
"""

from __future__ import annotations

import functools
import gc
import types
from typing import Optional

from ..sampling.census import safe_text
from ..sampling.readonly import dict_items, instance_dict, read_attribute, string_copy

__all__ = ["CACHE_STEP", "LRU_WRAPPER", "cache_label", "has_maxsize", "unbounded_cache"]

LRU_WRAPPER = functools._lru_cache_wrapper  # type: ignore[attr-defined]
CACHE_STEP = ("lru_cache",)  # in an access path: the dict of the lru_cache reached so far
_FUNCTION_CODE = types.FunctionType.__dict__["__code__"]
_FUNCTION_CLOSURE = types.FunctionType.__dict__["__closure__"]
_FUNCTION_MODULE = types.FunctionType.__dict__["__module__"]
_FUNCTION_QUALNAME = types.FunctionType.__dict__["__qualname__"]
_CELL_CONTENTS = types.CellType.__dict__["cell_contents"]


def has_maxsize(wrapper: object) -> bool:
    """Whether an ``lru_cache`` wrapper has a maxsize, read from the closure of the
    ``cache_parameters`` function functools gave it (calling it could call a replacement)."""
    parameters = read_attribute(wrapper, "cache_parameters")
    if type(parameters) is not types.FunctionType:
        return False
    code = _FUNCTION_CODE.__get__(parameters)
    closure = _FUNCTION_CLOSURE.__get__(parameters) or ()
    for name, cell in zip(code.co_freevars, closure):
        if name == "maxsize" and type(cell) is types.CellType:
            try:
                return _CELL_CONTENTS.__get__(cell) is not None
            except ValueError:  # an empty cell
                return False
    return False


def unbounded_cache(wrapper: object) -> Optional[dict]:
    """The dict of an ``lru_cache`` with no maxsize: among the wrapper's referents (its C traversal),
    the dict that is not its attribute dict. None for anything else."""
    if type(wrapper) is not LRU_WRAPPER or has_maxsize(wrapper):
        return None
    attributes = instance_dict(wrapper)
    for referent in gc.get_referents(wrapper):
        if type(referent) is dict and referent is not attributes:
            return referent
    return None


def _function_name(wrapper: object) -> Optional[str]:
    """``module.qualname`` of the cached function: its own, when ``__wrapped__`` is a plain
    function, else the copies ``update_wrapper`` left in the wrapper's attribute dict."""
    wrapped = read_attribute(wrapper, "__wrapped__")
    if type(wrapped) is types.FunctionType:
        module = string_copy(_FUNCTION_MODULE.__get__(wrapped))
        qualname = string_copy(_FUNCTION_QUALNAME.__get__(wrapped))
    else:
        copied = {
            key: string_copy(value) for key, value in dict_items(instance_dict(wrapper)) if type(key) is str
        }
        module, qualname = copied.get("__module__"), copied.get("__qualname__")
    return f"{module}.{qualname}" if module and qualname else None


def cache_label(wrapper: object, path: str) -> str:
    """The owner path of an unbounded cache's dict: the function it caches (or, unnamed, the path
    the wrapper was found at), ``(lru_cache)`` after it."""
    return f"{safe_text(_function_name(wrapper) or path)} (lru_cache)"
