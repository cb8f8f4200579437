"""``threading.local`` attributes: what each thread keeps under a name, found without the thread.

A thread-local's attributes live in one dict per thread, which CPython keeps in a dict of the
local's own (keyed by a per-thread object, a weak reference to it before 3.13); no attribute of the
local reaches them, so a list only ever appended to through ``_local.items`` is held by ``<dict>``.
Each is named ``package.module._local.items (thread-local)`` instead, read through the local's
C traversal and the built-in dicts' own methods: the local's ``__getattribute__`` (the host's, in a
subclass) never runs, and no thread's view is needed.
"""

from __future__ import annotations

import gc
import threading
from typing import Iterator, Tuple

from ..sampling.readonly import dict_items

__all__ = ["THREAD_LOCAL", "thread_local_attributes"]

THREAD_LOCAL = "thread-local"  # in an access path: (THREAD_LOCAL, attribute name)


def _thread_dicts(local: object) -> Iterator[dict]:
    """Each thread's attribute dict: the dict values of the local's referent dicts under keys that
    are not ``str`` (the constructor's keyword arguments are a dict under ``str`` keys)."""
    if not issubclass(type(local), threading.local):
        return
    for referent in gc.get_referents(local):
        if type(referent) is dict:
            for key, value in dict_items(referent):
                if type(key) is not str and type(value) is dict:
                    yield value


def thread_local_attributes(local: object) -> Iterator[Tuple[str, object]]:
    """(name, value) of every thread's attributes of a ``threading.local``, a name once per thread."""
    for attributes in _thread_dicts(local):
        for name, value in dict_items(attributes):
            if type(name) is str and not name.startswith("__"):
                yield name, value
