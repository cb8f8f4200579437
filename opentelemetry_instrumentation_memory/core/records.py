"""The records the profiler produces: frozen dataclasses with ``to_dict()``, and nothing else.

Every layer passes these around; none of them imports the machinery that samples the process, so
the analysis depends only on data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = [
    "FIRING",
    "MB",
    "RESOLVED",
    "SEVERITIES",
    "Alert",
    "AllocationSite",
    "BaselineDrift",
    "ContainerMemory",
    "DetectionEvents",
    "Leak",
    "MemoryLimit",
    "MemorySnapshot",
    "TypeDrift",
    "USAGE_CONTAINER",
    "USAGE_CONTAINER_WORKING_SET",
    "USAGE_PROCESS_RSS",
    "USAGE_SOURCES",
]

MB = float(1 << 20)  # 1 MB is 2**20 bytes throughout
SEVERITIES = ("low", "medium", "high", "critical")  # leak severities, least first
# What ``MemorySnapshot.heap_used_mb`` measures: the cgroup's working set (usage less inactive file
# pages, as the kubelet and cAdvisor compute it), its usage when the kernel gives no working set, or
# the process's resident memory where the limit is not a cgroup's.
USAGE_CONTAINER_WORKING_SET = "container_working_set"
USAGE_CONTAINER = "container_usage"
USAGE_PROCESS_RSS = "process_rss"
USAGE_SOURCES = (USAGE_CONTAINER_WORKING_SET, USAGE_CONTAINER, USAGE_PROCESS_RSS)
FIRING = "firing"
RESOLVED = "resolved"


class _SeedMapping:
    """``record["name"]`` as the seed's callbacks read it; ``to_dict()`` is the dict view."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        return getattr(self, key)


@dataclass(frozen=True)
class MemoryLimit:
    """The memory limit the process runs against, and where it comes from."""

    bytes: int
    source: str


@dataclass(frozen=True)
class ContainerMemory:
    """The process's cgroup as the kernel charges it, in bytes: ``usage_bytes`` is what the kernel
    compares with the limit (v2 ``memory.current``, v1 ``memory.usage_in_bytes``); the working set
    is the usage less inactive file pages, as the kubelet evicts on; the kinds come from
    ``memory.stat`` (``shmem`` is part of ``file``). None: the kernel does not say."""

    source: str  # cgroup_v2 or cgroup_v1
    usage_bytes: int
    working_set_bytes: int | None = None
    anon_bytes: int | None = None
    file_bytes: int | None = None
    kernel_bytes: int | None = None
    shmem_bytes: int | None = None


@dataclass(frozen=True)
class MemorySnapshot:
    """One reading of the process. ``heap_*`` describe memory against the effective limit: where
    that limit is a cgroup's and its reading is at hand, the cgroup's working set (else its usage),
    what the kernel kills on; elsewhere the process's resident memory. ``usage_source`` says which
    (``USAGE_SOURCES``). ``rss_mb``, ``pss_bytes`` and ``uss_bytes`` are the process's own,
    whatever ``heap_*`` describe: its share of the container, for attribution.

    ``census`` says whether the objects were counted for this snapshot; when not, the object
    figures are those of the last census and ``census_ms`` is 0.
    """

    timestamp: float
    heap_used_mb: float
    heap_size_mb: float
    heap_percent: float
    rss_mb: float
    vms_mb: float
    total_objects: int
    top_objects: tuple[tuple[str, int], ...]
    gc_collections: tuple[int, ...]
    gc_collected: int
    gc_uncollectable: int
    tracemalloc_current_mb: float
    tracemalloc_peak_mb: float
    limit_source: str
    census_ms: float
    duration_ms: float
    census: bool = True
    gc_pause_seconds: float = 0.0  # time spent in collection pauses since profiling started
    gc_collected_by_generation: tuple[int, ...] = ()  # gc_collected and gc_uncollectable per generation
    gc_uncollectable_by_generation: tuple[int, ...] = ()
    container: ContainerMemory | None = None  # the process's cgroup; None outside one (or unreadable)
    usage_source: str = USAGE_PROCESS_RSS  # what heap_used_mb is: one of USAGE_SOURCES
    # The process's proportional set size (each shared page split among the processes mapping it)
    # and unique set size (pages no other process maps), in bytes: read at most every 30 s, the last
    # reading between. None where they cannot be read.
    pss_bytes: int | None = None
    uss_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["top_objects"] = dict(self.top_objects)
        record["gc_collections"] = list(self.gc_collections)
        record["gc_collected_by_generation"] = list(self.gc_collected_by_generation)
        record["gc_uncollectable_by_generation"] = list(self.gc_uncollectable_by_generation)
        return record


