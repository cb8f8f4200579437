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
