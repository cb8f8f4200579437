"""One configuration record: its defaults and its validation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, Mapping, Optional

from .records import SEVERITIES
from .validation import (
    parse_ascii_float,
    parse_ascii_int,
    require_bool,
    require_host,
    require_int,
    require_number,
    shown,
)

_logger = logging.getLogger(__name__)
ENVIRONMENT_PREFIX = "OTEL_PYTHON_MEMORY_"
_REASON_CHARACTERS = 160
# Floors below which a setting would stop protecting the host rather than tune it.
# A snapshot every 10 ms costs a busy host nothing measurable (each takes about 0.1 ms); below that the
# loop competes with the host for the GIL (1e-300: 22,000 snapshots in 5 s, host throughput -90 %).
# The test suite's fastest loops run at 0.01 s.
MIN_SNAPSHOT_INTERVAL = 0.01
# At 0.01 % of wall time a census still runs: a 100 ms census (a heap of a million objects or so)
# every 17 minutes. Below, the census was silently off (1e-300: never again after the first).
MIN_CENSUS_BUDGET = 0.0001


@dataclass(frozen=True)
class ProfilerConfig:
    """Every setting of the profiler; invalid values raise ``ValueError`` naming the argument.

    Sizes have upper bounds as well as lower ones: a history or window of billions would be an
    allocation the host cannot afford, whatever the configuration says.
    """

    snapshot_interval: float = 60.0
    census_budget: float = 0.01
    census_max_pause: float = 0.0
    enable_tracemalloc: bool = False
    tracemalloc_frames: int = 1
    top_objects_count: int = 20
    history_size: int = 1000
    heap_warning_percent: float = 80.0
    heap_critical_percent: float = 90.0
    growth_rate_warning: float = 100.0
    growth_rate_critical: float = 500.0
    growth_rate_window: int = 60
    oom_horizon_seconds: float = 14400.0
    gc_spike_per_second: float = 10.0
    gc_pause_warning_percent: float = 5.0
    warmup_seconds: float = 600.0
    baseline_drift_warning_percent: float = 50.0
    baseline_drift_critical_percent: float = 100.0
    significant_drift_percent: float = 50.0
    significant_drift_min_count: int = 100
    leak_window: int = 48
    leak_min_snapshots: int = 24
    leak_min_growth: int = 50
    max_detected_leaks: int = 100
    leak_alert_severity: str = "high"
    leak_site_capture: bool = True
    leak_site_window_seconds: float = 5.0
    leak_site_cooldown_seconds: float = 600.0
    leak_site_path_root: str = ""
    leak_owner_literal_keys: bool = False

    def __post_init__(self) -> None:
        require_number("snapshot_interval", self.snapshot_interval, MIN_SNAPSHOT_INTERVAL)
        require_number("census_budget", self.census_budget, MIN_CENSUS_BUDGET, 1.0)
        require_number("census_max_pause", self.census_max_pause, 0.0, 60.0)
        require_bool("enable_tracemalloc", self.enable_tracemalloc)
        require_int("tracemalloc_frames", self.tracemalloc_frames, 1, 100)
        require_int("top_objects_count", self.top_objects_count, 0, 10_000)
        require_int("history_size", self.history_size, 2, 1_000_000)
        require_number("heap_warning_percent", self.heap_warning_percent, 0.0, 100.0)
        require_number("heap_critical_percent", self.heap_critical_percent, 0.0, 100.0)
        if self.heap_critical_percent < self.heap_warning_percent:
            raise ValueError(
                f"heap_critical_percent must be >= heap_warning_percent ({self.heap_warning_percent}), "
                f"got {self.heap_critical_percent!r}"
            )
        require_number("growth_rate_warning", self.growth_rate_warning, 0.0)
        require_number("growth_rate_critical", self.growth_rate_critical, 0.0)
        if self.growth_rate_critical < self.growth_rate_warning:
            raise ValueError(
                f"growth_rate_critical must be >= growth_rate_warning ({self.growth_rate_warning}), "
                f"got {self.growth_rate_critical!r}"
            )
        require_int("growth_rate_window", self.growth_rate_window, 3, 10_000)
        require_number("oom_horizon_seconds", self.oom_horizon_seconds, 0.0, inclusive_minimum=False)
        require_number("gc_spike_per_second", self.gc_spike_per_second, 0.0, inclusive_minimum=False)
        require_number("gc_pause_warning_percent", self.gc_pause_warning_percent, 0.0, 100.0)
        require_number("warmup_seconds", self.warmup_seconds, 0.0, 7 * 86400.0)
        require_number("baseline_drift_warning_percent", self.baseline_drift_warning_percent, 0.0)
        require_number("baseline_drift_critical_percent", self.baseline_drift_critical_percent, 0.0)
        if self.baseline_drift_critical_percent < self.baseline_drift_warning_percent:
            raise ValueError(
                "baseline_drift_critical_percent must be >= baseline_drift_warning_percent "
                f"({self.baseline_drift_warning_percent}), got {self.baseline_drift_critical_percent!r}"
            )
        require_number("significant_drift_percent", self.significant_drift_percent, 0.0)
        require_int("significant_drift_min_count", self.significant_drift_min_count, 0)
        require_int("leak_window", self.leak_window, 8, 10_000)
        require_int("leak_min_snapshots", self.leak_min_snapshots, 8, self.leak_window)
        require_int("leak_min_growth", self.leak_min_growth, 1)
        require_int("max_detected_leaks", self.max_detected_leaks, 1, 100_000)
        if self.leak_alert_severity not in SEVERITIES:
            raise ValueError(
                f"leak_alert_severity must be one of {', '.join(SEVERITIES)}, "
                f"got {self.leak_alert_severity!r}"
            )
        require_bool("leak_site_capture", self.leak_site_capture)
        require_number(
            "leak_site_window_seconds", self.leak_site_window_seconds, 0.0, 300.0, inclusive_minimum=False
        )
        require_number("leak_site_cooldown_seconds", self.leak_site_cooldown_seconds, 0.0)
        if not isinstance(self.leak_site_path_root, str):
            raise ValueError(f"leak_site_path_root must be a path, got {shown(self.leak_site_path_root)}")
        require_bool("leak_owner_literal_keys", self.leak_owner_literal_keys)

    def updated(self, **changes: Any) -> "ProfilerConfig":
        """A validated copy with ``changes``; an unknown name is a ``ValueError`` too."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ValueError(f"unknown configuration argument {unknown[0]!r}")
        return replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in field_names()}


