"""Delivers events to user callbacks on a thread of their own.

A callback that raises is logged (rate-limited) and skipped; one that is slow delays only the
callbacks queued behind it, never the snapshot loop. The queue is bounded: when callbacks cannot
keep up, the oldest undelivered events are dropped and counted. Closing is bounded too: a callback
that never returns keeps its thread, abandoned, never the caller of ``close()``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple

_logger = logging.getLogger(__name__)

Callback = Callable[[Any], Any]


class RateLimitedLog:
    """Logs a recurring failure at most once per ``period`` seconds per key, with a skipped count."""

    def __init__(self, logger: logging.Logger, period: float = 60.0) -> None:
        self._logger = logger
        self._period = period
        self._last: Dict[str, Tuple[float, int]] = {}
        self._lock = threading.Lock()

    def error(self, key: str, error: BaseException, message: str, *args: Any) -> None:
        self.log(logging.ERROR, key, message, *args, exc_info=error)

    def log(
        self, level: int, key: str, message: str, *args: Any, exc_info: Optional[BaseException] = None
    ) -> None:
        now = time.monotonic()
        with self._lock:
            last, skipped = self._last.get(key, (float("-inf"), 0))
            if now - last < self._period:
                self._last[key] = (last, skipped + 1)
                return
            self._last[key] = (now, 0)
        suffix = f" ({skipped} similar failures not logged)" if skipped else ""
        self._logger.log(level, message + suffix, *args, exc_info=exc_info)


class _Worker:
    """One delivery thread and its own stop signal: a thread abandoned in a stuck callback must not
    take events from the worker that replaces it once the callback returns."""

    def __init__(self, target: Callable[["_Worker"], None]) -> None:
        self.stop = threading.Event()
        self.deadline = float("inf")  # when stopping: deliver what is queued until then, drop the rest
        self.thread = threading.Thread(target=target, args=(self,), name="otel-memory-callbacks", daemon=True)


_WAKE = object()  # wakes a worker waiting on an empty queue, so that it sees its stop signal


class CallbackDispatcher:
    def __init__(self, max_pending: int = 1000) -> None:
        self._callbacks: Dict[str, List[Tuple[Callback, Optional[asyncio.AbstractEventLoop]]]] = {}
        self._queue: "queue.Queue[Any]" = queue.Queue(max_pending)
        self._worker: Optional[_Worker] = None
        self._lock = threading.Lock()
        self._log = RateLimitedLog(_logger)
        self.failures = 0
        self.dropped = 0

    def register(self, kind: str, callback: Callback) -> None:
        if not callable(callback):
            raise ValueError(f"callback must be callable, got {callback!r}")
        try:
            loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._callbacks.setdefault(kind, []).append((callback, loop))

    def copy_for_child(self) -> "CallbackDispatcher":
        """The same callbacks, with a fresh queue, lock and thread, for a forked child."""
        child = CallbackDispatcher(self._queue.maxsize)
        child._callbacks = {kind: list(entries) for kind, entries in self._callbacks.items()}
        return child

    def unregister(self, callback: Callback) -> None:
        with self._lock:
            for kind, entries in self._callbacks.items():
                self._callbacks[kind] = [entry for entry in entries if entry[0] is not callback]

    def fire(self, kind: str, event: Any) -> None:
        """Queue ``event`` for the callbacks of ``kind``; never blocks."""
        if not self._callbacks.get(kind):
            return
        self._ensure_thread()
        self._put_dropping_oldest((kind, event))

    def _put_dropping_oldest(self, item: Any) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                self._drop_one()

    def _drop_one(self) -> bool:
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            return False
        if item is not _WAKE:
            self.dropped += 1
        self._queue.task_done()
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event has been delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued and end the callback thread, returning within ``timeout`` seconds
        whatever the callbacks do. Events still queued then are dropped and counted. False when a
        callback outlived the timeout: its thread is abandoned and ends when the callback returns.
        Called from a callback, the thread ends once that callback returns."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return True
        worker.deadline = deadline
        worker.stop.set()
        try:
            self._queue.put_nowait(_WAKE)
        except queue.Full:  # a full queue keeps the worker busy: it sees its stop signal anyway
            pass
        if worker.thread is threading.current_thread():
            return True
        worker.thread.join(max(deadline - time.monotonic(), 0.0))
        if not worker.thread.is_alive():
            return True
        while self._drop_one():
            pass
        return False

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.thread.is_alive():
                self._worker = _Worker(self._deliver_until_stopped)
                self._worker.thread.start()

    def _retired(self, worker: _Worker) -> bool:
        """A stopped worker delivers what is queued until its deadline, or until a new one takes over."""
        return worker.stop.is_set() and (time.monotonic() >= worker.deadline or self._worker is not None)

    def _deliver_until_stopped(self, worker: _Worker) -> None:
        while not self._retired(worker):
            try:
                item = self._queue.get_nowait() if worker.stop.is_set() else self._queue.get()
            except queue.Empty:
                return
            try:
                if item is not _WAKE:
                    kind, event = item
                    with self._lock:
                        entries = list(self._callbacks.get(kind, ()))
                    for callback, loop in entries:
                        self._deliver(callback, loop, event)
            finally:
                self._queue.task_done()
        if self._worker is None:  # what its deadline left undelivered, unless a new worker has it
            while self._drop_one():
                pass

    def _deliver(self, callback: Callback, loop: Optional[asyncio.AbstractEventLoop], event: Any) -> None:
        try:
            result = callback(event)
            if inspect.isawaitable(result):
                if loop is not None and loop.is_running():
                    future = asyncio.run_coroutine_threadsafe(result, loop)  # type: ignore[arg-type, var-annotated]
                    future.add_done_callback(lambda done: self._check(callback, done))
                else:
                    asyncio.run(result)  # type: ignore[arg-type]
        except Exception as error:
            self._failed(callback, error)

    def _check(self, callback: Callback, done: "Future[Any]") -> None:
        if not done.cancelled() and done.exception() is not None:
            self._failed(callback, done.exception())  # type: ignore[arg-type]

    def _failed(self, callback: Callback, error: BaseException) -> None:
        self.failures += 1
        name = getattr(callback, "__qualname__", repr(callback))
        self._log.error(name, error, "memory profiler callback %s failed", name)
