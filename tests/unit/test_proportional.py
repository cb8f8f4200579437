"""PSS and USS of the calling process: /proc/self/smaps_rollup, psutil as the fallback, rate-limited,
never raising, said once per process, and a forked child's reading its own."""

import logging
import mmap
import os
import time

import psutil
import pytest

from opentelemetry_instrumentation_memory.core.sampling.proportional import (
    SMAPS_ROLLUP,
    ProportionalMemory,
    parse_rollup,
)
from opentelemetry_instrumentation_memory.core.sampling.snapshot import SnapshotTaker

KIB = 1024
MIB = 1 << 20

ROLLUP = b"""555e35f52000-7ffc26db1000 ---p 00000000 00:00 0                          [rollup]
Rss:               35364 kB
Pss:               25086 kB
Pss_Dirty:         23000 kB
Pss_Anon:          23000 kB
Pss_File:           2086 kB
Pss_Shmem:             0 kB
Shared_Clean:      11000 kB
Shared_Dirty:        500 kB
Private_Clean:       100 kB
Private_Dirty:     23764 kB
Referenced:        35364 kB
Anonymous:         23500 kB
Private_Hugetlb:    2048 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
"""


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeProcess:
    def __init__(self, pss=7 * MIB, uss=5 * MIB, error=None):
        self.pid = os.getpid()
        self.calls = 0
        self._figures, self._error = (pss, uss), error

    def memory_full_info(self):
        self.calls += 1
        if self._error is not None:
            raise self._error
        pss, uss = self._figures
        fields = {"rss": 9 * MIB, "uss": uss} if pss is None else {"rss": 9 * MIB, "uss": uss, "pss": pss}
        return type("pfullmem", (), fields)()


def rollup_file(tmp_path, data=ROLLUP):
    path = tmp_path / "smaps_rollup"
    path.write_bytes(data)
    return str(path)


def test_the_rollup_gives_pss_and_uss_as_psutil_sums_them():
    assert parse_rollup(ROLLUP) == (25086 * KIB, (100 + 23764 + 2048) * KIB)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\xff" * 100, b"Pss: lots kB\nPrivate_Clean: 1 kB\n", b"Rss: 5 kB\n", b"Pss: 5 MB\n"],
)
def test_a_rollup_without_the_figures_gives_none(data):
    pss, uss = parse_rollup(data)
    assert pss is None and uss is None


def test_readings_are_rate_limited_and_carried_between(tmp_path):
    clock = Clock()
    reader = ProportionalMemory(interval=30, path=rollup_file(tmp_path), clock=clock)
    first = reader.read()
    assert first == (25086 * KIB, 25912 * KIB)
    (tmp_path / "smaps_rollup").write_bytes(ROLLUP.replace(b"25086", b"30000"))
    for _ in range(29):
        clock.now += 1
        assert reader.read() == first  # the last reading, the file not opened
    assert reader.reads == 1
    clock.now += 1
    assert reader.read()[0] == 30000 * KIB and reader.reads == 2


def test_without_the_rollup_psutil_answers_and_the_gap_is_said_once(tmp_path, caplog):
    clock, process = Clock(), FakeProcess()
    reader = ProportionalMemory(
        interval=30, path=str(tmp_path / "absent"), clock=clock, process=lambda: process
    )
    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            assert reader.read() == (7 * MIB, 5 * MIB)
            clock.now += 30
    assert process.calls == 4
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "absent" in said[0] and "psutil" in said[0]


def test_psutil_fills_only_the_figure_the_rollup_lacks(tmp_path):
    no_private = b"".join(line + b"\n" for line in ROLLUP.splitlines() if not line.startswith(b"Private"))
    reader = ProportionalMemory(path=rollup_file(tmp_path, no_private), process=lambda: FakeProcess())
    assert reader.read() == (25086 * KIB, 5 * MIB)


def test_a_platform_without_pss_exports_the_uss_alone(tmp_path):
    """macOS and Windows: psutil has USS, no PSS."""
    reader = ProportionalMemory(path=str(tmp_path / "absent"), process=lambda: FakeProcess(pss=None))
    assert reader.read() == (None, 5 * MIB)


@pytest.mark.parametrize(
    "error", [psutil.AccessDenied(1), psutil.NoSuchProcess(1), NotImplementedError(), RuntimeError()]
)
def test_nothing_readable_is_none_never_raises_and_is_said_once_each(tmp_path, caplog, error):
    clock = Clock()
    process = FakeProcess(error=error)
    reader = ProportionalMemory(path=str(tmp_path / "absent"), clock=clock, process=lambda: process)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert reader.read() == (None, None)
            clock.now += 60
    assert len(caplog.records) == 2  # the rollup, then psutil: once each
    assert "not exported" in caplog.records[1].getMessage()


