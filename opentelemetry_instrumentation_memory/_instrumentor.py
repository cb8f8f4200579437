"""``MemoryInstrumentor``: turns the process-wide memory profiler on and off.

``BaseInstrumentor`` is a singleton whose ``__init__`` would run on every construction, so this
class keeps no state of its own beyond what ``instrument()`` sets up and ``uninstrument()`` undoes.
"""

from __future__ import annotations

from typing import Any, Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from ._profiler import get_memory_profiler
from .package import _instruments


class MemoryInstrumentor(BaseInstrumentor):
    """``MemoryInstrumentor().instrument(snapshot_interval=..., ...)`` starts profiling this process."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **settings: Any) -> None:
        profiler = get_memory_profiler()
        profiler.configure(**settings)
        profiler.start()

    def _uninstrument(self, **kwargs: Any) -> None:
        get_memory_profiler().stop()
