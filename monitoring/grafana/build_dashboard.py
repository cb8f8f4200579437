"""Builds the memory-profiling Grafana dashboard with grafana-foundation-sdk (Grafana 11.x).

    python monitoring/grafana/build_dashboard.py   # rewrites dashboards/memory-profiling.json

The committed JSON is this script's output; a test rebuilds it and compares, and checks that every
query parses with promtool and returns data from a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.table import Panel as Table
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUTPUT = Path(__file__).parent / "dashboards" / "memory-profiling.json"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SELECTOR = 'job=~"$job", instance=~"$instance"'
INFO_LABELS = "object_type, entry_type, severity, owner, site"  # fogcompute_memory_leak_info's
HEAP = f"fogcompute_memory_heap_used_mb{{{SELECTOR}}}"
PSS = f"fogcompute_memory_process_pss_bytes{{{SELECTOR}}}"


def _hosted(expr: str) -> str:
    """``expr`` with a ``host`` label: the processes of one pod share its address (``instance`` is
    ``address:port``; on the Collector's path, with no port, each instance is its own host)."""
    return f'label_replace({expr}, "host", "$1", "instance", "(.+?)(?::[0-9]+)?")'


def _per_container(expr: str, by: str = "") -> str:
    """``max`` of ``expr`` per container: every process of a cgroup reports the same figures."""
    return f"max by (job, host{by}) ({_hosted(expr)})"


def _query(expr: str, legend: str, ref: str) -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _timeseries(title: str, unit: str, description: str, queries: List[Tuple[str, str]]) -> Timeseries:
    panel = Timeseries().title(title).unit(unit).description(description).datasource(DATASOURCE)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel.height(8).span(12)


def _thresholds(*steps: Tuple[float, str]) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green")] + [Threshold(value=v, color=c) for v, c in steps])
    )


