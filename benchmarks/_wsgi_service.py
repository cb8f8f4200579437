"""The WSGI service ``heap_sampling.py`` serves with gunicorn: one order endpoint, and two the benchmark
uses between blocks of requests, to switch the sampler (or the empty hook) in the worker and to read
the worker's CPU time.

    gunicorn --workers 1 --bind 127.0.0.1:PORT _wsgi_service:app
"""

import time

from flask import Flask, jsonify, request
from heap_sampling import MODES, load_empty_hook

from opentelemetry_instrumentation_memory import _sampler

app = Flask(__name__)
empty_hook = load_empty_hook()


@app.post("/orders")
def orders():  # type: ignore[no-untyped-def]
    body = request.get_json()
    lines = [{"sku": item["sku"], "total": item["price"] * item["count"]} for item in body["items"]]
    return jsonify({"lines": lines, "sum": sum(line["total"] for line in lines)})


@app.post("/sampler/<mode>")
def sampler(mode: str):  # type: ignore[no-untyped-def]
    _sampler.stop()
    empty_hook.stop()
    if mode in MODES:
        _sampler.start(MODES[mode], 6)
    elif mode == "empty_hook":
        empty_hook.start()
    return jsonify({"running": _sampler.running()})


@app.get("/cpu")
def cpu():  # type: ignore[no-untyped-def]
    return jsonify({"seconds": time.process_time()})
