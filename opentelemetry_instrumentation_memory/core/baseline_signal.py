"""Resetting the baseline from outside the process, for programs nobody edits: an opt-in signal.

A Python signal handler runs in the main thread between two bytecodes, perhaps while that thread is
inside the profiler holding its lock: so the handler only sets a flag, and the profiler resets the
baseline with its next snapshot. The handler is installed only from the main thread and only over
the signal's default disposition: a handler the host program set is never replaced.

Only SIGUSR1, SIGUSR2 and SIGHUP can be chosen: a handler on SIGTERM or SIGINT would stop them from
ending the process, and one on SIGSEGV, SIGBUS, SIGFPE or SIGILL returns to the faulting instruction,
turning a crash into a spin.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Mapping, Optional, Protocol

from .validation import RESET_SIGNAL_NAMES, require_reset_signal, shown

__all__ = ["install_baseline_reset_signal", "uninstall_baseline_reset_signal"]

_logger = logging.getLogger(__name__)


class _Resettable(Protocol):
    def request_baseline_reset(self) -> None: ...


class _ResetHandler:
    """The installed handler: it flags the reset and returns at once."""

    def __init__(self, profiler: _Resettable) -> None:
        self._profiler = profiler

    def __call__(self, signum: int, frame: Optional[FrameType]) -> None:
        self._profiler.request_baseline_reset()


def install_baseline_reset_signal(
    profiler: _Resettable, environ: Mapping[str, str], variable: str
) -> Optional[signal.Signals]:
    """Install the handler for the signal ``variable`` names (``SIGUSR2``, ``USR2``: one of SIGUSR1,
    SIGUSR2, SIGHUP); return that signal, or None when unset or when it cannot be installed, which is
    warned about."""
    raw = environ.get(variable, "").strip()
    if not raw:
        return None
    try:
        signum = require_reset_signal(variable, raw)
    except ValueError:
        _logger.warning(
            "%s=%s is not one of %s; using the default (none)",
            variable,
            shown(raw),
            ", ".join(RESET_SIGNAL_NAMES),
        )
        return None
    if threading.current_thread() is not threading.main_thread():
        _logger.warning(
            "%s=%s is ignored: signal handlers can be installed only from the main thread, "
            "and the instrumentation ran on another",
            variable,
            signum.name,
        )
        return None
    current = signal.getsignal(signum)
    if isinstance(current, _ResetHandler):  # an earlier instrumentation's: the same process profiler
        signal.signal(signum, _ResetHandler(profiler))
        return signum
    if current is not signal.SIG_DFL:
        _logger.warning(
            "%s=%s is ignored: the program already handles %s, and its handler is kept",
            variable,
            signum.name,
            signum.name,
        )
        return None
    try:
        signal.signal(signum, _ResetHandler(profiler))
    except (OSError, ValueError) as error:  # one the platform refuses
        _logger.warning("%s=%s is ignored: %s", variable, signum.name, error)
        return None
    return signum


def uninstall_baseline_reset_signal(signum: signal.Signals) -> None:
    """Give the signal back its default disposition, if our handler is still the one installed."""
    if threading.current_thread() is threading.main_thread() and isinstance(
        signal.getsignal(signum), _ResetHandler
    ):
        signal.signal(signum, signal.SIG_DFL)
