"""The /metrics endpoint under hostile clients and a hostile configuration: slow clients, floods,
a process out of descriptors, clients that speak garbage, bad host names. Real sockets on loopback;
the host process is a real subprocess where its limits or its stderr are what is checked."""

import json
import logging
import select
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryInstrumentor, get_memory_profiler
from opentelemetry_instrumentation_memory.otel.server import ConnectionLimits, serve_metrics

from .conftest import self_signed

CAP = ConnectionLimits().max_connections


class Host:
    """A host program in a subprocess serving the memory metrics, answering commands on stdin with
    one JSON line: its descriptors, threads, CPU time, failed ``open()`` calls, endpoint counts."""

    PROLOGUE = textwrap.dedent(
        """
        import json, os, resource, sys, threading, time
        if {fd_limit}:
            resource.setrlimit(resource.RLIMIT_NOFILE, ({fd_limit}, {fd_limit}))
        from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler
        profiler = MemoryProfiler()
        profiler.snapshot()
        exporters = [MemoryExporter("127.0.0.1", 0, profiler=profiler, **options) for options in {tls}]
        for exporter in exporters:
            exporter.serve()
        failed_opens, held = [], []

        def host_work():  # the host's own business: it opens files
            while True:
                try:
                    open(os.devnull).close()
                except OSError:
                    failed_opens.append(1)
                time.sleep(0.01)

        threading.Thread(target=host_work, daemon=True).start()
        print(json.dumps([e.port for e in exporters]), flush=True)
        for command in sys.stdin:
            command = command.strip()
            if command == "exhaust":  # every descriptor the limit allows, taken
                for _ in range(5):  # again after a pause: host_work may have held one
                    time.sleep(0.02)
                    while True:
                        try:
                            held.append(open(os.devnull))
                        except OSError:
                            break
            elif command == "release":
                for file in held:
                    file.close()
                held.clear()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            fds = None if held else len(os.listdir("/proc/self/fd"))
            print(json.dumps(dict(
                fds=fds, threads=threading.active_count(), cpu=usage.ru_utime + usage.ru_stime,
                failed_opens=len(failed_opens), counts=[e.connection_counts() for e in exporters],
            )), flush=True)
        """
    )

    def __init__(self, fd_limit=0, tls=({},)):
        script = self.PROLOGUE.format(fd_limit=fd_limit, tls=list(tls))
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ports = json.loads(self._line())

    def _line(self):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        ready = selector.select(10)
        selector.close()
        assert ready, "the host program did not answer within 10 s"
        line = self.process.stdout.readline()
        assert line, self.process.communicate(timeout=5)[1]
        return line

    def ask(self, command="report"):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self._line())

    def stderr(self):
        """Ends the host program; what it wrote on stderr."""
        _, stderr = self.process.communicate(timeout=10)  # closes stdin: the host program ends
        return stderr

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def scrape(port, timeout=5.0, context=None):
    scheme = "https" if context else "http"
    url = f"{scheme}://127.0.0.1:{port}/metrics"
    return urllib.request.urlopen(url, timeout=timeout, context=context).read()


def test_slow_clients_hold_a_bounded_share_of_the_host_and_scrapes_go_on():
    """120 slowloris clients against a host limited to 64 descriptors: the endpoint holds at most
    its cap of connections, the host's own open() never fails, the accept loop does not spin, and
    every scrape made meanwhile is answered."""
    host = Host(fd_limit=64)
    slow = []
    try:
        before = host.ask()
        for _ in range(120):
            client = socket.create_connection(("127.0.0.1", host.ports[0]), timeout=5)
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            slow.append(client)
        started, cpu_started = time.monotonic(), host.ask()["cpu"]
        for second in range(4):
            for client in slow:  # one more header line per client per second
                try:
                    client.send(b"X-Slow: %d\r\n" % second)
                except OSError:
                    pass  # cut by the endpoint
            assert b"fogcompute_memory_heap_used_mb" in scrape(host.ports[0])
            time.sleep(1)
        after = host.ask()
        assert after["failed_opens"] == 0
        # one descriptor more for a newcomer waiting for an evicted slot, one for the host's open()
        assert after["fds"] <= before["fds"] + CAP + 2
        assert after["threads"] <= before["threads"] + CAP + 1  # a finishing thread
        assert (after["cpu"] - cpu_started) / (time.monotonic() - started) < 0.5
        counts = after["counts"][0]
        assert counts["evicted"] >= 120 - CAP and counts.get("refused", 0) == 0
        assert host.stderr() == ""
    finally:
        for client in slow:
            client.close()
        host.kill()


