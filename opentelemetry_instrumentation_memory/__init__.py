"""OpenTelemetry-native memory monitoring for Python services.

``MemoryInstrumentor().instrument()`` starts a background profiler that snapshots the process,
finds leaking object types by their trend, and raises alerts.
"""

from ._alerts import Alert
from ._analysis import DetectionEvents
from ._baseline import BaselineDrift, TypeDrift
from ._config import ProfilerConfig
from ._exporter import MemoryExporter, get_memory_exporter
from ._instrumentor import MemoryInstrumentor
from ._leaks import Leak, LeakDetector
from ._limits import MemoryLimit, effective_memory_limit
from ._profiler import MemoryProfiler, get_memory_profiler
from ._sites import AllocationSite
from ._snapshot import MemorySnapshot
from ._spans import MemorySpanProcessor
from .version import __version__

__all__ = [
    "Alert",
    "AllocationSite",
    "BaselineDrift",
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
