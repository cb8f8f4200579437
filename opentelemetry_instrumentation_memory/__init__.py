"""OpenTelemetry-native memory monitoring for Python services.

``MemoryInstrumentor().instrument()`` starts a background profiler that snapshots the process,
finds leaking object types by their trend, and raises alerts.

The OpenTelemetry layer's names (``MemoryInstrumentor``, ``MemorySpanProcessor``, ``MemoryExporter``,
``get_memory_exporter``) are imported on first use: a program that uses the profiler alone loads no
OpenTelemetry, and prometheus_client and the SDK's Prometheus reader load only in programs that
serve the package's own endpoint.
"""

import importlib
from typing import TYPE_CHECKING, Any, List

from .core.analysis.leaks import LeakDetector
from .core.analysis.rules import ALERT_RULES, AlertRule, Comparison
from .core.config import ProfilerConfig
from .core.profiler import MemoryProfiler, get_memory_profiler
from .core.records import (
    Alert,
    AllocationSite,
    BaselineDrift,
    DetectionEvents,
    Leak,
    MemoryLimit,
    MemorySnapshot,
    TypeDrift,
)
from .core.sampling.limits import effective_memory_limit
from .version import __version__

if TYPE_CHECKING:
    from .otel.exporter import MemoryExporter, get_memory_exporter
    from .otel.instrumentor import MemoryInstrumentor
    from .otel.spans import MemorySpanProcessor

_LAZY = {
    "MemoryExporter": ".otel.exporter",
    "MemoryInstrumentor": ".otel.instrumentor",
    "MemorySpanProcessor": ".otel.spans",
    "get_memory_exporter": ".otel.exporter",
}

__all__ = [
    "ALERT_RULES",
    "Alert",
    "AlertRule",
    "AllocationSite",
    "BaselineDrift",
    "Comparison",
    "DetectionEvents",
    "Leak",
    "LeakDetector",
    "MemoryExporter",
    "MemoryInstrumentor",
    "MemoryLimit",
    "MemoryProfiler",
    "MemorySnapshot",
    "MemorySpanProcessor",
    "ProfilerConfig",
    "TypeDrift",
    "__version__",
    "effective_memory_limit",
    "get_memory_exporter",
    "get_memory_profiler",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