def build() -> Dashboard:
    per_process = "{{job}}/{{instance}}"
    return (
        Dashboard("Python memory (opentelemetry-instrumentation-memory)")
        .uid("fogcompute-memory")
        .tags(["memory", "opentelemetry", "python"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            QueryVariable("job")
            .label("Job")
            .datasource(DATASOURCE)
            .query("label_values(fogcompute_memory_heap_used_mb, job)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
        )
        .with_variable(
            QueryVariable("instance")
            .label("Instance")
            .datasource(DATASOURCE)
            .query('label_values(fogcompute_memory_heap_used_mb{job=~"$job"}, instance)')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
        )
        .with_row(Row("Heap"))
        .with_panel(
            _timeseries(
                "Heap usage",
                "percent",
                "heap_used_mb as a percentage of the effective limit: under a cgroup limit the "
                "container's working set, what the OOM killer acts on (the same for every process of "
                "the container); under physical memory the process's RSS.",
                [(f"fogcompute_memory_heap_percent{{{SELECTOR}}}", per_process)],
            ).thresholds(_thresholds((80, "orange"), (90, "red")))
        )
        .with_panel(
            _timeseries(
                "Heap used and limit",
                "decmbytes",
                "heap_used_mb (the container's working set under a cgroup limit, else the process's RSS) "
                "and the limit it is measured against.",
                [
                    (HEAP, f"used {per_process}"),
                    (f"fogcompute_memory_heap_size_mb{{{SELECTOR}}}", f"limit {per_process}"),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Memory growth rate (MB/h)",
                "decmbytes",
                "Least-squares slope of resident memory over the last hour (deriv, right for a gauge).",
                [(f"deriv({HEAP}[1h]) * 3600", per_process)],
            ).thresholds(_thresholds((100, "orange"), (500, "red")))
        )
        .with_panel(
            _timeseries(
                "Forecast: heap in one hour against the limit",
                "decmbytes",
                "Resident memory one hour ahead at the last hour's trend; "
                "crossing the limit means an OOM kill.",
                [
                    (f"predict_linear({HEAP}[1h], 3600)", f"in 1h {per_process}"),
                    (f"fogcompute_memory_heap_size_mb{{{SELECTOR}}}", f"limit {per_process}"),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Time to memory limit",
                "s",
                "When resident memory reaches the limit at its robust recent trend (empty when not growing); "
                "MemoryOOMPredicted fires under the horizon.",
                [
                    (
                        f"fogcompute_memory_time_to_limit_seconds{{{SELECTOR}}} < +Inf",
                        f"time left {per_process}",
                    ),
                    (
                        f'fogcompute_memory_alert_threshold{{{SELECTOR}, setting="oom_horizon_seconds"}}',
                        f"horizon {per_process}",
                    ),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Anomalies: heap more than 25 % above its lowest of the last 6 hours",
                "decmbytes",
                "MB above the process's lowest resident memory of the last six hours, shown where that "
                "is more than 25 %. A steady leak climbs here and stays; a spike shows and goes. (A band "
                "of standard deviations around a moving mean follows a steady leak and never flags it.)",
                [
                    (
                        f"{HEAP} - min_over_time({HEAP}[6h]) > 0.25 * min_over_time({HEAP}[6h])",
                        per_process,
                    )
                ],
            )
        )
        .with_row(Row("Container and processes"))
        .with_panel(
            _timeseries(
                "Container memory by kind against the limit",
                "bytes",
                "The cgroup as the kernel charges it, one line set per container (the max over its "
                "processes, which all report the same): usage (memory.current / usage_in_bytes), "
                "working set (usage less inactive file pages: what heap_percent reads under a cgroup "
                "limit), anon, file (page cache, shmem within) and kernel, against the effective limit.",
                [
                    (
                        _per_container(f"fogcompute_memory_container_usage_bytes{{{SELECTOR}}}"),
                        "usage {{job}}/{{host}}",
                    ),
                    (
                        _per_container(f"fogcompute_memory_container_working_set_bytes{{{SELECTOR}}}"),
                        "working set {{job}}/{{host}}",
                    ),
                    (
                        _per_container(
                            f'fogcompute_memory_container_memory_bytes{{{SELECTOR}, kind!="shmem"}}', ", kind"
                        ),
                        "{{kind}} {{job}}/{{host}}",
                    ),
                    (
                        _per_container(f"fogcompute_memory_heap_size_mb{{{SELECTOR}}}") + " * 1048576",
                        "limit {{job}}/{{host}}",
                    ),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Per-process memory: RSS, PSS, USS (attribution)",
                "bytes",
                "Which process holds the container's memory. RSS counts pages shared with forked "
                "siblings whole in each; PSS splits them among the processes mapping them (a "
                "container's PSS adds up to what its processes hold, shown as the sum); USS is what "
                "a process's exit would free. PSS and USS are read at most every 30 s.",
                [
                    (f"fogcompute_memory_rss_mb{{{SELECTOR}}} * 1048576", f"RSS {per_process}"),
                    (PSS, f"PSS {per_process}"),
                    (f"fogcompute_memory_process_uss_bytes{{{SELECTOR}}}", f"USS {per_process}"),
                    (
                        f"sum by (job, host) ({_hosted(PSS)})",
                        "PSS, all processes {{job}}/{{host}}",
                    ),
                ],
            )
        )
        .with_panel(
            Stat()
            .title("What heap_percent measures")
            .description(
                "Processes by what their heap_used_mb and heap_percent are: container_working_set "
                "(a cgroup limit), container_usage (a cgroup limit, no working set from the kernel) or "
                "process_rss (no cgroup limit: physical memory)."
            )
            .datasource(DATASOURCE)
            .with_target(
                _query(
                    f"count by (source) (fogcompute_memory_heap_used_info{{{SELECTOR}}})", "{{source}}", "A"
                )
            )
            .height(8)
            .span(24)
        )
        .with_row(Row("Leaks"))
        .with_panel(
            Table()
            .title("Active leaks: what, who holds it, where it grows")
            .description(
                "One row per active leak (at most 20): kind (type, container, unattributed), the type "
                "or the container's owner path, its entry type, its dominant holder, its top allocation "
                "site, severity (from the leak's info series), and the memory it holds. "
                "docs/DIAGNOSIS.md explains each column."
            )
            .datasource(DATASOURCE)
            .with_target(
                _query(
                    f"sort_desc(fogcompute_memory_leak_retained_mb{{{SELECTOR}}}"
                    f" * on (job, instance, kind, leak) group_left ({INFO_LABELS})"
                    f" fogcompute_memory_leak_info{{{SELECTOR}}})",
                    "{{leak}}",
                    "A",
                )
                .instant()
                .format(PromQueryFormat.TABLE)
            )
            .unit("decmbytes")
            .height(8)
            .span(24)
        )
        .with_panel(
            Stat()
            .title("Active leaks (paging)")
            .description(
                "Object types growing persistently now, and those of them at or above the paging "
                "severity (by default: the leak alone fills the headroom within three days)."
            )
            .datasource(DATASOURCE)
            .with_target(_query(f"sum(fogcompute_memory_active_leaks{{{SELECTOR}}})", "active leaks", "A"))
            .with_target(_query(f"sum(fogcompute_memory_paging_leaks{{{SELECTOR}}})", "paging", "B"))
            .thresholds(_thresholds((1, "red")))
            .height(8)
            .span(6)
        )
        .with_panel(
            _timeseries(
                "Leak detections by severity",
                "short",
                "Leak onsets and escalations so far.",
                [
                    (
                        f"sum by (severity) (fogcompute_memory_leak_detections_total{{{SELECTOR}}})",
                        "{{severity}}",
                    )
                ],
            ).span(18)
        )
        .with_panel(
            _timeseries(
                "Top object types",
                "short",
                "The five most numerous object types.",
                [
                    (
                        f"topk(5, fogcompute_memory_object_count{{{SELECTOR}}})",
                        "{{object_type}} " + per_process,
                    )
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Total objects",
                "short",
                "Objects tracked by the garbage collector.",
                [(f"fogcompute_memory_total_objects{{{SELECTOR}}}", per_process)],
            )
        )
        .with_row(Row("Garbage collection and baseline"))
        .with_panel(
            _timeseries(
                "GC collections per second by generation",
                "ops",
                "Garbage collections per second; above 10/s for 5 minutes is a GC spike.",
                [
                    (
                        f"rate(fogcompute_memory_gc_collections_total{{{SELECTOR}}}[5m])",
                        "gen {{generation}} " + per_process,
                    )
                ],
            )
        )
        .with_panel(
            _timeseries(
                "GC pauses (p99 by generation, and the longest of the last minute)",
                "s",
                "Garbage-collection pauses timed through gc.callbacks.",
                [
                    (
                        "histogram_quantile(0.99, sum by (le, generation) "
                        f"(rate(fogcompute_memory_gc_pause_seconds_bucket{{{SELECTOR}}}[5m])))",
                        "p99 gen {{generation}}",
                    ),
                    (f"max(fogcompute_memory_gc_pause_max_seconds{{{SELECTOR}}})", "longest, last minute"),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Memory growth by span name (MB/s)",
                "decmbytes",
                "Resident memory gained per second by spans of each name (needs MemorySpanProcessor, "
                "OTEL_PYTHON_MEMORY_SPAN_PROCESSOR=true): which endpoints grow memory.",
                [
                    (
                        "topk(10, sum by (span_name) "
                        f"(rate(fogcompute_memory_span_rss_delta_mb_sum{{{SELECTOR}}}[5m])))",
                        "{{span_name}}",
                    )
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Baseline drift",
                "percent",
                "Resident memory drift from the baseline (the first snapshot, or the last reset).",
                [(f"fogcompute_memory_baseline_drift_percent{{{SELECTOR}}}", per_process)],
            ).thresholds(_thresholds((50, "orange"), (100, "red")))
        )
    )


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


def panel_queries(dashboard: dict) -> List[str]:
    """Every PromQL expression of the dashboard's panels."""
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


if __name__ == "__main__":
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT} ({len(panel_queries(json.loads(render())))} queries)")
