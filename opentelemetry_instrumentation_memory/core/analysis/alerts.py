"""The alert engine: Prometheus's rule semantics over the process's own signals.

An alert becomes pending at the first evaluation where its rule holds, fires at the first
evaluation at least ``for`` seconds later if it held at every evaluation between, and resolves at the
first evaluation where it does not hold: what Prometheus does with the same rule on the exported
series, evaluated at the same instants.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

from ..records import FIRING, RESOLVED, Alert
from .rules import ALERT_RULES, AlertRule

INACTIVE, PENDING, ACTIVE = 0, 1, 2  # exported as the alert's state gauge


def describe(rule: AlertRule, value: float) -> str:
    """The rule's description with its value, as the Prometheus annotation renders it."""
    if rule.value_format == "duration":
        shown = _duration(value)
    else:
        shown = rule.value_format % value
    return rule.description.replace("{value}", shown)


def _duration(seconds: float) -> str:
    """Prometheus's humanizeDuration for a second or more: ``1h 0m 5s``, ``2m 3s``, ``42s``."""
    if seconds < 1.0:
        return f"{seconds:.4g}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{seconds:.4g}s"


class AlertEngine:
    """Evaluates every rule at each snapshot and returns the transitions: each alert fires once per
    episode and resolves once."""

    def __init__(self, rules: Tuple[AlertRule, ...] = ALERT_RULES) -> None:
        self._rules = rules
        self._active_since: Dict[str, float] = {}
        self._firing: Dict[str, Alert] = {}

    @property
    def firing(self) -> List[Alert]:
        return list(self._firing.values())

    def states(self) -> Dict[str, int]:
        """Each alert's state by rule name: INACTIVE, PENDING or ACTIVE (firing)."""
        return {
            rule.name: ACTIVE
            if rule.type in self._firing
            else PENDING
            if rule.name in self._active_since
            else INACTIVE
            for rule in self._rules
        }

    def evaluate(
        self, signals: Mapping[str, Optional[float]], settings: object, timestamp: float
    ) -> List[Alert]:
        transitions = []
        for rule in self._rules:
            reading = rule.reading(signals, settings)
            if reading is None:
                self._active_since.pop(rule.name, None)
                fired = self._firing.pop(rule.type, None)
                if fired is not None:
                    transitions.append(self._alert(rule, RESOLVED, fired.value, fired.threshold, timestamp))
                continue
            since = self._active_since.setdefault(rule.name, timestamp)
            if rule.type not in self._firing and timestamp - since >= rule.for_seconds:
                alert = self._alert(rule, FIRING, reading[0], reading[1], timestamp)
                self._firing[rule.type] = alert
                transitions.append(alert)
        return transitions

    @staticmethod
    def _alert(rule: AlertRule, state: str, value: float, threshold: float, timestamp: float) -> Alert:
        message = describe(rule, value)
        return Alert(
            type=rule.type,
            severity=rule.severity,
            state=state,
            message=message if state == FIRING else f"resolved: {message}",
            value=value,
            threshold=threshold,
            timestamp=timestamp,
        )
