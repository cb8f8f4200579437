"""Prometheus file-based service discovery: each serving process announces its endpoint in a file.

With ``OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR`` set, a process that serves the package's endpoint
writes ``otel-memory-<host>-<pid>-<start>.json`` there (Prometheus's ``file_sd_configs`` format) and
removes it when it stops serving or exits (also by a SIGTERM that a server such as uvicorn raises
again after its graceful shutdown, and through a multiprocessing child's ``os._exit``: see
``_remove_at_exit``). ``<host>`` is a short digest of the machine id, the host
name and the pid namespace, ``<start>`` the process's start time (clock ticks after boot): two
containers whose application is pid 1 never share a name, nor does a later process given the same
pid. A process killed outright cannot remove its file: whoever writes next removes the files of
processes that are gone. Prometheus then scrapes the live workers only, instead of every port of a
range.

The directory may be shared with others, so nothing in it is trusted:

- a file is written under a random name (``.otel-memory-...-<random>.tmp``, opened with
  ``O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK``, checked to be a regular file) and renamed into
  place, which replaces whatever is at the final name (a symlink or a FIFO too) and never follows it;
- the sweep removes only names that say this host and pid namespace wrote them, only regular files
  (``lstat``), and only when their process is provably gone: no such pid, or that pid started at
  another time; numbers in names are read with a bounded length;
- the directory is made absolute once, when the variable is read (a later ``chdir`` changes nothing);
- every failure is one warning naming the variable, at most once a minute, never an exception.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import stat
import sys
import threading
from collections.abc import Mapping

from ..core.dispatch import RateLimitedLog
from ..core.sampling import fork
from ..environment_variables import OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR

_logger = logging.getLogger(__name__)
_rate_limited = RateLimitedLog(_logger)

PREFIX = "otel-memory-"
# otel-memory-<host>-<pid>-<start>.json, and .otel-memory-<host>-<pid>-<start>-<random>.tmp while
# written: ASCII digits of bounded length only.
_NAME = re.compile(
    r"(?P<temporary>\.)?otel-memory-(?P<host>[0-9a-f]{12})-(?P<pid>[0-9]{1,10})-(?P<start>[0-9]{1,20})"
    r"(?(temporary)-[0-9a-f]{16}\.tmp|\.json)"
)
_MAX_PID = 2**31 - 1  # os.kill's range; Linux pids stop at 2**22
_MAX_SWEPT_ENTRIES = 10_000  # a sweep looks at no more entries than this
_OPEN_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id", "/proc/sys/kernel/random/boot_id")


class _Written:
    """The file this process wrote: removed only if it is still the one written."""

    def __init__(self, path: str, status: os.stat_result) -> None:
        self.path = path
        self.identity = (status.st_dev, status.st_ino)


# The file this process wrote, by pid: a forked child inherits the table, never the parent's file.
# Reentrant: the SIGTERM handler below withdraws on the main thread, which may hold it then.
_written: dict[int, _Written] = {}
_written_lock = threading.RLock()
# The processes (pids) that have set up the removal of their file at exit, each way once.
_finalized_in: int | None = None
_hooked_in: int | None = None
_sigterm_in: int | None = None


def directory(environ: Mapping[str, str] = os.environ) -> str | None:
    """The directory from ``OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR``, made absolute now."""
    value = environ.get(OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR, "").strip()
    if not value:
        return None
    try:
        return os.path.abspath(value)
    except (OSError, ValueError) as error:  # the working directory is gone; a NUL in the value
        _warn(value, error)
        return None


def file_name(pid: int | None = None) -> str | None:
    """This process's file name (``otel-memory-<host>-<pid>-<start>.json``), or None when its start
    time cannot be read."""
    pid = os.getpid() if pid is None else pid
    start = start_time(pid)
    return None if start is None else f"{PREFIX}{host_id()}-{pid}-{start}.json"


def announce(
    sd_directory: str, host: str, port: int, labels: Mapping[str, str], every_interface: bool = False
) -> None:
    """Writes this process's target file, and removes those of processes that are gone; a failure
    is logged (at most once a minute), never raised. An endpoint bound to every interface is
    announced at the host name."""
    try:
        target_host = socket.gethostname() if every_interface or host in ("", "0.0.0.0", "::") else host
        address = f"[{target_host}]:{port}" if ":" in target_host else f"{target_host}:{port}"
        payload = json.dumps([{"targets": [address], "labels": dict(labels)}]).encode()
        pid = os.getpid()
        name = file_name(pid)
        if name is None:
            raise OSError(f"cannot read the start time of process {pid}")
        if not stat.S_ISDIR(os.stat(sd_directory).st_mode):
            raise NotADirectoryError(f"{sd_directory} is not a directory")
        _remove_stale(sd_directory)
        written = _write(sd_directory, name, payload)
    except Exception as error:  # noqa: BLE001 - the host program must never see it
        _warn(sd_directory, error)
        return
    with _written_lock:
        _written[pid] = written
    _remove_at_exit(pid)


def withdraw() -> None:
    """Removes this process's target file, if it wrote one and it is still there."""
    try:
        with _written_lock:
            written = _written.pop(os.getpid(), None)
        _stop_handling_sigterm()
        if written is None:
            return
        status = os.lstat(written.path)
        if stat.S_ISREG(status.st_mode) and (status.st_dev, status.st_ino) == written.identity:
            os.unlink(written.path)
    except Exception:  # noqa: BLE001 - gone already, or at exit: nothing to say
        pass


