"""The service-discovery directory under attack: whoever else can write there plants symlinks, FIFOs,
stray names and other hosts' files; nothing they plant redirects a write, blocks the host, raises
into it, or makes it remove a live process's file. Real files, real processes, loopback only."""

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from opentelemetry_instrumentation_memory import MemoryExporter
from opentelemetry_instrumentation_memory.core.dispatch import RateLimitedLog
from opentelemetry_instrumentation_memory.otel import discovery
from opentelemetry_instrumentation_memory.otel import exporter as exporter_module

VARIABLE = "OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR"
NAME = re.compile(r"otel-memory-([0-9a-f]{12})-([0-9]+)-([0-9]+)\.json")


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Each test sees its own first warning (they are limited to one a minute per process)."""
    monkeypatch.setattr(discovery, "_rate_limited", RateLimitedLog(discovery._logger))
    monkeypatch.setattr(exporter_module, "_said_every_interface", False)


def _own_start_time():
    with open("/proc/self/stat", "rb") as handle:
        text = handle.read()
    return int(text[text.rindex(b")") + 2 :].split()[19])


def _serve(sd_directory, host="127.0.0.1"):
    exporter = MemoryExporter(host, 0, environ={VARIABLE: str(sd_directory)})
    exporter.serve()
    return exporter


def _announced(sd_directory):
    return sorted(p.name for p in sd_directory.iterdir() if p.name.endswith(".json"))


def _dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_file_names_this_host_this_pid_and_its_start_time_and_goes_with_the_endpoint(tmp_path):
    exporter = _serve(tmp_path)
    try:
        (name,) = os.listdir(tmp_path)  # no temporary file left behind
        host, pid, start = NAME.fullmatch(name).groups()
        assert (host, int(pid), int(start)) == (discovery.host_id(), os.getpid(), _own_start_time())
        (group,) = json.loads((tmp_path / name).read_text())
        assert group == {"targets": [f"127.0.0.1:{exporter.port}"], "labels": {"role": "main"}}
        assert oct((tmp_path / name).stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    finally:
        exporter.close()
    assert not list(tmp_path.iterdir())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_symlinks_planted_at_any_name_the_service_writes_never_redirect_the_write(tmp_path):
    """At the old predictable temporary name and at the final name, which is predictable too (host,
    pid and start time are not secrets): the file is renamed over the link, never written through."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    sd = tmp_path / "sd"
    sd.mkdir()
    for name in (f"otel-memory-{os.getpid()}.json.tmp", discovery.file_name()):
        (sd / name).symlink_to(victim)
    exporter = _serve(sd)
    try:
        assert victim.read_text() == "precious"
        final = sd / discovery.file_name()
        assert final.is_file() and not final.is_symlink()
        assert json.loads(final.read_text())[0]["targets"] == [f"127.0.0.1:{exporter.port}"]
    finally:
        exporter.close()
    assert victim.read_text() == "precious"


