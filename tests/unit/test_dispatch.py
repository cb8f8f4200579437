import asyncio
import logging
import threading
import time

from opentelemetry_instrumentation_memory.core.dispatch import CallbackDispatcher


def test_a_raising_callback_does_not_stop_the_others_and_is_logged_once(caplog):
    dispatcher = CallbackDispatcher()
    seen = []

    def broken(event):
        raise RuntimeError("boom")

    dispatcher.register("leak", broken)
    dispatcher.register("leak", seen.append)
    with caplog.at_level(logging.ERROR):
        for i in range(20):
            dispatcher.fire("leak", i)
        assert dispatcher.flush(5)
    dispatcher.close()
    assert seen == list(range(20))
    assert dispatcher.failures == 20
    logged = [r for r in caplog.records if "callback" in r.getMessage()]
    assert len(logged) == 1 and "boom" in logged[0].exc_text


def test_a_slow_callback_never_blocks_the_caller():
    dispatcher = CallbackDispatcher(max_pending=10)
    release = threading.Event()
    dispatcher.register("alert", lambda event: release.wait(5))
    started = time.perf_counter()
    for i in range(100):
        dispatcher.fire("alert", i)
    assert time.perf_counter() - started < 0.5
    assert dispatcher.dropped >= 80  # bounded: the oldest undelivered events were dropped
    release.set()
    assert dispatcher.flush(10)
    dispatcher.close()


def test_async_callbacks_run_on_the_loop_they_were_registered_from():
    received = []

    async def main():
        dispatcher = CallbackDispatcher()
        loop_thread = threading.get_ident()

        async def on_alert(event):
            received.append((event, threading.get_ident() == loop_thread))

        dispatcher.register("alert", on_alert)
        dispatcher.fire("alert", "hello")
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.01)
        dispatcher.close()

    asyncio.run(main())
    assert received == [("hello", True)]


def test_async_callbacks_without_a_loop_still_run():
    received = []
    dispatcher = CallbackDispatcher()

    async def on_leak(event):
        received.append(event)

    dispatcher.register("leak", on_leak)
    dispatcher.fire("leak", 1)
    assert dispatcher.flush(5)
    dispatcher.close()
    assert received == [1]


def test_close_leaves_no_thread():
    dispatcher = CallbackDispatcher()
    dispatcher.register("leak", lambda event: None)
    dispatcher.fire("leak", 1)
    dispatcher.flush(5)
    dispatcher.close()
    assert not [t for t in threading.enumerate() if t.name == "otel-memory-callbacks"]


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_close_returns_within_its_timeout_with_a_stuck_callback_and_a_full_queue():
    dispatcher = CallbackDispatcher(max_pending=10)
    release, threads, closed = threading.Event(), [], []

    def stuck(event):
        threads.append(threading.current_thread())
        release.wait(30)

    dispatcher.register("alert", stuck)
    try:
        dispatcher.fire("alert", "first")
        assert wait_until(lambda: threads)
        for i in range(20):
            dispatcher.fire("alert", i)  # the queue is full
        closer = threading.Thread(target=lambda: closed.append(dispatcher.close(timeout=0.5)))
        started = time.monotonic()
        closer.start()
        closer.join(3)  # bounded even when close() hangs
        assert not closer.is_alive() and time.monotonic() - started < 1.0
        assert closed == [False]  # the stuck callback outlived the timeout
        assert dispatcher.dropped == 20  # what was still queued is dropped and counted
    finally:
        release.set()
    assert wait_until(lambda: not threads[0].is_alive())  # the abandoned thread ends with its callback
    assert len(threads) == 1


def test_an_abandoned_thread_leaves_new_events_to_its_successor():
    dispatcher = CallbackDispatcher()
    release, seen = threading.Event(), []

    def callback(event):
        seen.append((event, threading.current_thread()))
        if event == "stuck":
            release.wait(30)

    dispatcher.register("leak", callback)
    dispatcher.fire("leak", "stuck")
    assert wait_until(lambda: seen)
    assert dispatcher.close(timeout=0.1) is False
    for i in range(50):
        dispatcher.fire("leak", i)
    release.set()
    assert dispatcher.flush(5)
    delivered = [event for event, _ in seen[1:]]
    assert delivered == list(range(50))  # each once, in order, all by the new thread
    assert all(thread is not seen[0][1] for _, thread in seen[1:])
    assert dispatcher.close(timeout=5)


def test_close_from_a_callback_ends_the_thread_once_it_returns():
    dispatcher = CallbackDispatcher()
    outcome = {}

    def closes(event):
        outcome["thread"] = threading.current_thread()
        try:
            outcome["closed"] = dispatcher.close(timeout=1)
        except Exception as error:  # noqa: BLE001 - the test reports whatever escaped
            outcome["error"] = error

    dispatcher.register("alert", closes)
    dispatcher.fire("alert", 1)
    assert wait_until(lambda: "thread" in outcome and not outcome["thread"].is_alive())
    assert outcome.get("closed") is True and "error" not in outcome