def test_accept_failing_for_want_of_descriptors_backs_off_and_recovers():
    host = Host(fd_limit=64)
    try:
        host.ask("exhaust")
        client = socket.create_connection(("127.0.0.1", host.ports[0]), timeout=5)
        client.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")  # waits in the backlog: accept() fails
        started, cpu_started = time.monotonic(), host.ask()["cpu"]
        time.sleep(2)
        report = host.ask()
        assert (report["cpu"] - cpu_started) / (time.monotonic() - started) < 0.2  # no spinning
        assert report["counts"][0]["accept_failures"] >= 2
        host.ask("release")
        client.settimeout(5)
        assert client.recv(12) == b"HTTP/1.0 200"  # served once descriptors are back
        client.close()
        assert b"fogcompute_memory" in scrape(host.ports[0])
    finally:
        host.kill()


def test_a_slowloris_is_cut_at_the_request_deadline(capfd):
    """A byte a second keeps any per-read timeout happy; the deadline counts from acceptance."""
    registry = CollectorRegistry()
    limits = ConnectionLimits(max_connections=4, request_deadline_seconds=3.0)
    server, thread = serve_metrics("127.0.0.1", 0, registry, limits=limits)
    try:
        client = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        started = time.monotonic()
        client.sendall(b"GET /metrics HTTP/1.1\r\n")
        cut_after = None
        while cut_after is None and time.monotonic() - started < 8:
            try:
                client.sendall(b"X")
                if select.select([client], [], [], 1.0)[0]:
                    assert client.recv(100) == b""  # no answer: the connection is closed
                    cut_after = time.monotonic() - started
            except ConnectionError:
                cut_after = time.monotonic() - started
        assert cut_after is not None and 3.0 <= cut_after <= 4.0, cut_after
        client.close()
        assert server.counts()["deadline"] == 1
        assert capfd.readouterr().err == ""
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_bad_clients_leave_the_host_stderr_clean(tmp_path):
    """Garbage, plain HTTP on the TLS port, resets, overlong request lines and floods: counted,
    never a traceback on the host's stderr."""
    cert, key = self_signed(tmp_path, "127.0.0.1")
    host = Host(tls=({}, {"certfile": str(cert), "keyfile": str(key)}))
    plain, tls = host.ports
    context = ssl.create_default_context(cafile=str(cert))
    try:

        def reset(sock):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

        for _ in range(10):
            with socket.create_connection(("127.0.0.1", tls), timeout=5) as sock:  # plain HTTP on TLS
                sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                sock.recv(100)
            with socket.create_connection(("127.0.0.1", tls), timeout=5) as sock:  # not even HTTP
                sock.sendall(b"\x16\x03\x01\x00\x05hello")
            for port, payload in [(plain, b"\x00\xff\r\n\r\n"), (plain, b"GET /" + b"a" * 70000)]:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(payload)
                    sock.recv(100)
            sock = socket.create_connection(("127.0.0.1", plain), timeout=5)
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            reset(sock)  # gone before the answer
            reset(socket.create_connection(("127.0.0.1", tls), timeout=5))
            sock = socket.create_connection(("127.0.0.1", tls), timeout=5)
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
            reset(sock)  # gone after the handshake
        flood = [socket.create_connection(("127.0.0.1", plain), timeout=5) for _ in range(3 * CAP)]
        assert b"fogcompute_memory" in scrape(plain) and b"fogcompute_memory" in scrape(tls, context=context)
        for sock in flood:
            reset(sock)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            counts = host.ask()["counts"]
            if counts[0].get("client_errors", 0) >= 10 and counts[1].get("client_errors", 0) >= 20:
                break
            time.sleep(0.1)
        counts = host.ask()["counts"]
        assert host.stderr() == ""
        assert counts[1]["client_errors"] >= 20 and counts[0]["client_errors"] >= 10
    finally:
        host.kill()


def test_a_burst_of_connections_is_not_held_back_by_the_listen_backlog():
    """socketserver's backlog of 5 drops the SYNs of a burst: those connections wait a 1 s
    retransmission."""
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=get_memory_profiler())
    exporter.serve()
    selector = selectors.DefaultSelector()
    sockets = []
    try:
        started = time.monotonic()
        for _ in range(100):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", exporter.port))
            selector.register(sock, selectors.EVENT_WRITE)
            sockets.append(sock)
        connected = 0
        while connected < len(sockets) and time.monotonic() - started < 5:
            for key, _ in selector.select(0.1):
                selector.unregister(key.fileobj)
                connected += 1
        assert connected == len(sockets)
        assert time.monotonic() - started < 0.8
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
        exporter.close()


