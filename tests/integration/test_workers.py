"""Real pre-fork and spawning servers under ``opentelemetry-instrument`` with the README's settings:
every worker is scraped on a port of its own, with its own figures and the identity its log records
carry; the master is never counted as a worker; nothing is served twice."""

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opentelemetry_instrumentation_memory.otel.events import LEAK_EVENT
from opentelemetry_instrumentation_memory.otel.processes import resource_tracker

from .conftest import free_port
from .otlp_receiver import HttpReceiver
from .test_auto_instrumentation import FAST, opentelemetry_instrument

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

WSGI_APP = textwrap.dedent(
    """
    import json, os

    class Leaky:
        pass

    kept = []

    def app(environ, start_response):
        kept.extend(Leaky() for _ in range(2000))
        body = json.dumps({"pid": os.getpid(), "kept": len(kept)}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    """
)

ASGI_APP = textwrap.dedent(
    """
    import json, os

    class Leaky:
        pass

    kept = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        kept.extend(Leaky() for _ in range(2000))
        body = json.dumps({"pid": os.getpid(), "kept": len(kept)}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    """
)

WORKERS = 2


def gunicorn_command(app_port):
    """gunicorn with sync workers on loopback, without the control socket it would otherwise share
    (in the home directory) with any other gunicorn on the machine."""
    command = ["gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{app_port}"]
    config = pytest.importorskip("gunicorn.config")
    if any("--no-control-socket" in (setting.cli or ()) for setting in config.KNOWN_SETTINGS):
        command.append("--no-control-socket")
    return [*command, "app:app"]


