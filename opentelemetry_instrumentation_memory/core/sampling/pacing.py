"""Handing the GIL over during a heap walk, so that the host's threads wait one C call at most."""

from __future__ import annotations

import time

__all__ = ["Pacer"]


class Pacer:
    """Call between the C calls of a walk: once the walk has held the GIL for ``every`` seconds it
    hands it over (``time.sleep(0)``) to any thread waiting for it, which would otherwise wait the
    interpreter's switch interval (5 ms) on top of the call. A walk of many short calls pays one
    system call per ``every`` seconds, not one per call: on a busy machine each can cost a time slice.
    """

    __slots__ = ("every", "_since")

    def __init__(self, every: float = 0.002) -> None:
        self.every = every
        self._since = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self._since >= self.every:
            time.sleep(0)
            self._since = time.perf_counter()
