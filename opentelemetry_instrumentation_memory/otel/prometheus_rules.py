"""The shipped Prometheus alert rules, written from the alert definitions the in-process engine reads
(core/analysis/rules.py): ``python -m opentelemetry_instrumentation_memory.otel.prometheus_rules``
rewrites monitoring/alerting/memory_alerts.yml, and a test fails when the file differs."""

from __future__ import annotations

import json
import sys
from typing import List, Optional, Sequence

from ..core.analysis.rules import ALERT_RULES, AlertRule, Comparison
from .metrics import PREFIX

BY = "by (job, instance)"
ON = "on (job, instance)"
THRESHOLD = PREFIX + "alert_threshold"
RULES_PATH = "monitoring/alerting/memory_alerts.yml"

HEADER = f"""\
# Memory alerts for processes instrumented with opentelemetry-instrumentation-memory.
#
# Written by `python -m opentelemetry_instrumentation_memory.otel.prometheus_rules {RULES_PATH}`
# from the definitions the in-process alert engine evaluates (core/analysis/rules.py): an alert
# callback fires when and only when the rule of the same name would on the exported series. Edit
# those definitions, not this file.
#
# Each rule compares a figure the process computes and exports with a threshold it exports,
# {THRESHOLD}{{setting="<setting>"}}: a threshold set in the process (configure(),
# OTEL_PYTHON_MEMORY_*) moves the rule too. Figures are absent until the process can state them
# (growth: ten minutes after the warm-up; drift: after the warm-up; the collection rates: after five
# minutes; the forecast: while memory grows), and an absent figure holds no rule.
#
# Every rule aggregates "by (job, instance)": one alert per process, whether scraped from the
# process itself (job "memory-profiler", port 9202) or received through the OpenTelemetry Collector
# (job and instance from service.name and service.instance.id), never matching otel_scope_* labels.
#
# Unit tests: promtool test rules monitoring/alerting/memory_alerts_test.yml
# Runbook: docs/RUNBOOK.md (runbook_url below points into it, relative to the repository).
"""


def _side(comparison: Comparison) -> str:
    aggregate = "min" if comparison.below else "max"
    return f"{aggregate} {BY} ({PREFIX}{comparison.signal})"


def _threshold(comparison: Comparison) -> str:
    if comparison.setting is not None:
        aggregate = "min" if comparison.below else "max"
        return f'{ON} {aggregate} {BY} ({THRESHOLD}{{setting="{comparison.setting}"}})'
    if comparison.literal is not None:
        return f"{comparison.literal:g}"
    return f"{ON} {comparison.factor:g} * max {BY} ({PREFIX}{comparison.factor_of})"


def alternative_expression(comparisons: Sequence[Comparison]) -> str:
    """Comparisons of one signal, chained: ``a > x > y`` keeps ``a`` where it exceeds both."""
    signal = comparisons[0].signal
    if any(comparison.signal != signal for comparison in comparisons):
        raise ValueError(f"comparisons must share one signal, got {[c.signal for c in comparisons]!r}")
    parts = [_side(comparisons[0])]
    for comparison in comparisons:
        parts.append(f"{'<' if comparison.below else '>'} {_threshold(comparison)}")
    return " ".join(parts)


def expression(rule: AlertRule) -> str:
    alternatives = [alternative_expression(alternative) for alternative in rule.any_of]
    if len(alternatives) == 1:
        return alternatives[0]
    return " or ".join(f"({alternative})" for alternative in alternatives)


def _value(rule: AlertRule) -> str:
    if rule.value_format == "duration":
        return "{{ $value | humanizeDuration }}"
    return '{{ $value | printf "' + rule.value_format + '" }}'


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def render_rule(rule: AlertRule) -> List[str]:
    summary = rule.summary.replace("{instance}", "{{ $labels.instance }}")
    description = "{{ $labels.job }}/{{ $labels.instance }} " + rule.description.replace(
        "{value}", _value(rule)
    )
    return [
        f"      - alert: {rule.name}",
        f"        expr: {expression(rule)}",
        f"        for: {_duration(rule.for_seconds)}",
        "        labels:",
        f"          severity: {rule.severity}",
        "        annotations:",
        f"          summary: {json.dumps(summary)}",
        f"          description: {json.dumps(description)}",
        f"          runbook_url: {json.dumps('docs/RUNBOOK.md#' + rule.name.lower())}",
    ]


def render() -> str:
    lines = [HEADER.rstrip("\n"), "groups:", "  - name: fogcompute-memory", "    rules:"]
    for index, rule in enumerate(ALERT_RULES):
        if index:
            lines.append("")
        lines += render_rule(rule)
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    text = render()
    if arguments:
        with open(arguments[0], "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