BAD_HOSTS = ["ünï..", "a\x00b", "", "[::1]", "two words", "x" * 300, "\udcff", 5]


@pytest.mark.parametrize("host", BAD_HOSTS, ids=range(len(BAD_HOSTS)))
def test_a_bad_host_in_code_is_a_value_error_naming_the_argument(host, instrumentor):
    with pytest.raises(ValueError, match="^host must be"):
        MemoryExporter(host=host, port=0)
    with pytest.raises(ValueError, match="^prometheus_host must be"):
        instrumentor.instrument(prometheus_host=host, prometheus_port=0, snapshot_interval=3600.0)
    assert not instrumentor.is_instrumented_by_opentelemetry and not get_memory_profiler().running


@pytest.mark.parametrize("host", ["ünï..", "two words", "[::1]", "x" * 1_000_000], ids=range(4))
def test_a_bad_host_in_the_environment_warns_and_falls_back(
    host, monkeypatch, caplog, instrumentor, telemetry
):
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_HOST", host)
    monkeypatch.setenv("OTEL_PYTHON_MEMORY_PROMETHEUS_PORT", "0")
    with caplog.at_level(logging.WARNING):
        instrumentor.instrument(snapshot_interval=3600.0, **telemetry.providers())
        exporter = MemoryExporter(port=0)
    assert exporter.host == "localhost"
    endpoint = MemoryInstrumentor._installation.exporter
    assert endpoint.running and endpoint.host == "localhost"
    assert b"fogcompute_memory" in urllib.request.urlopen(endpoint.url, timeout=5).read()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    for warning in warnings:
        assert "OTEL_PYTHON_MEMORY_PROMETHEUS_HOST" in warning and "'localhost'" in warning
        assert len(warning) < 300


def _memory_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _answer(sock, limit=4096):
    """What the endpoint answered, up to ``limit`` bytes, whether or not it then reset."""
    received = b""
    try:
        while len(received) < limit:
            chunk = sock.recv(limit)
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    return received


def _send_and_read(port, head, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass  # refused before the end of what it sent: the answer is what counts
        return _answer(sock)


def test_request_headers_over_the_cap_get_431_and_a_burst_of_them_keeps_the_host_small():
    """Header fields are capped at 16 KiB in total and 64 lines: beyond, 431 without reading the
    rest. Before the cap, two bursts of 16 connections of 99 x 64 KiB header lines raised the host's
    peak resident memory by 459 MB; with it, by under 1 MB."""
    import threading

    limits = ConnectionLimits()
    assert (limits.max_header_bytes, limits.max_header_count) == (16 * 1024, 64)
    host = Host()
    try:
        port = host.ports[0]
        request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
        large = request + b"X-Large: " + b"a" * (17 * 1024) + b"\r\n\r\n"
        assert _send_and_read(port, large).startswith(b"HTTP/1.0 431")
        many = request + b"".join(b"X-N%d: 1\r\n" % n for n in range(100)) + b"\r\n"
        assert _send_and_read(port, many).startswith(b"HTTP/1.0 431")
        within = request + b"".join(b"X-N%d: %s\r\n" % (n, b"b" * 200) for n in range(60)) + b"\r\n"
        assert _send_and_read(port, within).startswith(b"HTTP/1.0 200")
        assert b"fogcompute_memory" in scrape(port)

        resident_before = _memory_kib(host.process.pid, "VmRSS")
        line = b"X-Filler-%02d: " + b"a" * (64 * 1024 - 20) + b"\r\n"  # under http.client's 64 KiB line limit
        flood = request + b"".join(line % n for n in range(98)) + b"\r\n"  # 99 with Host: under its 100
        answers = []

        def client():
            answers.append(_send_and_read(port, flood, timeout=20.0)[:12])

        started = time.monotonic()
        for _ in range(2):
            clients = [threading.Thread(target=client) for _ in range(CAP)]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join(30)
        elapsed = time.monotonic() - started
        peak_growth_mb = (_memory_kib(host.process.pid, "VmHWM") - resident_before) / 1024
        assert all(answer == b"HTTP/1.0 431" for answer in answers), answers
        assert len(answers) == 2 * CAP
        assert peak_growth_mb < 24, peak_growth_mb
        assert elapsed < 15, elapsed
        assert b"fogcompute_memory" in scrape(port)
        assert host.ask()["counts"][0]["too_large"] >= 2 * CAP + 2
        assert host.stderr() == ""
    finally:
        host.kill()
