"""Whose line is it? The frame of an allocation's stack that a site names.

An allocation's innermost frame is often a library's: ``asyncio``'s ``create_task`` makes the task,
``ctypes.create_string_buffer`` the buffer. The line to fix is the application's that called it, so
a site names the innermost frame of the application's own code; the library frames it called stay in
its traceback, after it. An allocation whose innermost frame outside the libraries is this
package's is the profiler's own, made for whoever called it (``snapshot()``, a metric callback): it
is nobody's site. Only a stack with no application frame at all is named by a library's line.
"""

from __future__ import annotations

import os
import sysconfig
import threading
import tracemalloc
from typing import Dict, Optional, Sequence

__all__ = ["own", "site_index"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
_DEMO = _PACKAGE + "demo.py"  # the bundled demo is an application: its leak is the point
_INSTALLED = tuple(os.sep + name + os.sep for name in ("site-packages", "dist-packages"))
_STANDARD = tuple(
    {sysconfig.get_paths()[name].rstrip(os.sep) + os.sep for name in ("stdlib", "platstdlib")}
    | {os.path.dirname(os.__file__) + os.sep}
)
# Machinery whose line is never a site, even for want of another: allocations only the interpreter's
# imports, thread start-up or tracing made.
_MACHINERY = (threading.__file__, tracemalloc.__file__, "<frozen importlib", "<unknown>")

# What a frame's file is, in the order a site falls back on when no application frame is there.
_APPLICATION, _INSTALLED_PACKAGE, _GENERATED, _STANDARD_LIBRARY, _NEVER = range(5)
_FALLBACKS = (_INSTALLED_PACKAGE, _GENERATED, _STANDARD_LIBRARY)


def _rank(file: str) -> int:
    if file.startswith(_MACHINERY):
        return _NEVER
    if any(marker in file for marker in _INSTALLED):
        return _INSTALLED_PACKAGE
    if file.startswith(_STANDARD) or file.startswith("<frozen "):
        return _STANDARD_LIBRARY
    if file.startswith("<"):  # compiled from a string: python -c, exec, a dataclass's __init__
        return _GENERATED
    return _APPLICATION


def own(file: str) -> bool:
    """A file of this package's own code (not its demo)."""
    return file.startswith(_PACKAGE) and file != _DEMO


def site_index(files: Sequence[str]) -> Optional[int]:
    """Of a stack's files, innermost first: the index of the frame its site names, or None when the
    allocation is the profiler's own (or only the interpreter's machinery made it).

    The innermost application frame; lacking one, the innermost installed package's, then code
    compiled from a string, then the standard library's."""
    fallbacks: Dict[int, int] = {}
    for index, file in enumerate(files):
        if own(file):
            return None
        rank = _rank(file)
        if rank == _APPLICATION:
            return index
        fallbacks.setdefault(rank, index)
    return next((fallbacks[rank] for rank in _FALLBACKS if rank in fallbacks), None)