def host_id() -> str:
    """12 hex digits naming this host and pid namespace: a digest of the machine id (or the boot
    id), the host name and the pid namespace. Processes that can see each other's pids share it."""
    machine = ""
    for path in _ID_FILES:
        try:
            with open(path, "rb") as handle:
                machine = handle.read(256).strip().decode("ascii", "replace")
        except OSError:
            continue
        if machine:
            break
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except (OSError, AttributeError):
        namespace = ""
    text = "\0".join((machine, socket.gethostname(), namespace))
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]


def start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot (``/proc/<pid>/stat``, field 22), or
    in hundredths of a second from psutil where there is no ``/proc``; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read(4096)
        # The command name (field 2) is in parentheses and may hold anything: count after the last.
        fields = text[text.rindex(b")") + 2 :].split()
        return int(fields[19])
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None  # /proc is there: no such process
    except (OSError, ValueError, IndexError):
        return None
    try:
        import psutil

        return int(psutil.Process(pid).create_time() * 100)
    except Exception:  # noqa: BLE001 - psutil.Error, or no such process
        return None


def _write(sd_directory: str, name: str, payload: bytes) -> _Written:
    """``payload`` at ``name``, through a file of a random name renamed into place."""
    temporary = os.path.join(sd_directory, f".{name[: -len('.json')]}-{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, _OPEN_FLAGS, 0o644)
    try:
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise OSError(f"{temporary} is not a regular file")
            view = memoryview(payload)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        path = os.path.join(sd_directory, name)
        os.replace(temporary, path)  # replaces the name itself: a symlink there is not followed
        return _Written(path, status)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _remove_stale(sd_directory: str) -> None:
    """Removes the files (written or half-written) of this host's processes that are gone."""
    here = host_id()
    with os.scandir(sd_directory) as entries:
        for seen, entry in enumerate(entries):
            if seen >= _MAX_SWEPT_ENTRIES:
                break
            match = _NAME.fullmatch(entry.name)
            if match is None or match["host"] != here:
                continue
            pid, start = int(match["pid"]), int(match["start"])
            try:
                if not stat.S_ISREG(os.lstat(entry.path).st_mode) or not _gone(pid, start):
                    continue
                os.unlink(entry.path)
            except OSError:
                pass


def _gone(pid: int, start: int) -> bool:
    """Whether the process ``pid`` that started at ``start`` has provably ended."""
    if not 0 < pid <= _MAX_PID:
        return False  # not a pid this host gives: not ours to judge
    observed = start_time(pid)
    if observed is not None:
        return observed != start  # the pid is another process's now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # there, but hidden from us (another user's, /proc mounted hidepid)
        return False
    return False  # there, start time unknown: cannot tell


def _warn(sd_directory: str, error: BaseException) -> None:
    _rate_limited.log(
        logging.WARNING,
        "write",
        "cannot announce the memory metrics endpoint in %s=%s: %s",
        OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR,
        sd_directory,
        error,
    )


def _remove_at_exit(pid: int) -> None:
    """Has the file of process ``pid`` (this one, which has just written it) removed however it ends
    normally. ``atexit`` (registered below) covers an interpreter that finishes; two ends skip it:

    - a child of ``multiprocessing`` started by fork or forkserver ends with ``os._exit`` once its
      target returns, after multiprocessing's own finalizers: one of those removes it;
    - a server that shuts down gracefully on SIGTERM and then raises SIGTERM again at the
      disposition it found (uvicorn and its spawned workers, whose disposition is the default) is
      ended by the kernel at once. So a process whose SIGTERM is at the default when it writes, on
      its main thread, gets a handler that removes the file and then ends the process by SIGTERM at
      the default disposition, as before (same exit status). A server that installs its own handler
      and restores this one re-raises into it. The handler runs when the main thread next runs
      Python code: a main thread stuck in one long C call ends only after it returns.
    """
    global _finalized_in, _hooked_in, _sigterm_in
    try:
        util = sys.modules.get("multiprocessing.util")
        if util is not None:  # only multiprocessing's children run its finalizers instead of atexit
            if _hooked_in != pid:
                # First: a fork child clears the finalizers just after the fork, maybe after this
                # thread has registered one; the hook (run after the clearing) registers it again.
                _hooked_in = pid
                util.register_after_fork(_AFTER_FORK, _finalize_again)
            if _finalized_in != pid:
                _finalized_in = pid
                util.Finalize(None, withdraw, exitpriority=0)
        if (
            _sigterm_in != pid
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        ):
            _sigterm_in = pid
            signal.signal(signal.SIGTERM, _withdraw_then_terminate)
    except Exception:  # noqa: BLE001 - atexit still removes it on an ordinary exit
        pass


class _AfterFork:
    """What ``multiprocessing.util.register_after_fork`` holds (weakly) for ``_finalize_again``."""


_AFTER_FORK = _AfterFork()


def _finalize_again(_: _AfterFork) -> None:
    """In a multiprocessing child, after its finalizers were cleared: the removal again, if the
    child has written its file by then (else writing registers it)."""
    global _finalized_in
    _finalized_in = None
    pid = os.getpid()
    if pid in _written:
        _remove_at_exit(pid)


def _withdraw_then_terminate(signum: int, frame: object) -> None:
    """SIGTERM at the default disposition, with this process's file removed first."""
    withdraw()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _stop_handling_sigterm() -> None:
    """SIGTERM back at the default, once the file is gone (on the main thread: elsewhere the handler
    stays, and only removes nothing before it ends the process)."""
    global _sigterm_in
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is _withdraw_then_terminate:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _sigterm_in = None


def _renew_lock_in_child() -> None:
    global _written_lock
    _written_lock = threading.RLock()


atexit.register(withdraw)
fork.register_function(_renew_lock_in_child)
