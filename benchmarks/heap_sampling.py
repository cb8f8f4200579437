"""The sampled heap profile's cost and accuracy.

    python benchmarks/heap_sampling.py [--trials 7] [--processes 5] [--runs 5]   (--runs 0: throughput only)

Throughput: an allocation-heavy loop (small dicts, lists, strings and bytes made and dropped, a share
kept alive a while) and a WSGI service's requests (Flask's test client), with the allocation sampler
at its default rate and without, in turn within each of ``--processes`` fresh interpreters; the
ratio of the best times of each.

Accuracy: sites holding from 1 MB to 100 MB of live blocks of several sizes, amid churn; each site's
estimate of live bytes against tracemalloc's count of the same line (started after the sampler, it
sees every block), over ``--runs`` fresh interpreters; at the default interval and at 64 KiB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

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


WORKLOADS = {"loop": (_loop, 2000), "wsgi": (_wsgi, 400)}


def _throughput_child(workload: str, trials: int) -> dict:
    """Sampling on and off in turn in one interpreter (its layout, its caches); the best of each."""
    from opentelemetry_instrumentation_memory import _sampler

    function, rounds = WORKLOADS[workload]
    function(rounds // 4)  # warm-up
    seconds: dict = {"off": [], "on": []}
    for _ in range(trials):
        for mode in ("off", "on"):
            if mode == "on":
                _sampler.start(DEFAULT_INTERVAL, 6)
            seconds[mode].append(function(rounds))
            _sampler.stop()
    return {mode: min(values) for mode, values in seconds.items()}


# Each site: (blocks, block size); the lines below are what the estimate is matched by.
SITES = {"small_1mb": (10_000, 70), "medium_10mb": (10_000, 1_000), "large_100mb": (1_000, 100_000)}


def _hold_small() -> list:
    return [bytes(70 - 33) for _ in range(SITES["small_1mb"][0])]  # site small_1mb


def _hold_medium() -> list:
    return [bytes(1_000 - 33) for _ in range(SITES["medium_10mb"][0])]  # site medium_10mb


def _hold_large() -> list:
    return [bytes(100_000 - 33) for _ in range(SITES["large_100mb"][0])]  # site large_100mb


def _accuracy_child(interval: int) -> dict:
    import tracemalloc

    from opentelemetry_instrumentation_memory import _sampler

    _sampler.start(interval, 6)
    tracemalloc.start(1)
    held, churn = [], []
    for function in (_hold_small, _hold_medium, _hold_large):
        held.append(function())
        churn.append([str(i) * 3 for i in range(50_000)])  # freed again below
    churn.clear()
    truth: dict = {}
    for stat in tracemalloc.take_snapshot().statistics("lineno"):
        truth[(stat.traceback[0].filename, stat.traceback[0].lineno)] = stat.size
    estimate: dict = {}
    for frames, _, size, _ in _sampler.live():
        if frames:
            key = (frames[0][0], frames[0][2])
            estimate[key] = estimate.get(key, 0.0) + size
    tracemalloc.stop()
    result = {}
    for name, function in (
        ("small_1mb", _hold_small),
        ("medium_10mb", _hold_medium),
        ("large_100mb", _hold_large),
    ):
        key = (function.__code__.co_filename, function.__code__.co_firstlineno + 1)
        result[name] = {"truth": truth.get(key, 0), "estimate": estimate.get(key, 0.0)}
    result["own_bytes"] = _sampler.stats()["own_bytes"]
    return result


def _run(args: list) -> dict:
    env = {**os.environ, "PYTHONPATH": _HERE}
    output = subprocess.run(
        [sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(output.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--child", nargs="+")
    options = parser.parse_args()
    if options.child:
        kind, value = options.child
        if kind == "throughput":
            print(json.dumps(_throughput_child(value, options.trials)))
        else:
            print(json.dumps(_accuracy_child(int(value))))
        return
    for workload in WORKLOADS:
        ratios = []
        for _ in range(options.processes):
            best = _run(["--child", "throughput", workload, "--trials", str(options.trials)])
            ratios.append(best["off"] / best["on"])
        shown = ", ".join(f"{ratio:.3f}" for ratio in ratios)
        print(f"{workload}: throughput with sampling / without, per interpreter: {shown}")
        print(f"  median {statistics.median(ratios):.3f} (best of {options.trials} each, interleaved)")
    for interval in (DEFAULT_INTERVAL, 64 * 1024) if options.runs else ():
        errors: dict = {name: [] for name in SITES}
        own = 0
        for _ in range(options.runs):
            result = _run(["--child", "accuracy", str(interval)])
            own = result.pop("own_bytes")
            for name, figures in result.items():
                errors[name].append((figures["estimate"] - figures["truth"]) / figures["truth"])
        print(f"interval {interval // 1024} KiB ({options.runs} runs; sampler tables {own / 1e6:.2f} MB):")
        for name, values in errors.items():
            shown = ", ".join(f"{value * 100:+.0f}%" for value in values)
            mean_abs = statistics.mean(abs(value) for value in values) * 100
            print(f"  {name}: estimate vs tracemalloc {shown}; mean |error| {mean_abs:.0f}%")


if __name__ == "__main__":
    main()
