"""gunicorn settings for the test service: sync workers, each profiled from its own start with
short settings (a snapshot every half second, a census at each, a warm-up of eight seconds, within
which traffic begins, as it does for a deployed service even on a loaded machine), and
serving its memory metrics on ``MEMORY_SERVICE_METRICS_PORT`` when that is set."""

import os

workers = 1
worker_class = "sync"
timeout = 30
graceful_timeout = 2
loglevel = "warning"


def post_fork(server, worker):
    from opentelemetry_instrumentation_memory import MemoryInstrumentor  # in the worker only

    port = os.environ.get("MEMORY_SERVICE_METRICS_PORT")
    endpoint = {"prometheus_port": int(port), "prometheus_host": "127.0.0.1"} if port else {}
    MemoryInstrumentor().instrument(snapshot_interval=0.5, census_budget=1.0, warmup_seconds=8.0, **endpoint)
