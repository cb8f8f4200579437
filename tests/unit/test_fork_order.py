"""After a fork, owners that renew locks run before owners that restart threads, whatever the order
they registered in: a restarted loop never reaches a lock the parent's thread held at the fork."""

import os
import threading

from opentelemetry_instrumentation_memory.core.sampling import fork


class Reader:
    def __init__(self):
        self.lock = threading.Lock()

    def after_fork_in_child(self):
        self.lock = threading.Lock()


class Loop:
    def __init__(self, reader):
        self.reader = reader
        self.read_in_child = False

    def after_fork_in_child(self):
        # A restarted loop's first read: it waits forever on a lock held at the fork.
        if self.reader.lock.acquire(timeout=2):
            self.read_in_child = True
            self.reader.lock.release()


def test_a_loop_registered_before_its_reader_finds_the_readers_lock_renewed():
    reader = Reader.__new__(Reader)
    loop = Loop(reader)
    fork.register(loop)  # the loop first
    Reader.__init__(reader)
    fork.register(reader, restarts_threads=False)
    held, release = threading.Event(), threading.Event()

    def hold():
        with reader.lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if loop.read_in_child else 1)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
