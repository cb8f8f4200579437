"""Delivers events to user callbacks on a thread of their own.

A callback that raises is logged (rate-limited) and skipped; one that is slow delays only the
callbacks queued behind it, never the snapshot loop. The queue is bounded: when callbacks cannot
keep up, the oldest undelivered events are dropped and counted.
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


class CallbackDispatcher:
    def __init__(self, max_pending: int = 1000) -> None:
        self._callbacks: Dict[str, List[Tuple[Callback, Optional[asyncio.AbstractEventLoop]]]] = {}
        self._queue: "queue.Queue[Optional[Tuple[str, Any]]]" = queue.Queue(max_pending)
        self._thread: Optional[threading.Thread] = None
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
        while True:
            try:
                self._queue.put_nowait((kind, event))
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self._queue.task_done()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event has been delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._deliver_forever, name="otel-memory-callbacks", daemon=True
                )
                self._thread.start()

    def _deliver_forever(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                kind, event = item
                with self._lock:
                    entries = list(self._callbacks.get(kind, ()))
                for callback, loop in entries:
                    self._deliver(callback, loop, event)
            finally:
                self._queue.task_done()

    def _deliver(self, callback: Callback, loop: Optional[asyncio.AbstractEventLoop], event: Any) -> None:
        try:
            result = callback(event)
            if inspect.isawaitable(result):
                if loop is not None and loop.is_running():
                    future = asyncio.run_coroutine_threadsafe(result, loop)  # type: ignore[arg-type]
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
