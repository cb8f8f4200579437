"""Measures the leak detector's false-positive rate and detection delay on synthetic populations.

    python benchmarks/leak_false_positives.py [--types 700] [--snapshots 500] [--seeds 8]

Every type follows one stationary shape (noise, Poisson counts, oscillation, sawtooth batches, a
one-off step, a warm-up that plateaus, slow decay, heavy-tailed noise, constant) with random scale,
noise up to ``--max-noise`` of its level, period and timing. Any leak reported is a false positive.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from opentelemetry_instrumentation_memory import LeakDetector

SHAPES = ("noise", "poisson", "oscillation", "sawtooth", "step", "warm_up", "decay", "heavy_tail", "constant")


def make_type(rng: random.Random, max_noise: float):
    shape = rng.choice(SHAPES)
    base = rng.choice((5, 50, 500, 5_000, 50_000, 500_000))
    sd = base * rng.uniform(0.001, max_noise) + 1
    period = rng.randint(3, 11)
    amplitude = base * rng.uniform(0.05, 0.5)
    tau = rng.uniform(2, 10)
    step_at = rng.randint(0, 400)

    def count(i: int, r: random.Random) -> int:
        if shape == "noise":
            value = base + r.gauss(0, sd)
        elif shape == "poisson":
            value = sum(1 for _ in range(int(min(base, 50) * 2)) if r.random() < 0.5)
        elif shape == "oscillation":
            value = base + amplitude * math.sin(2 * math.pi * i / period) + r.gauss(0, sd)
        elif shape == "sawtooth":
            value = base + amplitude * (i % period) / period + r.gauss(0, sd * 0.1)
        elif shape == "step":
            value = base + (amplitude if i >= step_at else 0) + r.gauss(0, sd)
        elif shape == "warm_up":
            value = base * (1 - math.exp(-i / tau)) + r.gauss(0, sd)
        elif shape == "decay":
            value = base * math.exp(-i / 500) + r.gauss(0, sd)
        elif shape == "heavy_tail":
            value = base + sd * r.gauss(0, 1) / max(0.05, abs(r.gauss(0, 1)))
        else:
            value = base
        return max(0, round(value))

    return shape, count


def run(types: int, snapshots: int, seed: int, max_noise: float):
    rng = random.Random(seed)
    population = [make_type(rng, max_noise) for _ in range(types)]
    detector = LeakDetector()
    false_positives = {}
    elapsed = 0.0
    for i in range(snapshots):
        counts = {f"T{j}": count(i, rng) for j, (_, count) in enumerate(population)}
        started = time.perf_counter()
        leaks = detector.observe(i * 60.0, counts)
        elapsed += time.perf_counter() - started
        for leak in leaks:
            false_positives.setdefault(leak.object_type, (population[int(leak.object_type[1:])][0], i))
    return false_positives, elapsed / snapshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", type=int, default=700)
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--max-noise", type=float, default=0.2, help="noise sd as a share of the level")
    args = parser.parse_args()
    total = 0
    for seed in range(1, args.seeds + 1):
        found, per_pass = run(args.types, args.snapshots, seed, args.max_noise)
        total += len(found)
        print(f"seed {seed}: {len(found)} false positive type(s) {found}  pass {per_pass * 1e3:.2f} ms")
    decisions = args.types * args.snapshots * args.seeds
    print(f"{total} false-positive episodes in {decisions:,} type-snapshot decisions")


if __name__ == "__main__":
    main()
