"""The sampled heap profile's cost and accuracy.

    python benchmarks/heap_sampling.py [--trials 21] [--processes 5] [--runs 5]
    (--runs 0: throughput only; --processes 0: accuracy only)

Throughput: an allocation-heavy loop (small dicts, lists, strings and bytes made and dropped, a share
kept alive a while), a WSGI app's requests through Flask's test client, and the same app served by
gunicorn (the worker's CPU time per request); without the extension's hooks, with them but never
sampling (what wrapping the allocator costs by itself), and sampling at the default rate, in turn
within each of ``--processes`` fresh interpreters; per interpreter, the median over trials of the
ratio within a trial.

Accuracy: many sites (each its own line) holding 1 MB, 10 MB or 100 MB of live blocks, amid churn;
each site's estimate of live bytes against tracemalloc's count of the same line (started after the
sampler, it sees every block), over ``--runs`` fresh interpreters; at the default interval and at
64 KiB. The mean error is the estimate's bias; the spread is one reading's, which sampling sets.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import importlib.util
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from extension_build import build_extension

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_INTERVAL = 512 * 1024


def _loop(rounds: int) -> float:
    """Allocation-heavy: small dicts, lists, strings and bytes made and dropped, some kept a while."""
    kept: list = []
    started = time.perf_counter()
    for _ in range(rounds):
        records = [{"id": i, "name": f"item-{i}", "tags": [i, i + 1]} for i in range(200)]
        text = ",".join(record["name"] for record in records)
        payload = bytes(len(text) * 4)
        kept.append((records[::20], payload))
        if len(kept) > 100:
            del kept[:50]
    return time.perf_counter() - started


def _wsgi(rounds: int) -> float:
    """A WSGI service's requests, through Flask's test client: routing, JSON in and out."""
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.post("/orders")
    def orders():  # type: ignore[no-untyped-def]
        body = request.get_json()
        lines = [{"sku": item["sku"], "total": item["price"] * item["count"]} for item in body["items"]]
        return jsonify({"lines": lines, "sum": sum(line["total"] for line in lines)})

    client = app.test_client()
    order = {"items": [{"sku": f"sku-{i}", "price": 3.5, "count": i} for i in range(50)]}
    started = time.perf_counter()
    for _ in range(rounds):
        assert client.post("/orders", json=order).status_code == 200
    return time.perf_counter() - started


WORKLOADS = {"loop": (_loop, 1000), "wsgi": (_wsgi, 200)}


MODES = {"hooks": 1e12, "sampling": float(DEFAULT_INTERVAL)}  # hooks: installed, never sampling
EMPTY_HOOK = Path(_HERE) / "benchmarks" / "empty_hook" / "_empty_hook.c"


def load_empty_hook():  # type: ignore[no-untyped-def]
    """The benchmark's own hooks that only pass calls on: the floor under ``hooks``."""
    path = build_extension(EMPTY_HOOK)
    spec = importlib.util.spec_from_file_location("_empty_hook", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _paired_ratios(seconds: dict) -> dict:
    """Each mode's throughput against no hook, the median over trials of the ratio within a trial:
    the modes of one trial run back to back, so they share the machine's state of the moment."""
    return {
        mode: statistics.median(off / taken for off, taken in zip(seconds["off"], values))
        for mode, values in seconds.items()
        if mode != "off"
    }


def _throughput_child(workload: str, trials: int) -> dict:
    """Each mode in turn in one interpreter (its layout, its caches), in a random order each trial
    (whichever runs later finds the others' garbage)."""
    from opentelemetry_instrumentation_memory import _sampler

    empty_hook = load_empty_hook()
    function, rounds = WORKLOADS[workload]
    function(rounds // 4)  # warm-up
    seconds: dict = {"off": [], "empty_hook": [], **{mode: [] for mode in MODES}}
    for _ in range(trials):
        for mode in random.sample(list(seconds), len(seconds)):
            if mode in MODES:
                _sampler.start(MODES[mode], 6)
            elif mode == "empty_hook":
                empty_hook.start()
            gc.collect()
            seconds[mode].append(function(rounds))
            _sampler.stop()
            empty_hook.stop()
    return _paired_ratios(seconds)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(port: str, path: str, body: bytes = b"{}") -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    try:
        connection.request(
            "POST" if path != "/cpu" else "GET", path, body, {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        assert response.status == 200, response.status
        return response.read()
    finally:
        connection.close()


def _gunicorn_child(trials: int) -> dict:
    """A gunicorn worker serving the same orders; the worker's CPU time per request (user and
    system: its HTTP parsing, its sockets) in each mode, switched inside the one worker between
    blocks of requests. CPU time, not wall time: the client shares the machine."""
    port = str(_free_port())
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "_wsgi_service:app",
        ],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    order = json.dumps({"items": [{"sku": f"sku-{i}", "price": 3.5, "count": i} for i in range(50)]}).encode()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _post(port, "/cpu")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        requests = 1000
        for _ in range(requests // 4):
            _post(port, "/orders", order)  # warm-up
        seconds: dict = {"off": [], "empty_hook": [], **{mode: [] for mode in MODES}}
        for _ in range(trials):
            for mode in random.sample(list(seconds), len(seconds)):
                _post(port, f"/sampler/{mode}")
                started = json.loads(_post(port, "/cpu"))["seconds"]
                for _ in range(requests):
                    _post(port, "/orders", order)
                seconds[mode].append(json.loads(_post(port, "/cpu"))["seconds"] - started)
        return _paired_ratios(seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)


# Each size: (sites, blocks per site, block size). Every site is its own line, so that one run gives
# many independent readings of a site of that size.
SIZES = {"1 MB": (24, 14_000, 70), "10 MB": (6, 10_000, 1_000), "100 MB": (2, 1_000, 100_000)}
BYTES_HEADER = 33  # a bytes object's header: bytes(n - 33) is an n-byte block


def _site_code(size: str, index: int):
    """A function holding one site's blocks, compiled under a file name of its own: the line."""
    _, blocks, block = SIZES[size]
    source = f"def hold():\n    return [bytes({block - BYTES_HEADER}) for _ in range({blocks})]\n"
    namespace: dict = {}
    exec(compile(source, f"<site {size} {index}>", "exec"), namespace)
    return namespace["hold"]


def _accuracy_child(interval: int) -> dict:
    """Every site's estimate and tracemalloc's count of the same line, amid churn freed again."""
    import tracemalloc

    from opentelemetry_instrumentation_memory import _sampler

    _sampler.start(interval, 6)
    tracemalloc.start(1)
    held, churn = [], []
    for size, (sites, _, _) in SIZES.items():
        for index in range(sites):
            held.append(_site_code(size, index)())
            churn.append([str(i) * 3 for i in range(5_000)])
    churn.clear()
    truth = {
        stat.traceback[0].filename: stat.size for stat in tracemalloc.take_snapshot().statistics("filename")
    }
    estimate: dict = {}
    for frames, _, size, _ in _sampler.live():
        if frames:
            estimate[frames[0][0]] = estimate.get(frames[0][0], 0.0) + size
    tracemalloc.stop()
    readings: dict = {size: [] for size in SIZES}
    for size, (sites, _, _) in SIZES.items():
        for index in range(sites):
            name = f"<site {size} {index}>"
            readings[size].append((estimate.get(name, 0.0) - truth[name]) / truth[name])
    return {"readings": readings, "own_bytes": _sampler.stats()["own_bytes"]}


def _run(args: list) -> dict:
    env = {**os.environ, "PYTHONPATH": _HERE}
    output = subprocess.run(
        [sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(output.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=21)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--child", nargs="+")
    options = parser.parse_args()
    if options.child:
        kind, value = options.child
        if kind == "throughput" and value == "gunicorn":
            print(json.dumps(_gunicorn_child(options.trials)))
        elif kind == "throughput":
            print(json.dumps(_throughput_child(value, options.trials)))
        else:
            print(json.dumps(_accuracy_child(int(value))))
        return
    for workload in [*WORKLOADS, "gunicorn"] if options.processes else ():
        ratios: dict = {}
        for _ in range(options.processes):
            for mode, ratio in _run(
                ["--child", "throughput", workload, "--trials", str(options.trials)]
            ).items():
                ratios.setdefault(mode, []).append(ratio)
        print(f"{workload}: throughput against no hook, per interpreter ({options.trials} trials each):")
        for mode, values in ratios.items():
            shown = ", ".join(f"{ratio:.3f}" for ratio in values)
            print(f"  {mode}: {shown}; median {statistics.median(values):.3f}")
    for interval in (DEFAULT_INTERVAL, 64 * 1024) if options.runs else ():
        readings: dict = {size: [] for size in SIZES}
        own = 0
        for _ in range(options.runs):
            result = _run(["--child", "accuracy", str(interval)])
            own = result["own_bytes"]
            for size, errors in result["readings"].items():
                readings[size].extend(errors)
        print(f"interval {interval // 1024} KiB ({options.runs} runs; sampler tables {own / 1e6:.2f} MB):")
        for size, errors in readings.items():
            bias = statistics.mean(errors) * 100
            bias_error = statistics.stdev(errors) / len(errors) ** 0.5 * 100
            spread = statistics.stdev(errors) * 100
            expected = (interval / (float(size.split()[0]) * 1e6)) ** 0.5 * 100
            within = sum(abs(error) <= 0.10 for error in errors) / len(errors) * 100
            print(
                f"  {size} sites, {len(errors)} readings: mean error {bias:+.1f} % (+/- {bias_error:.1f}), "
                f"spread {spread:.0f} % (sqrt(interval/size) {expected:.0f} %), within 10 %: {within:.0f} %"
            )


if __name__ == "__main__":
    main()
