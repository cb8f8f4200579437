"""Reinitialising after ``os.fork()``: threads do not survive a fork, and a lock that another thread
held at that moment would stay held in the child forever. Objects that own threads or locks register
here, and their ``after_fork_in_child()`` runs in every child."""

from __future__ import annotations

import logging
import os
import weakref
from typing import Callable, List, Protocol

_logger = logging.getLogger(__name__)


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None: ...


# Owners that only renew locks and handles come before owners that restart threads: a restarted loop
# must never reach a lock the parent's thread held at the fork before that lock is renewed (a child's
# loop once waited forever on a resident-memory reader's lock). Each list keeps registration order.
_renewing: "List[weakref.ReferenceType[ForkAware]]" = []
_restarting: "List[weakref.ReferenceType[ForkAware]]" = []
_functions: List[Callable[[], None]] = []


def register(owner: ForkAware, restarts_threads: bool = True) -> None:
    """``restarts_threads=False`` for an owner that only renews its locks and handles."""
    owners = _restarting if restarts_threads else _renewing
    owners[:] = [ref for ref in owners if ref() is not None]  # bounded by the owners alive
    owners.append(weakref.ref(owner))


def register_function(function: Callable[[], None]) -> None:
    """For module-level state (a process-wide instance's lock), which lives as long as the process."""
    _functions.append(function)


def _reinitialise_in_child() -> None:
    # Module-level state first: the owners' hooks may use it (a profiler restarting its loop reads
    # tracemalloc's state, which an interrupted allocation-site capture has restored by then).
    for function in _functions:
        try:
            function()
        except Exception:
            _logger.exception("memory profiler could not reinitialise after fork")
    for ref in [*_renewing, *_restarting]:
        owner = ref()
        if owner is None:
            continue
        try:
            owner.after_fork_in_child()
        except Exception:  # a child must start even if its monitor cannot
            _logger.exception("memory profiler could not restart after fork")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinitialise_in_child)