def test_even_a_broken_clock_never_raises(caplog):
    def broken():
        raise OSError("no clock")

    reader = ProportionalMemory(clock=broken)
    with caplog.at_level(logging.WARNING):
        assert [reader.read() for _ in range(3)] == [(None, None)] * 3
    assert len(caplog.records) == 1


def test_the_rollup_is_bounded_even_endless(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    path = tmp_path / "smaps_rollup"
    os.symlink("/dev/zero", path)
    reader = ProportionalMemory(path=str(path), process=lambda: FakeProcess())
    assert reader.read() == (7 * MIB, 5 * MIB)


def test_the_snapshot_carries_the_reading():
    taker = SnapshotTaker(proportional_reader=lambda: (3 * MIB, 2 * MIB))
    snapshot, _ = taker.take(top_n=1)
    assert (snapshot.pss_bytes, snapshot.uss_bytes) == (3 * MIB, 2 * MIB)
    blind, _ = SnapshotTaker(proportional_reader=lambda: (None, None)).take(top_n=1)
    assert (blind.pss_bytes, blind.uss_bytes) == (None, None)
    assert blind.to_dict()["pss_bytes"] is None


# --- this machine ---------------------------------------------------------------------------------


def private_pages(size):
    """Anonymous private pages (``mmap(-1, n)`` alone is a shared mapping, which a child's RSS counts
    only once it touches them)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


needs_rollup = pytest.mark.skipif(not os.path.exists(SMAPS_ROLLUP), reason="no /proc/self/smaps_rollup")


@needs_rollup
def test_this_machine_pss_and_uss_are_psutils_within_reason():
    ballast = private_pages(32 * MIB)
    ballast.write(b"x" * len(ballast))  # a figure that moves visibly if the wrong process were read
    reader = ProportionalMemory()
    pss, uss = reader.read()
    info = psutil.Process().memory_full_info()
    assert pss == pytest.approx(info.pss, rel=0.05, abs=2 * MIB)
    assert uss == pytest.approx(info.uss, rel=0.05, abs=2 * MIB)
    assert uss >= 32 * MIB and uss <= pss <= psutil.Process().memory_info().rss + 2 * MIB


@needs_rollup
def test_this_machine_a_default_taker_exports_them():
    snapshot, _ = SnapshotTaker().take(top_n=1)
    assert snapshot.pss_bytes > 0 and snapshot.uss_bytes > 0


@needs_rollup
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_reads_its_own_pss_at_once_not_its_parents():
    """The parent's reading is fresh (the interval an hour); the child reads its own at its first
    call. The pages it shares with its parent count half in its PSS and not at all in its USS; the
    pages it writes alone count whole in both."""
    shared = private_pages(64 * MIB)  # copy-on-write after the fork: in both RSS, shared
    shared.write(b"s" * len(shared))
    reader = ProportionalMemory(interval=3600)
    parent_pss, parent_uss = reader.read()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            own = private_pages(96 * MIB)
            own.write(b"c" * len(own))
            pss, uss = reader.read()
            info = psutil.Process().memory_full_info()
            rss = psutil.Process().memory_info().rss
            os.write(write, f"{pss} {uss} {info.pss} {info.uss} {rss} {reader.reads}".encode())
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 30
    data = b""
    while time.monotonic() < deadline:
        chunk = os.read(read, 200)
        if not chunk:
            break
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    pss, uss, psutil_pss, psutil_uss, rss, reads = (int(x) for x in data.split())
    assert reads == 2  # the parent's, then the child's own: not the parent's carried over
    assert pss == pytest.approx(psutil_pss, rel=0.05, abs=2 * MIB)
    assert uss == pytest.approx(psutil_uss, rel=0.05, abs=2 * MIB)
    assert uss >= 96 * MIB  # its own pages, whole
    assert rss - uss >= 60 * MIB  # the 64 MiB it shares with its parent are not unique to it
    assert pss < rss - 28 * MIB  # ... and count half in its PSS
    # the parent's figures were its 64 MiB alone, unshared: the child's PSS is not that reading
    assert abs(pss - parent_pss) > 16 * MIB
    assert reader.read() == (parent_pss, parent_uss)  # the parent's reading is still the parent's
