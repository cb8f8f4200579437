"""OpenTelemetry-native memory monitoring for Python services.

``MemoryInstrumentor().instrument()`` starts a background profiler that snapshots the process,
finds leaking object types by their trend, and raises alerts.
"""

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
from .otel.exporter import MemoryExporter, get_memory_exporter
from .otel.instrumentor import MemoryInstrumentor
from .otel.spans import MemorySpanProcessor
from .version import __version__

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