def test_fifos_planted_at_any_name_the_service_writes_never_block_it(tmp_path):
    sd = tmp_path / "sd"
    sd.mkdir()
    for name in (f"otel-memory-{os.getpid()}.json.tmp", discovery.file_name()):
        os.mkfifo(sd / name)
    outcome = {}

    def serve():
        try:
            outcome["exporter"] = _serve(sd)
        except BaseException as error:  # noqa: BLE001
            outcome["error"] = error

    thread = threading.Thread(target=serve, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(5)
    blocked = thread.is_alive()
    if blocked:  # release the writer the old code left blocked on the FIFO
        os.close(os.open(sd / f"otel-memory-{os.getpid()}.json.tmp", os.O_RDONLY | os.O_NONBLOCK))
        thread.join(5)
    exporter = outcome.get("exporter")
    try:
        assert not blocked and "error" not in outcome, outcome
        assert time.monotonic() - started < 2
        final = sd / discovery.file_name()
        assert final.is_file()  # the FIFO at the final name was replaced, never opened
        assert json.loads(final.read_text())[0]["targets"] == [f"127.0.0.1:{exporter.port}"]
    finally:
        if exporter is not None:
            exporter.close()


def test_stray_names_with_huge_numbers_never_raise_into_instrument(
    tmp_path, monkeypatch, instrumentor, telemetry, caplog
):
    """Before: ``OverflowError`` out of ``instrument()``, the port left bound."""
    strays = [
        "otel-memory-99999999999999999999.json",
        f"otel-memory-{discovery.host_id()}-{'9' * 30}-1.json",
        f"otel-memory-{discovery.host_id()}-4294967297-1.json",
        f"otel-memory-{discovery.host_id()}-1-{'9' * 200}.json",
        f"otel-memory-{discovery.host_id()}-\N{ARABIC-INDIC DIGIT ONE}-1.json",
    ]
    for name in strays:
        (tmp_path / name).write_text("[]")
    monkeypatch.setenv(VARIABLE, str(tmp_path))
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_HOST", "127.0.0.1")
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", "0")
    with caplog.at_level(logging.WARNING):
        instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
    exporter = instrumentor._installation.exporter
    assert exporter.running
    assert (tmp_path / discovery.file_name()).is_file()
    assert all((tmp_path / name).exists() for name in strays)  # not this package's to judge
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry_instrumentation_memory")]
    instrumentor.uninstrument()
    assert not (tmp_path / discovery.file_name()).exists()


def test_the_sweep_removes_only_this_hosts_regular_files_of_processes_provably_gone(tmp_path):
    here, dead = discovery.host_id(), _dead_pid()
    parent = os.getppid()
    with open(f"/proc/{parent}/stat", "rb") as handle:
        text = handle.read()
    parent_start = int(text[text.rindex(b")") + 2 :].split()[19])
    victim = tmp_path / "victim"
    victim.write_text("precious")
    sd = tmp_path / "sd"
    sd.mkdir()
    removed = [
        f"otel-memory-{here}-{dead}-12345.json",  # no such process
        f"otel-memory-{here}-{os.getpid()}-{_own_start_time() + 1}.json",  # this pid, earlier process
        f"otel-memory-{here}-{parent}-{parent_start + 1}.json",
        f".otel-memory-{here}-{dead}-12345-{'ab' * 8}.tmp",  # a writer killed mid-write
    ]
    kept = [
        f"otel-memory-{'0' * 12}-{dead}-12345.json",  # another host, or another pid namespace
        f"otel-memory-{here}-{parent}-{parent_start}.json",  # alive
        f"otel-memory-{dead}.json",  # the old name: whose it is cannot be told
        f"otel-memory-{here}-{dead}-12345.json.bak",
    ]
    for name in removed + kept:
        (sd / name).write_text("[]")
    link = f"otel-memory-{here}-{dead}-777.json"
    (sd / link).symlink_to(victim)
    directory = f"otel-memory-{here}-{dead}-778.json"
    (sd / directory).mkdir()
    exporter = _serve(sd)
    try:
        left = set(os.listdir(sd))
        assert left == {*kept, link, directory, discovery.file_name()}, left
        assert victim.read_text() == "precious"
    finally:
        exporter.close()


def test_a_relative_directory_is_resolved_when_read_and_a_later_chdir_changes_nothing(tmp_path, monkeypatch):
    (tmp_path / "sd").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    exporter = MemoryExporter("127.0.0.1", 0, environ={VARIABLE: "sd"})
    monkeypatch.chdir(tmp_path / "elsewhere")
    exporter.serve()
    try:
        assert _announced(tmp_path / "sd") == [discovery.file_name()]
        assert not list((tmp_path / "elsewhere").iterdir())
    finally:
        exporter.close()
    assert not list((tmp_path / "sd").iterdir())


@pytest.mark.parametrize("obstacle", ["directory", "missing", "file"])
def test_every_failure_is_one_warning_naming_the_variable_never_an_exception(tmp_path, caplog, obstacle):
    sd = tmp_path / "sd"
    if obstacle == "directory":
        sd.mkdir()
        (sd / discovery.file_name()).mkdir()  # cannot be renamed over
    elif obstacle == "file":
        sd.write_text("not a directory")
    with caplog.at_level(logging.WARNING):
        exporters = [_serve(sd), _serve(sd)]
    try:
        assert all(e.running for e in exporters)
        warnings = [r.getMessage() for r in caplog.records if r.name == discovery._logger.name]
        assert len(warnings) == 1 and VARIABLE in warnings[0], warnings
        if obstacle == "directory":
            assert os.listdir(sd) == [discovery.file_name()]  # no temporary file left behind
    finally:
        for exporter in exporters:
            exporter.close()


WILDCARDS = ["0", "0x0", "0.0", "0.0.0.0"]
LEGACY = {"0", "0x0", "0.0"}  # the settings may refuse these spellings outright


def test_every_spelling_of_the_unspecified_address_is_known_to_bind_every_interface():
    from opentelemetry_instrumentation_memory.otel.server import binds_every_interface, names_every_interface

    assert all(names_every_interface(h) for h in [*WILDCARDS, "", "::", "0:0::0", "::ffff:0.0.0.0"])
    assert not any(names_every_interface(h) for h in ["127.0.0.1", "localhost", "::1", "0.0.0.1", "a0"])
    assert binds_every_interface("0.0.0.0") and binds_every_interface("::")
    assert not binds_every_interface("127.0.0.1") and not binds_every_interface("fe80::1%lo")


def test_hosts_that_bind_every_interface_are_said_once_and_announced_by_host_name(tmp_path, caplog):
    """``0``, ``0x0`` and ``0.0`` are the unspecified address to the C library: they bind every
    interface (unless the settings refuse them). Before: no word of it, and ``0:PORT`` announced,
    which no scraper can reach."""
    served = []
    with caplog.at_level(logging.WARNING):
        for host in WILDCARDS:
            try:
                exporter = MemoryExporter(host, 0, environ={VARIABLE: str(tmp_path)})
            except ValueError:
                assert host in LEGACY
                continue
            exporter.serve()
            try:
                served.append(host)
                assert exporter._serving[0].server_address[0] == "0.0.0.0"
                (group,) = json.loads((tmp_path / discovery.file_name()).read_text())
                assert group["targets"] == [f"{socket.gethostname()}:{exporter.port}"], host
                with socket.create_connection(("127.0.0.1", exporter.port), timeout=5):
                    pass
            finally:
                exporter.close()
    assert "0.0.0.0" in served
    said = [r.getMessage() for r in caplog.records if "every interface" in r.getMessage()]
    assert len(said) == 1, said
    assert "OTEL_PYTHON_MEMORY_PROMETHEUS_HOST" in said[0]


def test_an_ipv6_wildcard_is_said_and_announced_by_host_name(tmp_path, caplog):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    exporter = MemoryExporter("::", 0, environ={VARIABLE: str(tmp_path)})
    with caplog.at_level(logging.WARNING):
        try:
            exporter.serve()
        except OSError as error:
            pytest.skip(f"cannot bind ::: {error}")
    try:
        (group,) = json.loads((tmp_path / discovery.file_name()).read_text())
        assert group["targets"] == [f"{socket.gethostname()}:{exporter.port}"]
        assert any("every interface" in r.getMessage() for r in caplog.records)
    finally:
        exporter.close()


CONTAINER = textwrap.dedent(
    """
    import os, sys
    from opentelemetry_instrumentation_memory import MemoryExporter
    from opentelemetry_instrumentation_memory.otel import discovery
    assert os.getpid() == 1, os.getpid()
    exporter = MemoryExporter("127.0.0.1", 0, environ={"OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR": sys.argv[1]})
    exporter.serve()
    print(discovery.file_name(), flush=True)
    for command in sys.stdin:
        if command.strip() == "again":  # close and serve again: a second sweep
            exporter.close()
            exporter.serve()
        print(sorted(os.listdir(sys.argv[1])), flush=True)
    exporter.close()
    """
)


def _unshare():
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    return unshare if probe.returncode == 0 else None


def test_two_containers_whose_app_is_pid_1_share_a_directory_without_touching_each_others_file(tmp_path):
    """Real pid namespaces (``unshare --pid``): both applications are pid 1. Before: one file,
    ``otel-memory-1.json``, written by both and deleted by the first to stop."""
    unshare = _unshare()
    if unshare is None:
        pytest.skip("needs unshare --pid (root, or user namespaces)")
    command = [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-c", CONTAINER, str(tmp_path)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    containers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)
        for _ in range(2)
    ]
    try:
        names = [c.stdout.readline().strip() for c in containers]
        assert all(NAME.fullmatch(n) for n in names), names
        assert names[0] != names[1]
        assert all(NAME.fullmatch(n).group(2) == "1" for n in names)
        for container in containers:  # each sweeps again: neither touches the other's file
            container.stdin.write("again\n")
            container.stdin.flush()
            assert container.stdout.readline().strip() == repr(sorted(names))
        containers[0].stdin.close()
        assert containers[0].wait(10) == 0
        assert _announced(tmp_path) == [names[1]]  # the second still serves, still announced
        containers[1].stdin.write("again\n")
        containers[1].stdin.flush()
        assert containers[1].stdout.readline().strip() == repr([names[1]])
        containers[1].stdin.close()
        assert containers[1].wait(10) == 0
    finally:
        for container in containers:
            if container.poll() is None:
                container.kill()
            container.wait(10)
            for pipe in (container.stdin, container.stdout):
                if not pipe.closed:
                    pipe.close()
    assert _announced(tmp_path) == []