def field_names() -> tuple:
    return tuple(field.name for field in fields(ProfilerConfig))


def _parse(raw: str, kind: type) -> Any:
    """``raw`` as a ``kind``: ``true``/``false`` (any case), ASCII digits for numbers, a string as is."""
    if kind is bool:
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"not true or false: {shown(raw)}")
        return lowered == "true"
    if kind is int:
        return parse_ascii_int(raw)
    if kind is float:
        return parse_ascii_float(raw)
    return kind(raw)


def settings_from_environment(environ: Mapping[str, str]) -> Dict[str, Any]:
    """Settings given by ``OTEL_PYTHON_MEMORY_*`` variables.

    A malformed value never raises: it is logged as a warning naming the variable, and skipped so
    that the default applies.
    """
    config = ProfilerConfig()
    settings: Dict[str, Any] = {}
    for field in fields(ProfilerConfig):
        variable = ENVIRONMENT_PREFIX + field.name.upper()
        raw = environ.get(variable, "").strip()
        if not raw:
            continue
        try:
            value = _parse(raw, type(field.default))
            config = config.updated(**{field.name: value})
        except ValueError as error:
            _logger.warning(
                "%s=%s is not valid (%s); using the default %r",
                variable,
                shown(raw),
                _reason(error),
                field.default,
            )
            continue
        settings[field.name] = value
    return settings


def port_from_environment(environ: Mapping[str, str], variable: str, default: Optional[int]) -> Optional[int]:
    """A TCP port from ``variable``; a malformed one is warned about and ``default`` used."""
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        return require_int(variable, parse_ascii_int(raw), 0, 65535)
    except ValueError:
        _logger.warning("%s=%s is not a TCP port; using the default %r", variable, shown(raw), default)
        return default


def flag_from_environment(environ: Mapping[str, str], variable: str, default: bool) -> bool:
    """``true`` or ``false`` from ``variable``; anything else is warned about and ``default`` used."""
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        return _parse(raw, bool)
    except ValueError:
        _logger.warning("%s=%s is not true or false; using the default %r", variable, shown(raw), default)
        return default


def host_from_environment(environ: Mapping[str, str], variable: str, default: str) -> str:
    """An address to bind from ``variable``; a malformed one is warned about and ``default`` used."""
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        return require_host(variable, raw)
    except ValueError:
        _logger.warning(
            "%s=%s is not an IP address or a host name; using the default %r", variable, shown(raw), default
        )
        return default


def _reason(error: ValueError) -> str:
    """Why a value was refused, cut short: a conversion's message quotes the whole value."""
    text = str(error)
    return text if len(text) <= _REASON_CHARACTERS else text[: _REASON_CHARACTERS - 3] + "..."