def start(tmp_path, module_source, command, **environment):
    """The server, in a process group of its own, under opentelemetry-instrument."""
    (tmp_path / "app.py").write_text(module_source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"OTEL_SERVICE_NAME": "workers-app", "OTEL_TRACES_EXPORTER": "none", **FAST, **environment})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [opentelemetry_instrument(), sys.executable, "-m", *command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def stop(server):
    """Stops the whole process group; returns the server's stderr."""
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return server.communicate(timeout=10)[1]


def drive(app_port, deadline, least_per_worker=15, seconds=4.0, most=600):
    """Requests on loopback for ``seconds`` (a steady growth, for the leak detector) and until every
    worker has served ``least_per_worker`` of them, at most ``most``: {worker pid: objects it keeps}."""
    kept = {}
    served = {}
    started = None
    for _ in range(most):
        if time.monotonic() > deadline:
            break
        try:
            connection = http.client.HTTPConnection("127.0.0.1", app_port, timeout=2)
            connection.request("GET", "/")
            answer = json.loads(connection.getresponse().read())
            connection.close()
        except OSError:
            time.sleep(0.05)
            continue
        started = started or time.monotonic()
        served[answer["pid"]] = served.get(answer["pid"], 0) + 1
        kept[answer["pid"]] = max(kept.get(answer["pid"], 0), answer["kept"])
        enough = len(served) == WORKERS and min(served.values()) >= least_per_worker
        if enough and time.monotonic() - started >= seconds:
            break
        time.sleep(0.02)
    return kept


def scrape(port):
    """{family name: family} from one scrape, or None if nothing answers."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    return {family.name: family for family in text_string_to_metric_families(text)}


def leaky_count(families):
    samples = families["fogcompute_memory_object_count"].samples
    return sum(s.value for s in samples if s.labels.get("object_type", "").endswith("app.Leaky"))


def target(families):
    return families["target_info"].samples[0].labels


def scrape_workers(ports, kept, deadline):
    """{pid: (target labels, Leaky count)} from the worker endpoints, once each worker's latest
    snapshot counts at least the objects it said it keeps."""
    seen = {}
    while time.monotonic() < deadline:
        seen = {}
        for port in ports:
            families = scrape(port)
            if families and "target_info" in families and "fogcompute_memory_object_count" in families:
                labels = target(families)
                seen[int(labels["process_pid"])] = (labels, leaky_count(families), port)
        if set(seen) == set(kept) and all(seen[pid][1] >= kept[pid] for pid in kept):
            break
        time.sleep(0.2)
    return seen


def test_gunicorn_sync_workers_each_serve_their_own_figures_and_identity(tmp_path):
    pytest.importorskip("gunicorn")
    receiver = HttpReceiver().start()
    sdk_port, app_port = free_port(), free_port()
    server = start(
        tmp_path,
        WSGI_APP,
        gunicorn_command(app_port),
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(sdk_port),
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BLRP_SCHEDULE_DELAY="200",
    )
    try:
        deadline = time.monotonic() + 20
        kept = drive(app_port, deadline)
        assert len(kept) == WORKERS, (kept, server.poll())
        worker_ports = range(sdk_port + 1, sdk_port + 1 + 16)
        workers = scrape_workers(worker_ports, kept, deadline)
        master = scrape(sdk_port)
        identities = {labels["service_instance_id"]: pid for pid, (labels, _, _) in workers.items()}
        leaks = {}  # {service.instance.id: the object types its leak records name}
        while time.monotonic() < deadline and set(_leaking(leaks, "app.Leaky")) != set(identities):
            time.sleep(0.2)
            with receiver.received.lock:
                requests = list(receiver.received.logs)
            for request in requests:
                for resource in request.resource_logs:
                    attributes = {kv.key: kv.value.string_value for kv in resource.resource.attributes}
                    for scope in resource.scope_logs:
                        for record in scope.log_records:
                            if record.event_name == LEAK_EVENT:
                                types = leaks.setdefault(attributes["service.instance.id"], set())
                                types.update(  # its type, or the types of a container's entries
                                    name
                                    for kv in record.attributes
                                    if kv.key
                                    in ("fogcompute.memory.object_type", "fogcompute.memory.leak.entry_type")
                                    for name in kv.value.string_value.split(", ")
                                )
    finally:
        stderr = stop(server)
        receiver.stop()
    assert set(workers) == set(kept), (workers, kept, stderr[-3000:])  # every worker, and only they
    for pid, (labels, count, _) in workers.items():
        assert labels["fogcompute_memory_process_role"] == "worker"
        assert int(labels["process_parent_pid"]) == server.pid  # opentelemetry-instrument execs
        assert count >= kept[pid], (pid, count, kept)  # its own load, counted by itself
    assert len({port for _, _, port in workers.values()}) == WORKERS
    # The master: on the SDK's port, its own identity, none of the workers' objects.
    assert master is not None and target(master)["service_instance_id"] not in identities
    assert leaky_count(master) == 0
    # A worker's leak records carry the service.instance.id of its target_info; the master's (it may
    # report leaks of its own) carry its own, and none names the workers' objects.
    assert set(_leaking(leaks, "app.Leaky")) == set(identities), (leaks, identities)
    assert set(leaks) <= set(identities) | {target(master)["service_instance_id"]}, leaks


def _leaking(leaks, suffix):
    """The instances whose leak records name a type ending in ``suffix``."""
    return [instance for instance, types in leaks.items() if any(t.endswith(suffix) for t in types)]


def test_uvicorn_spawned_workers_do_not_fight_over_the_port_and_each_is_visible(tmp_path):
    pytest.importorskip("uvicorn")
    sdk_port, app_port = free_port(), free_port()
    server = start(
        tmp_path,
        ASGI_APP,
        ["uvicorn", "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(app_port), "app:app"],
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(sdk_port),
        OTEL_LOGS_EXPORTER="none",
    )
    try:
        deadline = time.monotonic() + 25
        kept = drive(app_port, deadline, least_per_worker=5, seconds=0.0)
        assert len(kept) == WORKERS, (kept, server.poll())
        workers = scrape_workers(range(sdk_port + 1, sdk_port + 1 + 16), kept, deadline)
        supervisor = scrape(sdk_port)
        trackers = [
            (child.num_threads(), child.cmdline())
            for child in psutil.Process(server.pid).children(recursive=True)
            if resource_tracker(child.cmdline())
        ]
    finally:
        stderr = stop(server)
    assert "Failed to auto initialize" not in stderr, stderr[-3000:]
    assert "Address already in use" not in stderr, stderr[-3000:]
    assert set(workers) == set(kept), (workers, kept, stderr[-3000:])
    for pid, (labels, count, _) in workers.items():
        assert labels["fogcompute_memory_process_role"] == "worker"
        assert count >= kept[pid]
    assert len({labels["service_instance_id"] for labels, _, _ in workers.values()}) == WORKERS
    assert supervisor is not None and leaky_count(supervisor) == 0
    # multiprocessing's resource tracker, which the supervisor starts, inherits auto-instrumentation
    # but is never profiled: its one thread, not the profiler's loop besides.
    assert trackers and all(threads == 1 for threads, _ in trackers), trackers
    assert target(supervisor)["service_instance_id"] not in {
        labels["service_instance_id"] for labels, _, _ in workers.values()
    }


def test_the_workers_scrape_configurations_are_valid_and_match_the_default_range():
    import yaml

    from opentelemetry_instrumentation_memory.otel.processes import DEFAULT_PORT_SPAN

    from .promtool import MONITORING, promtool

    for name in ("prometheus-workers.yml", "prometheus-workers-file-sd.yml"):
        result = promtool("check", "config", name, cwd=MONITORING)
        assert result.returncode == 0, result.stdout + result.stderr
    jobs = {
        job["job_name"]: job["static_configs"][0]
        for job in yaml.safe_load((MONITORING / "prometheus-workers.yml").read_text())["scrape_configs"]
    }
    assert jobs["app-master"]["targets"] == ["app:9202"] and jobs["app-master"]["labels"]["role"] == "master"
    worker_ports = [int(target.rsplit(":", 1)[1]) for target in jobs["app-workers"]["targets"]]
    assert worker_ports == list(range(9203, 9203 + DEFAULT_PORT_SPAN))
    assert jobs["app-workers"]["labels"]["role"] == "worker"


def _by_instance(requests, resources_of):
    """{service.instance.id: [(resource attributes, resource), ...]} over the requests."""
    found = {}
    for request in requests:
        for resource in resources_of(request):
            attributes = {kv.key: kv.value for kv in resource.resource.attributes}
            instance = attributes["service.instance.id"].string_value
            found.setdefault(instance, []).append((attributes, resource))
    return found


def _pushed_leaky_counts(resources):
    return [
        point.as_int or point.as_double
        for _, resource in resources
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "fogcompute_memory_object_count"
        for point in metric.gauge.data_points
        if any(kv.value.string_value.endswith("app.Leaky") for kv in point.attributes)
    ]


def test_gunicorn_workers_each_push_otlp_as_themselves(tmp_path):
    """OTLP: every process pushes with the identity the SDK gives it after fork, the same on its
    metrics, its leak log records and its detection spans; each worker's object counts are its own."""
    pytest.importorskip("gunicorn")
    receiver = HttpReceiver().start()
    app_port = free_port()
    server = start(
        tmp_path,
        WSGI_APP,
        gunicorn_command(app_port),
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="process",
        OTEL_METRIC_EXPORT_INTERVAL="300",
        OTEL_BLRP_SCHEDULE_DELAY="200",
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    pids, metrics, logs, spans = {}, {}, {}, {}

    def complete():
        return set(kept) <= set(pids) and all(
            pids[pid] in logs
            and pids[pid] in spans
            and max(_pushed_leaky_counts(metrics[pids[pid]]), default=0) >= kept[pid]
            for pid in kept
        )

    try:
        kept = drive(app_port, time.monotonic() + 15)
        assert len(kept) == WORKERS, (kept, server.poll())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not complete():
            time.sleep(0.3)
            with receiver.received.lock:
                metrics = _by_instance(receiver.received.metrics, lambda r: r.resource_metrics)
                logs = _by_instance(receiver.received.logs, lambda r: r.resource_logs)
                spans = _by_instance(receiver.received.traces, lambda r: r.resource_spans)
            pids = {found[0][0]["process.pid"].int_value: instance for instance, found in metrics.items()}
    finally:
        stderr = stop(server)
        receiver.stop()
    assert complete(), (pids, kept, {i: _pushed_leaky_counts(m) for i, m in metrics.items()}, stderr[-3000:])
    # The master pushes too, as one more instance of its own, with none of the workers' objects.
    assert set(pids) == set(kept) | {server.pid}, pids
    assert not _pushed_leaky_counts(metrics[pids[server.pid]])
    for pid in kept:
        for attributes, _ in logs[pids[pid]] + spans[pids[pid]]:
            assert attributes["process.pid"].int_value == pid  # the SDK's process detector, refreshed


def _discovered(sd_directory):
    """{pid: (target, labels)} from the service-discovery files."""
    found = {}
    for path in sd_directory.glob("otel-memory-*.json"):
        try:
            (group,) = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = int(path.stem.split("-")[3])  # otel-memory-<host>-<pid>-<start>.json
        found[pid] = (group["targets"][0], group["labels"])
    return found


def test_prometheus_discovers_the_live_workers_from_the_files_they_write(tmp_path):
    """With OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR, each worker announces its endpoint; a real
    Prometheus scrapes exactly the live workers, and a killed worker's file goes when its
    replacement writes."""
    import yaml

    from .promtool import binary

    prometheus = binary("prometheus")
    pytest.importorskip("gunicorn")
    sd_directory = tmp_path / "sd"
    sd_directory.mkdir()
    sdk_port, app_port, web_port = free_port(), free_port(), free_port()
    server = start(
        tmp_path,
        WSGI_APP,
        gunicorn_command(app_port),
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(sdk_port),
        OTEL_LOGS_EXPORTER="none",
        OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR=str(sd_directory),
    )
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "app-workers",
                "file_sd_configs": [{"files": [str(sd_directory / "*.json")], "refresh_interval": "1s"}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    scraper = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def scraped_pids():
        query = urllib.parse.urlencode({"query": 'target_info{job="app-workers"} and on(instance) up == 1'})
        url = f"http://127.0.0.1:{web_port}/api/v1/query?{query}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                result = json.loads(answer.read())["data"]["result"]
        except OSError:
            return set()
        return {int(series["metric"]["process_pid"]) for series in result}

    try:
        deadline = time.monotonic() + 25
        announced = {}
        while time.monotonic() < deadline and len(announced) < WORKERS:
            announced = _discovered(sd_directory)
            time.sleep(0.1)
        assert len(announced) == WORKERS, (announced, server.poll())
        assert all(labels == {"role": "worker"} for _, labels in announced.values())
        assert server.pid not in announced  # the master is on the SDK's port, not announced
        while time.monotonic() < deadline and scraped_pids() != set(announced):
            time.sleep(0.3)
        assert scraped_pids() == set(announced)
        killed = min(announced)
        os.kill(killed, signal.SIGKILL)
        while time.monotonic() < deadline:
            now = _discovered(sd_directory)
            if killed not in now and len(now) == WORKERS:
                break
            time.sleep(0.1)
        assert killed not in now and len(now) == WORKERS, now  # the replacement announced itself
        while time.monotonic() < deadline and scraped_pids() != set(now):
            time.sleep(0.3)
        assert scraped_pids() == set(now)
    finally:
        try:
            os.killpg(scraper.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        scraper.wait(timeout=10)
        stop(server)
