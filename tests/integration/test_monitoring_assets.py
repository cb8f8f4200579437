"""The monitoring assets, checked by promtool and against the spec's alert table."""

import json
import re

import pytest
import yaml

from opentelemetry_instrumentation_memory import ProfilerConfig

from .promtool import MONITORING, ROOT, RULES, check_expressions_parse, promtool, substitute_grafana_variables

SPEC_TABLE = {
    # alert: (the setting its threshold is, the spec's threshold, for, severity) -- the spec's
    # "Alert Rules Summary"; the rules read each threshold from the process, whose default is the spec's
    "MemoryHeapCritical": ("heap_critical_percent", 90, "5m", "critical"),
    "MemoryHeapWarning": ("heap_warning_percent", 80, "10m", "warning"),
    "MemoryLeakDetected": (None, 0, "15m", "critical"),
    "MemoryGrowthRateHigh": ("growth_rate_warning", 100, "1h", "warning"),
    "MemoryGrowthRateCritical": ("growth_rate_critical", 500, "30m", "critical"),
    "MemoryGCSpike": ("gc_spike_per_second", 10, "5m", "warning"),
    "MemoryBaselineDriftHigh": ("baseline_drift_warning_percent", 50, "1h", "warning"),
    "MemoryBaselineDriftCritical": ("baseline_drift_critical_percent", 100, "30m", "critical"),
}
DASHBOARD = MONITORING / "grafana" / "dashboards" / "memory-profiling.json"


def alert_rules():
    return {
        rule["alert"]: rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }


def test_promtool_checks_the_rules_and_the_config():
    rules = promtool("check", "rules", str(RULES))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", "prometheus.yml", cwd=MONITORING)
    assert config.returncode == 0, config.stdout + config.stderr
    assert "SUCCESS: 9 rules found" in rules.stdout


def test_promtool_rule_unit_tests_pass():
    result = promtool("test", "rules", "memory_alerts_test.yml", cwd=MONITORING / "alerting")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_unit_tests_cover_every_alert_on_both_sides():
    tests = yaml.safe_load((MONITORING / "alerting" / "memory_alerts_test.yml").read_text())["tests"]
    for alert in [*SPEC_TABLE, "MemoryOOMPredicted"]:
        checks = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in checks), f"{alert} never expected to fire"
        assert sum(1 for c in checks if not c["exp_alerts"]) >= 2, f"{alert} lacks quiet cases"


def test_rules_match_the_spec_table():
    rules = alert_rules()
    defaults = ProfilerConfig()
    assert set(rules) == set(SPEC_TABLE) | {"MemoryOOMPredicted"}
    oom = rules["MemoryOOMPredicted"]
    assert oom["for"] == "10m" and oom["labels"] == {"severity": "critical"}
    assert oom["expr"].endswith(
        "< on (job, instance) min by (job, instance) "
        '(fogcompute_memory_alert_threshold{setting="oom_horizon_seconds"})'
    )
    for alert, (setting, threshold, duration, severity) in SPEC_TABLE.items():
        rule = rules[alert]
        if setting is None:
            assert rule["expr"].endswith(f"> {threshold}"), alert
        else:
            assert f'fogcompute_memory_alert_threshold{{setting="{setting}"}}' in rule["expr"], alert
            assert getattr(defaults, setting) == threshold, alert
        assert rule["for"] == duration, alert
        assert rule["labels"] == {"severity": severity}, alert
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, alert
        assert "$value" in rule["annotations"]["description"], alert


def test_rules_are_per_process_and_never_match_scope_labels():
    for alert, rule in alert_rules().items():
        assert "by (job, instance)" in rule["expr"], alert
        assert "otel_scope" not in rule["expr"], alert


def test_runbook_urls_point_at_existing_sections():
    runbook = (ROOT / "docs" / "RUNBOOK.md").read_text().lower()
    for alert, rule in alert_rules().items():
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/RUNBOOK.md"
        assert f"## {alert.lower()}" in runbook, alert
        assert anchor == alert.lower()


def test_prometheus_config_scrapes_9202_and_the_collector_and_loads_the_rules():
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["memory-profiler"]["static_configs"][0]["targets"] == ["memory-exporter:9202"]
    assert jobs["otel-collector"]["honor_labels"] is True
    assert config["rule_files"] == ["alerting/memory_alerts.yml"]


def test_collector_config_structure():
    config = yaml.safe_load((ROOT / "collector-config" / "otel-collector.yaml").read_text())
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"metrics", "logs"}
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in config[kind], f"{name} uses undefined {kind[:-1]} {component}"
        assert pipeline["processors"][0] == "memory_limiter", name
        assert "batch" in pipeline["processors"], name
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    # The Collector serves where the Prometheus job "otel-collector" scrapes.
    collector_port = config["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    prometheus = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (collector_job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "otel-collector"]
    assert collector_job["static_configs"][0]["targets"][0].endswith(f":{collector_port}")
    text = (ROOT / "collector-config" / "otel-collector.yaml").read_text()
    assert re.search(r"^\s*# prometheusremotewrite:", text, re.M)


def dashboard():
    return json.loads(DASHBOARD.read_text())


def test_dashboard_is_what_the_builder_makes():
    pytest.importorskip("grafana_foundation_sdk")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_dashboard", MONITORING / "grafana" / "build_dashboard.py"
    )
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert builder.render() == DASHBOARD.read_text(), "run: python monitoring/grafana/build_dashboard.py"


def test_dashboard_has_the_variables_and_every_spec_query():
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    assert variables["job"]["type"] == variables["instance"]["type"] == "query"
    queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    bare = [re.sub(r"\{[^}]*\}", "", q) for q in queries]
    for wanted in [
        "fogcompute_memory_heap_percent",
        "deriv(fogcompute_memory_heap_used_mb[1h]) * 3600",
        "fogcompute_memory_active_leaks",
        "rate(fogcompute_memory_gc_collections_total[5m])",
        "fogcompute_memory_total_objects",
        "predict_linear(fogcompute_memory_heap_used_mb[1h], 3600)",
        "sum by (severity) (fogcompute_memory_leak_detections_total)",
        "topk(5, fogcompute_memory_object_count)",
        "fogcompute_memory_heap_used_mb - min_over_time(fogcompute_memory_heap_used_mb[6h]) "
        "> 0.25 * min_over_time(fogcompute_memory_heap_used_mb[6h])",
        "fogcompute_memory_paging_leaks",
        "fogcompute_memory_baseline_drift_percent",
        "fogcompute_memory_heap_size_mb",
        "fogcompute_memory_time_to_limit_seconds",
    ]:
        assert any(wanted in q for q in bare), wanted
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            assert 'job=~"$job"' in target["expr"] and 'instance=~"$instance"' in target["expr"]


def test_every_dashboard_query_parses():
    queries = [
        substitute_grafana_variables(t["expr"]) for p in dashboard()["panels"] for t in p.get("targets", [])
    ]
    result = check_expressions_parse(queries)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_grafana_provisioning_files():
    datasource = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["type"] == "prometheus"
    provider = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "dashboards" / "memory.yml").read_text()
    )
    assert provider["providers"][0]["type"] == "file"
