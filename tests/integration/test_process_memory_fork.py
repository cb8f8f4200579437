"""The process memory reader in forked children: it never closes a descriptor the child did not open
through it, and ``read()`` never raises (it runs at every span's start, on the host's threads)."""

import os
import signal
import sys
import threading
import time

import pytest

from opentelemetry_instrumentation_memory.core.sampling.resident import ProcessMemory

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

FORKS = 1000
READERS = 6
FILES = 12
DEADLINE_SECONDS = 20.0
CLOSED, RAISED, WRONG = 2, 3, 4


def _child(memory, paths):
    """Several threads take the child's first reads at once while the child opens its own files,
    as request threads of a freshly forked worker do; returns the exit code."""
    signal.alarm(10)  # a deadlocked child dies instead of hanging the suite
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: widen every race
    raised = []
    figures = []
    start = threading.Barrier(READERS + 1)

    def reader():
        start.wait()
        try:
            for _ in range(3):
                figures.append(memory.read())
        except BaseException as error:  # noqa: BLE001 - anything escaping read() is the failure
            raised.append(error)

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    start.wait()
    opened = []
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        opened.append((descriptor, os.fstat(descriptor).st_ino))
    for thread in threads:
        thread.join()
    for descriptor, inode in opened:
        try:
            if os.fstat(descriptor).st_ino != inode:
                return CLOSED  # closed, and the number reused by someone else
        except OSError:
            return CLOSED
    if raised:
        return RAISED
    if not all(resident > 0 for resident, _ in figures):
        return WRONG
    return 0


def test_readers_racing_in_forked_children_never_close_the_childs_files_nor_raise(tmp_path):
    """A few hundred real forks of a process whose reader has its descriptor open; before the fix,
    the children's first reads each closed the inherited descriptor number, which by then could be
    one of the child's own files."""
    memory = ProcessMemory()
    assert memory.read()[0] > 0  # the parent's descriptor is open, and every child inherits it
    paths = []
    for index in range(FILES):
        path = tmp_path / f"host-file-{index}"
        path.write_bytes(b"x" * index)  # some empty, some not: garbage for a misdirected read
        paths.append(path)
    outcomes = {0: 0, CLOSED: 0, RAISED: 0, WRONG: 0}
    forks = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    while forks < FORKS and time.monotonic() < deadline:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(memory, paths)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        forks += 1
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        outcomes[code] = outcomes.get(code, 0) + 1
    assert forks >= 50, forks
    assert outcomes[0] == forks, outcomes
    assert memory.read()[0] > 0  # the parent's reader still works
