"""One configuration record, validated by ``core/settings.py``'s table, and its environment variables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, Mapping, Optional

from .settings import SETTINGS, Setting, default
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
_REASON_CHARACTERS = 160


@dataclass(frozen=True)
class ProfilerConfig:
    """Every setting of the profiler, as ``core/settings.py``'s table has it (names, types, defaults
    and bounds); invalid values raise ``ValueError`` naming the argument."""

    snapshot_interval: float = default("snapshot_interval")
    census_budget: float = default("census_budget")
    census_max_pause: float = default("census_max_pause")
    enable_tracemalloc: bool = default("enable_tracemalloc")
    tracemalloc_frames: int = default("tracemalloc_frames")
    top_objects_count: int = default("top_objects_count")
    history_size: int = default("history_size")
    heap_warning_percent: float = default("heap_warning_percent")
    heap_critical_percent: float = default("heap_critical_percent")
    growth_rate_warning: float = default("growth_rate_warning")
    growth_rate_critical: float = default("growth_rate_critical")
    growth_rate_window: int = default("growth_rate_window")
    oom_horizon_seconds: float = default("oom_horizon_seconds")
    gc_spike_per_second: float = default("gc_spike_per_second")
    gc_pause_warning_percent: float = default("gc_pause_warning_percent")
    warmup_seconds: float = default("warmup_seconds")
    baseline_drift_warning_percent: float = default("baseline_drift_warning_percent")
    baseline_drift_critical_percent: float = default("baseline_drift_critical_percent")
    significant_drift_percent: float = default("significant_drift_percent")
    significant_drift_min_count: int = default("significant_drift_min_count")
    leak_window: int = default("leak_window")
    leak_min_snapshots: int = default("leak_min_snapshots")
    leak_min_growth: int = default("leak_min_growth")
    max_detected_leaks: int = default("max_detected_leaks")
    leak_alert_severity: str = default("leak_alert_severity")
    heap_sampling: bool = default("heap_sampling")
    heap_sampling_interval: int = default("heap_sampling_interval")
    leak_site_capture: bool = default("leak_site_capture")
    leak_site_window_seconds: float = default("leak_site_window_seconds")
    leak_site_cooldown_seconds: float = default("leak_site_cooldown_seconds")
    leak_site_path_root: str = default("leak_site_path_root")
    leak_owner_literal_keys: bool = default("leak_owner_literal_keys")

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            _check(setting, self)

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


def _check(setting: Setting, config: ProfilerConfig) -> None:
    """``setting``'s value in ``config`` within its bounds; those it has from an earlier setting
    (``at_least``, ``at_most``) are read from ``config``, already checked."""
    name, value = setting.name, getattr(config, setting.name)
    if setting.kind is bool:
        require_bool(name, value)
    elif setting.kind is int:
        maximum = getattr(config, setting.at_most) if setting.at_most else setting.maximum
        require_int(name, value, int(setting.minimum), None if maximum is None else int(maximum))
    elif setting.kind is float:
        require_number(name, value, setting.minimum, setting.maximum, not setting.exclusive_minimum)
    elif setting.choices:
        if value not in setting.choices:
            raise ValueError(f"{name} must be one of {', '.join(setting.choices)}, got {shown(value)}")
    elif not isinstance(value, str):
        raise ValueError(f"{name} must be a path, got {shown(value)}")
    if setting.at_least and value < getattr(config, setting.at_least):
        raise ValueError(
            f"{name} must be >= {setting.at_least} ({getattr(config, setting.at_least)}), got {shown(value)}"
        )


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
    for setting in SETTINGS:
        raw = environ.get(setting.variable, "").strip()
        if not raw:
            continue
        try:
            value = _parse(raw, setting.kind)
            config = config.updated(**{setting.name: value})
        except ValueError as error:
            _logger.warning(
                "%s=%s is not valid (%s); using the default %r",
                setting.variable,
                shown(raw),
                _reason(error),
                setting.default,
            )
            continue
        settings[setting.name] = value
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
