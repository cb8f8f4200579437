"""gunicorn settings for the clean service (healthy_app.py): two gthread workers of two threads on
loopback, the package instrumenting every process through ``opentelemetry-instrument`` (README,
"Running under gunicorn"). The hooks only record: every in-process alert transition the master and
each worker deliver to ``register_alert_callback``, and every leak event (with its sites, when a
capture brought them), one JSON line each, in ``<MEMORY_SERVICE_RECORDS>/alerts-<pid>.jsonl`` and
``leaks-<pid>.jsonl``.

The callbacks are registered in the master (``on_starting``); a forked worker inherits them, and
``post_fork`` registers them again (after unregistering, so never twice) in case it did not.
"""

import json
import os
import threading
import time

worker_class = "gthread"
workers = 2
threads = 2
timeout = 60
graceful_timeout = 5
loglevel = "warning"

RECORDS = os.environ.get("MEMORY_SERVICE_RECORDS", "")
_write_lock = threading.Lock()
_master = {"pid": None}


def _process_started() -> float:
    import psutil

    return psutil.Process().create_time()


_started = {"pid": None, "at": 0.0}


def _write(kind: str, record: dict) -> None:
    pid = os.getpid()
    if _started["pid"] != pid:
        _started.update(pid=pid, at=_process_started())
    record = dict(
        record,
        pid=pid,
        role="master" if pid == _master["pid"] else "worker",
        uptime=round(time.time() - _started["at"], 1),
        recorded=time.time(),
    )
    with _write_lock:
        with open(os.path.join(RECORDS, f"{kind}-{pid}.jsonl"), "a") as out:
            out.write(json.dumps(record, default=str) + "\n")


def record_alert(alert) -> None:
    _write("alerts", alert.to_dict())


def record_leak(leak) -> None:
    _write("leaks", leak.to_dict())


def _register() -> None:
    from opentelemetry_instrumentation_memory import get_memory_profiler

    profiler = get_memory_profiler()
    for callback in (record_alert, record_leak):
        profiler.unregister_callback(callback)
    profiler.register_alert_callback(record_alert)
    profiler.register_leak_callback(record_leak)
    with open(os.path.join(RECORDS, f"process-{os.getpid()}.json"), "w") as out:
        role = "master" if os.getpid() == _master["pid"] else "worker"
        json.dump({"pid": os.getpid(), "role": role, "running": profiler.running}, out)


def on_starting(server):
    _master["pid"] = os.getpid()
    if RECORDS:
        _register()


def post_fork(server, worker):
    if RECORDS:
        _register()
