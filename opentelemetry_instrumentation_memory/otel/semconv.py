"""OpenTelemetry semantic-convention instruments, emitted beside the ``fogcompute_memory_*`` families.

Opt-in, by group: ``process`` (``process.memory.usage`` and ``process.memory.virtual``, in bytes)
and ``cpython`` (``cpython.gc.collections``, ``cpython.gc.collected_objects`` and
``cpython.gc.uncollectable_objects`` by ``cpython.gc.generation``). Off by default, so that an
upgrade adds no series: the conventions are still in development, and a host already running
contrib's system-metrics instrumentation reports the same names from its own meter.

The groups come from ``OTEL_PYTHON_MEMORY_SEMCONV`` (``process,cpython``), or from
``instrument(semconv=...)``. ``OTEL_SEMCONV_STABILITY_OPT_IN`` is not reused: its values
(``http``, ``database/dup``...) migrate a domain from old names to stable ones and are parsed by
every instrumentation in the process, while these are new names emitted in addition, with nothing
to migrate from.

Like every instrument of the package, these read the profiler's last snapshot and never the heap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from opentelemetry.metrics import Observation

from ..core.profiler import MemoryProfiler
from ..core.records import MB, MemorySnapshot
from ..core.validation import shown

PROCESS = "process"
CPYTHON = "cpython"
GROUPS = (PROCESS, CPYTHON)
SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"  # the conventions these names follow
GENERATION = "cpython.gc.generation"
UP_DOWN_COUNTER = "up_down_counter"
COUNTER = "counter"

_logger = logging.getLogger(__name__)

Reader = Callable[[MemoryProfiler], Iterable[Observation]]


@dataclass(frozen=True)
class SemconvSpec:
    group: str
    name: str
    kind: str
    unit: str
    description: str
    read: Reader


def _bytes(pick: Callable[[MemorySnapshot], float]) -> Reader:
    """Bytes from a figure the snapshot keeps in MiB (a power of two: the conversion is exact)."""

    def read(profiler: MemoryProfiler) -> Iterable[Observation]:
        snapshot = profiler.latest_snapshot
        return [] if snapshot is None else [Observation(round(pick(snapshot) * MB))]

    return read


def _by_generation(pick: Callable[[MemorySnapshot], tuple[int, ...]]) -> Reader:
    def read(profiler: MemoryProfiler) -> Iterable[Observation]:
        snapshot = profiler.latest_snapshot
        if snapshot is None:
            return []
        values = pick(snapshot)
        return [Observation(value, {GENERATION: generation}) for generation, value in enumerate(values)]

    return read


SEMCONV_INSTRUMENTS = (
    SemconvSpec(
        PROCESS,
        "process.memory.usage",
        UP_DOWN_COUNTER,
        "By",
        "The amount of physical memory in use.",
        _bytes(lambda s: s.rss_mb),
    ),
    SemconvSpec(
        PROCESS,
        "process.memory.virtual",
        UP_DOWN_COUNTER,
        "By",
        "The amount of committed virtual memory.",
        _bytes(lambda s: s.vms_mb),
    ),
    SemconvSpec(
        CPYTHON,
        "cpython.gc.collections",
        COUNTER,
        "{collection}",
        "The number of times a generation was collected since interpreter start.",
        _by_generation(lambda s: s.gc_collections),
    ),
    SemconvSpec(
        CPYTHON,
        "cpython.gc.collected_objects",
        COUNTER,
        "{object}",
        "The total number of objects collected inside a generation since interpreter start.",
        _by_generation(lambda s: s.gc_collected_by_generation),
    ),
    SemconvSpec(
        CPYTHON,
        "cpython.gc.uncollectable_objects",
        COUNTER,
        "{object}",
        "The total number of objects which were found to be uncollectable inside a generation since "
        "interpreter start.",
        _by_generation(lambda s: s.gc_uncollectable_by_generation),
    ),
)


def _groups(text: str) -> tuple[frozenset[str], list[str]]:
    """The known groups named in a comma-separated list, and the unknown names."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    return frozenset(n for n in names if n in GROUPS), [n for n in names if n not in GROUPS]


def require_semconv(name: str, value: object) -> frozenset[str]:
    """The groups asked for in code: a comma-separated string or an iterable of group names."""
    items: list[object] = [value]
    if isinstance(value, Iterable) and not isinstance(value, str):
        items = list(value)
    names = [item for item in items if isinstance(item, str)]
    if len(names) == len(items):
        known, unknown = _groups(",".join(names))
        if not unknown:
            return known
    raise ValueError(f"{name} must name groups among {', '.join(GROUPS)}, got {shown(value)}")


def semconv_from_environment(environ: Mapping[str, str], variable: str) -> frozenset[str]:
    """The groups named in ``variable``; unknown names are warned about and left out."""
    known, unknown = _groups(environ.get(variable, ""))
    if unknown:
        _logger.warning(
            "%s=%s: ignoring %d unknown group name(s), first %s; the groups are %s",
            variable,
            shown(environ[variable]),
            len(unknown),
            shown(unknown[0]),
            ", ".join(GROUPS),
        )
    return known