@dataclass(frozen=True)
class AllocationSite:
    """A line that allocated a leak's objects: from the sampled heap, the estimated live bytes and
    blocks of them it holds; from a tracemalloc window, what it added during the window.
    ``traceback`` is oldest first."""

    file: str
    line: int
    size_diff_bytes: int
    count_diff: int
    traceback: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line} +{self.size_diff_bytes / 1024:.1f} KiB in {self.count_diff:+d} blocks"
        )


@dataclass(frozen=True)
class Leak(_SeedMapping):
    """Something that grows persistently; growth figures describe the analysis window.

    ``kind`` is ``"type"`` (the objects of ``object_type`` grow in number), ``"container"`` (the
    container of type ``object_type`` at the owner path ``container`` grows in length; counts are
    entries) or ``"unattributed"`` (resident memory grows and nothing above explains it).
    ``retained_by`` names the dominant holders of a sample of the leaking objects, with the share of
    the sample each holds. ``entry_type`` is set on a container leak that holds (nearly) all of a
    leaking type's objects: one bug, reported once, as the container's leak of that type (of each
    such type, comma-separated). ``outside_python`` is set on an unattributed leak when the sampled
    heap shows Python's allocators did not make its growth (a C library's ``malloc``): no Python
    line is named for it then.

    ``severity`` ranks the leak by the time it alone would take to fill the headroom to the memory
    limit, from ``retained_bytes_per_hour``: the object rate times ``bytes_per_object``, estimated
    from a sample of the leaking objects (docs/LEAK_DETECTION.md).
    """

    object_type: str
    severity: str
    growth_count: int
    growth_percent: float
    growth_rate_per_hour: float
    current_count: int
    first_detected: float
    last_detected: float
    sites: tuple[AllocationSite, ...] = ()
    bytes_per_object: float = 0.0
    retained_bytes: int = 0
    retained_bytes_per_hour: float = 0.0
    kind: str = "type"
    container: str = ""
    retained_by: tuple[tuple[str, float], ...] = ()
    entry_type: str = ""
    outside_python: bool = False

    @property
    def key(self) -> str:
        """What the leak is about: the owner path of a container, the type otherwise."""
        return self.container or self.object_type

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["sites"] = [{**site, "traceback": list(site["traceback"])} for site in record["sites"]]
        record["retained_by"] = [{"holder": holder, "share": share} for holder, share in self.retained_by]
        return record


@dataclass(frozen=True)
class Alert(_SeedMapping):
    """An alert's onset (``state == "firing"``) or resolution (``"resolved"``)."""

    type: str
    severity: str
    state: str
    message: str
    value: float
    threshold: float
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TypeDrift:
    object_type: str
    baseline_count: int
    current_count: int
    drift: int
    drift_percent: float


@dataclass(frozen=True)
class BaselineDrift:
    """Where the process stands against its baseline; ``object_drift`` holds the largest movers."""

    baseline_timestamp: float
    timestamp: float
    heap_drift_mb: float
    heap_drift_percent: float
    total_objects_drift: int
    object_drift: Mapping[str, int]
    significant_drifts: tuple[TypeDrift, ...]

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["object_drift"] = dict(self.object_drift)
        return record

    def with_heap(self, base: MemorySnapshot, current: MemorySnapshot) -> BaselineDrift:
        drift = current.heap_used_mb - base.heap_used_mb
        percent = 100.0 * drift / base.heap_used_mb if base.heap_used_mb else 0.0
        return replace(self, timestamp=current.timestamp, heap_drift_mb=drift, heap_drift_percent=percent)


@dataclass(frozen=True)
class DetectionEvents:
    """What one snapshot brought: the leaks that started or worsened, and the alert transitions."""

    snapshot: MemorySnapshot
    leaks: tuple[Leak, ...]
    alerts: tuple[Alert, ...]
