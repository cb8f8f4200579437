"""monitoring/kubernetes/ stays equal to its sources: the PrometheusRule holds the rules file's groups,
the PodMonitor scrapes every port of the package's port scheme, the ConfigMap holds the dashboard."""

import importlib.util
import json

import yaml

from .promtool import MONITORING, RULES, promtool

KUBERNETES = MONITORING / "kubernetes"
COMMAND = "python monitoring/kubernetes/generate.py"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_manifests", KUBERNETES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(name):
    return yaml.safe_load((KUBERNETES / name).read_text())


def test_the_manifests_are_what_the_generator_makes():
    for name, text in _generator().manifests().items():
        assert (KUBERNETES / name).read_text() == text, (
            f"{name} is out of date with its source: run {COMMAND}"
        )


def test_the_prometheus_rule_holds_the_rules_files_groups_and_promtool_accepts_them(tmp_path):
    rule = _load("prometheusrule.yaml")
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump(rule["spec"]))
    checked = promtool("check", "rules", str(extracted))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_pod_monitor_scrapes_the_main_process_and_every_workers_port():
    monitor = _load("podmonitor.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    declared = {port["name"]: port["containerPort"] for port in _load("container-ports.yaml")}
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    scraped = [declared[endpoint["port"]] for endpoint in endpoints]
    # 9202: the main process (the SDK's reader or the package's endpoint); 9203-9218: the workers'
    # span of 16 from the next port (README, "Running under gunicorn, uWSGI, uvicorn workers").
    assert scraped == list(range(9202, 9219))
    assert all(len(name) <= 15 for name in declared)  # a container port's name: at most 15 characters
    roles = [endpoint["relabelings"][0]["replacement"] for endpoint in endpoints]
    assert roles == ["main"] + ["worker"] * 16
    assert all(endpoint["path"] == "/metrics" for endpoint in endpoints)


def test_the_dashboard_config_map_holds_the_dashboard():
    config_map = _load("grafana-dashboard-configmap.yaml")
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = MONITORING / "grafana" / "dashboards" / "memory-profiling.json"
    assert json.loads(config_map["data"]["memory-profiling.json"]) == json.loads(dashboard.read_text())
