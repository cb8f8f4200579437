"""The one table of settings: ``ProfilerConfig``'s defaults and validation, the environment variables
and the docs' settings tables all come from it (``python -m opentelemetry_instrumentation_memory.core.
settings_docs`` writes the generated parts), so that no doc can state a default the code lacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from .records import SEVERITIES

ENVIRONMENT_PREFIX = "OTEL_PYTHON_MEMORY_"
# Floors below which a setting would stop protecting the host rather than tune it.
# A snapshot every 10 ms costs a busy host nothing measurable (each takes about 0.1 ms); below that the
# loop competes with the host for the GIL (1e-300: 22,000 snapshots in 5 s, host throughput -90 %).
# The test suite's fastest loops run at 0.01 s.
MIN_SNAPSHOT_INTERVAL = 0.01
# At 0.01 % of wall time a census still runs: a 100 ms census (a heap of a million objects or so)
# every 17 minutes. Below, the census was silently off (1e-300: never again after the first).
MIN_CENSUS_BUDGET = 0.0001


@dataclass(frozen=True)
class Setting:
    """One setting. Sizes have upper bounds as well as lower ones: a history or window of billions
    would be an allocation the host cannot afford, whatever the configuration says.

    ``doc`` is one line of Markdown (`code` in single backticks). ``at_least`` and ``at_most`` name an
    earlier setting that bounds this one (a critical threshold is never below its warning). A ``str``
    without ``choices`` is a path, and ``unset`` says what its empty default stands for.
    """

    name: str
    kind: type
    default: Any
    doc: str
    minimum: float = 0.0
    maximum: Optional[float] = None
    exclusive_minimum: bool = False
    at_least: str = ""
    at_most: str = ""
    choices: Tuple[str, ...] = ()
    unset: str = ""

    @property
    def variable(self) -> str:
        return ENVIRONMENT_PREFIX + self.name.upper()


SETTINGS: Tuple[Setting, ...] = (
    Setting(
        "snapshot_interval",
        float,
        60.0,
        minimum=MIN_SNAPSHOT_INTERVAL,
        doc="Seconds between snapshots; below 0.01 the loop would compete with the program for the GIL.",
    ),
    Setting(
        "census_budget",
        float,
        0.01,
        minimum=MIN_CENSUS_BUDGET,
        maximum=1.0,
        doc="Share of wall time the object census may take (it holds the GIL); when a census costs more "
        "at the interval, censuses are spaced out while the cheap figures (memory, GC) keep every "
        "interval. Below 0.0001 the census would in effect never run again.",
    ),
    Setting(
        "census_max_pause",
        float,
        0.0,
        maximum=60.0,
        doc="Longest the census may hold the GIL in one call, in seconds (0: no bound); after three "
        "censuses in a row over it, the next is an hour later and object and leak figures stay as last "
        "counted (`census_interval_seconds` reads 3600). Listing the heap, the longest call, takes "
        "about 10 ms per million objects.",
    ),
    Setting(
        "enable_tracemalloc",
        bool,
        False,
        doc="Run tracemalloc while profiling: off by default, as it slows allocation 6-14 times over "
        "(measured).",
    ),
    Setting(
        "tracemalloc_frames",
        int,
        1,
        minimum=1,
        maximum=100,
        doc="Frames tracemalloc keeps per traced allocation.",
    ),
    Setting(
        "top_objects_count",
        int,
        20,
        maximum=10_000,
        doc="Object types exported with their counts (`top_objects`, `object_drift`, "
        "`fogcompute_memory_object_count`).",
    ),
    Setting(
        "history_size",
        int,
        1000,
        minimum=2,
        maximum=1_000_000,
        doc="Snapshots kept in the history ring.",
    ),
    Setting(
        "heap_warning_percent",
        float,
        80.0,
        maximum=100.0,
        doc="Heap percent of the memory limit above which `heap_warning` fires.",
    ),
    Setting(
        "heap_critical_percent",
        float,
        90.0,
        maximum=100.0,
        at_least="heap_warning_percent",
        doc="Heap percent of the memory limit above which `heap_critical` fires.",
    ),
    Setting(
        "growth_rate_warning",
        float,
        100.0,
        doc="Memory growth over the last hour, in MB per hour, above which `growth_rate_high` fires "
        "(the rule MemoryGrowthRateHigh).",
    ),
    Setting(
        "growth_rate_critical",
        float,
        500.0,
        at_least="growth_rate_warning",
        doc="Memory growth over the last hour, in MB per hour, above which `growth_rate_critical` fires "
        "(the rule MemoryGrowthRateCritical).",
    ),
    Setting(
        "growth_rate_window",
        int,
        60,
        minimum=3,
        maximum=10_000,
        doc="Snapshots the out-of-memory forecast's regression looks back over.",
    ),
    Setting(
        "oom_horizon_seconds",
        float,
        14400.0,
        exclusive_minimum=True,
        doc="Forecast horizon, in seconds, under which `oom_predicted` (MemoryOOMPredicted) fires "
        "(four hours by default).",
    ),
    Setting(
        "gc_spike_per_second",
        float,
        10.0,
        exclusive_minimum=True,
        doc="Collections per second over the last five minutes below which `gc_spike` never fires on "
        "the rate; above it, only at three times the process's normal rate (a busy service's steady "
        "rate is its normal, not a spike).",
    ),
    Setting(
        "gc_pause_warning_percent",
        float,
        5.0,
        maximum=100.0,
        doc="Share of wall time in collection pauses over the last five minutes, in percent, above "
        "which `gc_spike` fires whatever the rate.",
    ),
    Setting(
        "warmup_seconds",
        float,
        600.0,
        maximum=7 * 86400.0,
        doc="Seconds after the first snapshot before the baseline is settled, memory growth is "
        "rated and the process's normal collection rate is learnt: caches, pools and imports fill "
        "first, and a startup ramp is not growth.",
    ),
    Setting(
        "baseline_drift_warning_percent",
        float,
        50.0,
        doc="Memory drift from the baseline, in percent, above which `baseline_drift_high` fires.",
    ),
    Setting(
        "baseline_drift_critical_percent",
        float,
        100.0,
        at_least="baseline_drift_warning_percent",
        doc="Memory drift from the baseline, in percent, above which `baseline_drift_critical` fires.",
    ),
    Setting(
        "significant_drift_percent",
        float,
        50.0,
        doc="A type's drift from its baseline count, in percent, that makes it significant.",
    ),
    Setting(
        "significant_drift_min_count",
        int,
        100,
        doc="The fewest objects a type must drift by to be significant.",
    ),
    Setting(
        "leak_window",
        int,
        48,
        minimum=8,
        maximum=10_000,
        doc="Snapshots each type's trend is judged over (docs/LEAK_DETECTION.md).",
    ),
    Setting(
        "leak_min_snapshots",
        int,
        12,
        minimum=8,
        at_most="leak_window",
        doc="Snapshots before a type can first be judged a leak; growth in a type watched longer is "
        "judged as soon as it stands out (docs/LEAK_DETECTION.md).",
    ),
    Setting(
        "leak_min_growth",
        int,
        50,
        minimum=1,
        doc="The smallest growth, in objects over the window, reported as a leak.",
    ),
    Setting(
        "max_detected_leaks",
        int,
        100,
        minimum=1,
        maximum=100_000,
        doc="Leak records kept for `get_detected_leaks()`, the oldest dropped first.",
    ),
    Setting(
        "leak_alert_severity",
        str,
        "high",
        choices=SEVERITIES,
        doc="Least leak severity that raises `leak_detected` and counts in `paging_leaks`; every leak is "
        "still recorded, logged and counted.",
    ),
    Setting(
        "heap_sampling",
        bool,
        True,
        doc="Sample allocations all along (the `_sampler` extension, about one per "
        "`heap_sampling_interval` bytes allocated): each leak's sites come from the live sampled heap "
        "at its verdict, and tracemalloc is never touched. Off, or where the extension is not built, "
        "sites come from tracemalloc windows (`leak_site_capture`).",
    ),
    Setting(
        "heap_sampling_interval",
        int,
        512 * 1024,
        minimum=1024,
        maximum=1 << 30,
        doc="Mean bytes allocated between two sampled allocations (random, exponential intervals): "
        "smaller finds small leaks' lines sooner and costs more (docs/PERFORMANCE.md).",
    ),
    Setting(
        "leak_site_capture",
        bool,
        True,
        doc="Without heap sampling: on a new leak, turn tracemalloc on for a short window and report the "
        "allocation sites that grew most; off, tracemalloc is never touched.",
    ),
    Setting(
        "leak_site_window_seconds",
        float,
        5.0,
        maximum=300.0,
        exclusive_minimum=True,
        doc="How long that capture keeps tracemalloc on, in seconds.",
    ),
    Setting(
        "leak_site_cooldown_seconds",
        float,
        600.0,
        doc="The least time between two captures, in seconds: repeated leaks do not keep tracemalloc on.",
    ),
    Setting(
        "leak_site_path_root",
        str,
        "",
        unset="the working directory",
        doc="Allocation-site paths under this directory are reported relative to it; paths under "
        "site-packages or dist-packages start at the package, wherever they are.",
    ),
    Setting(
        "leak_owner_literal_keys",
        bool,
        False,
        doc="Name dict keys in leak owner paths by their text (`SESSIONS['alice@example.com']`), not by "
        "type and a short salted digest (`SESSIONS[<str #3f2a9c>]`). Risk: literal keys are the "
        "program's data (session tokens, e-mail addresses), and they leave the process as metric label "
        "values and log attributes, to whoever reads those (docs/OPERATIONS.md, What leaves the process).",
    ),
)

BY_NAME: Dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def default(name: str) -> Any:
    """``name``'s default, for ``ProfilerConfig``'s field declarations."""
    return BY_NAME[name].default
