"""Measures the leak detector's false positives and detection delay on synthetic populations.

    python benchmarks/leak_false_positives.py [--population stationary|caches|leaks]
        [--types 700] [--snapshots 500] [--seeds 8] [--max-noise 0.2] [--compare REV]

``stationary``: every type follows one stationary shape (noise, Poisson counts, oscillation,
sawtooth batches, a one-off step, a warm-up that plateaus, slow decay, heavy-tailed noise, constant)
with random scale, noise up to ``--max-noise`` of its level, period and timing. Any leak reported is a
false positive.

``caches``: every type is a cache its code caps (a dict, an ``lru_cache``): from a random start it
fills linearly or decelerating over 5 to 200 snapshots, then stays at its cap, with noise. A growing
cache may be reported at low severity; none may rank above low, and each record must end once the
cache is full. Reports episodes, those above low, and snapshots active after the plateau.

``leaks``: real leaks (linear, noisy, from zero, sawtooth with a rising floor, accelerating) starting
at a random snapshot among stationary types; reports the detection delay in snapshots.

The detector runs with its defaults: 200 bytes per object and 1 GiB of headroom for severity.
``--compare REV`` runs the detector of that git revision (``core/analysis/leaks.py`` as it was there)
on the same populations too, in the same run, and prints both: before and after a change.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from opentelemetry_instrumentation_memory import LeakDetector

Count = Callable[[int, random.Random], int]

SHAPES = ("noise", "poisson", "oscillation", "sawtooth", "step", "warm_up", "decay", "heavy_tail", "constant")
CACHE_FILLS = ("linear", "decelerating")
CACHE_WARM_UPS = ((5, 24), (25, 48), (49, 96), (97, 200))  # bands of snapshots to fill, for the report
LEAK_SHAPES = ("linear", "noisy", "from_zero", "rising_sawtooth", "accelerating")
INTERVAL_SECONDS = 60.0  # the default snapshot interval: a census a minute
DETECTOR_MODULE = "opentelemetry_instrumentation_memory/core/analysis/leaks.py"


def detector_at(revision: str) -> type:
    """The ``LeakDetector`` class of a git revision, imported beside today's modules it uses."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{revision}:{DETECTOR_MODULE}"], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    name = f"opentelemetry_instrumentation_memory.core.analysis._leaks_at_{revision.replace('-', '_')}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "opentelemetry_instrumentation_memory.core.analysis"
    sys.modules[name] = module
    exec(compile(source, f"{revision}:{DETECTOR_MODULE}", "exec"), module.__dict__)
    return module.LeakDetector


def make_type(rng: random.Random, max_noise: float) -> Tuple[str, Count]:
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


def make_cache(rng: random.Random, max_noise: float) -> Tuple[str, Count, int]:
    """A capped cache: (description, counts, snapshot at which it is full)."""
    fill = rng.choice(CACHE_FILLS)
    cap = rng.choice((100, 500, 2_000, 10_000, 50_000))
    others = cap * rng.choice((0.0, 0.5, 5.0))  # objects of the same type held elsewhere
    warm_up = rng.randint(5, 200)
    start = rng.randint(0, 100)
    sd = cap * rng.uniform(0.0, max_noise)

    def count(i: int, r: random.Random) -> int:
        progress = min(1.0, max(0.0, (i - start) / warm_up))
        if fill == "decelerating":  # fast first, slower as it fills: 1 - (1 - p)^2
            progress = 1.0 - (1.0 - progress) ** 2
        return max(0, round(others + cap * progress + r.gauss(0, sd)))

    return f"{fill} {warm_up} {cap}", count, start + warm_up


def make_leak(rng: random.Random, max_noise: float) -> Tuple[str, Count, int]:
    """A real leak: (shape, counts, snapshot at which it starts)."""
    shape = rng.choice(LEAK_SHAPES)
    base = 0 if shape == "from_zero" else rng.choice((500, 5_000, 50_000))
    rate = rng.choice((5.0, 20.0, 100.0)) * max(1.0, base / 5_000)  # objects per snapshot
    sd = base * rng.uniform(0.001, max_noise) if shape == "noisy" else 0.0
    start = rng.choice((0, rng.randint(LeakDetector().window, 150)))  # from its first census, or later
    period = rng.randint(4, 11)

    def count(i: int, r: random.Random) -> int:
        t = max(0, i - start)
        if shape == "rising_sawtooth":
            value = base + rate * t + 10 * rate * (i % period) / period
        elif shape == "accelerating":
            value = base + rate * t * (1 + t / 100)
        else:
            value = base + rate * t + r.gauss(0, sd)
        if shape == "from_zero" and i < start:
            return 0
        return max(0, round(value))

    return shape, count, start


class Episodes:
    """Per type: every stretch of snapshots during which it was an active leak, and its worst severity."""

    def __init__(self) -> None:
        self.spans: Dict[str, List[List]] = {}  # type -> [[first, last, worst severity], ...]

    def observe(self, i: int, leaks) -> None:
        for leak in leaks:
            spans = self.spans.setdefault(leak.object_type, [])
            if spans and spans[-1][1] == i - 1:
                spans[-1][1] = i
                if leak.severity != "low":
                    spans[-1][2] = leak.severity
            else:
                spans.append([i, i, leak.severity])


def simulate(
    counts: List[Count], snapshots: int, rng: random.Random, detector: type
) -> Tuple[Episodes, float]:
    leaks_of = detector()
    episodes = Episodes()
    elapsed = 0.0
    for i in range(snapshots):
        census = {f"T{j}": count(i, rng) for j, count in enumerate(counts)}
        started = time.perf_counter()
        leaks = leaks_of.observe(i * INTERVAL_SECONDS, census)
        elapsed += time.perf_counter() - started
        episodes.observe(i, leaks)
    return episodes, elapsed / snapshots


def run_stationary(args: argparse.Namespace, label: str, detector: type) -> None:
    total = 0
    for seed in range(1, args.seeds + 1):
        rng = random.Random(seed)
        population = [make_type(rng, args.max_noise) for _ in range(args.types)]
        episodes, per_pass = simulate([count for _, count in population], args.snapshots, rng, detector)
        found = {name: (population[int(name[1:])][0], spans[0][0]) for name, spans in episodes.spans.items()}
        total += sum(len(spans) for spans in episodes.spans.values())
        print(
            f"{label} seed {seed}: {len(found)} false positive type(s) {found}  pass {per_pass * 1e3:.2f} ms"
        )
    decisions = args.types * args.snapshots * args.seeds
    print(f"{label}: {total} false-positive episodes in {decisions:,} type-snapshot decisions")


def run_caches(args: argparse.Namespace, label: str, detector: type) -> None:
    bands = {band: {"caches": 0, "episodes": 0, "above_low": 0, "after": []} for band in CACHE_WARM_UPS}
    above_low_by_cap: Dict[str, int] = {}
    for seed in range(1, args.seeds + 1):
        rng = random.Random(seed)
        population = [make_cache(rng, args.max_noise) for _ in range(args.types)]
        episodes, per_pass = simulate([count for _, count, _ in population], args.snapshots, rng, detector)
        for j, (description, _, full_at) in enumerate(population):
            warm_up = int(description.split()[1])
            band = bands[next(b for b in CACHE_WARM_UPS if b[0] <= warm_up <= b[1])]
            band["caches"] += 1
            for _, last, worst in episodes.spans.get(f"T{j}", ()):
                band["episodes"] += 1
                band["above_low"] += worst != "low"
                band["after"].append(last - full_at)
                if worst != "low":
                    key = f"{description.split()[2]} entries, {worst}"
                    above_low_by_cap[key] = above_low_by_cap.get(key, 0) + 1
        print(f"{label} seed {seed}: pass {per_pass * 1e3:.2f} ms")
    print(
        f"{label}: warm-up (snapshots) | caches | episodes | above low | "
        "active after the plateau: median / max"
    )
    for (low, high), band in bands.items():
        after = band["after"]
        spread = f"{statistics.median(after):.0f} / {max(after)}" if after else "-"
        print(f"{low}-{high} | {band['caches']} | {band['episodes']} | {band['above_low']} | {spread}")
    print(f"{label}: above low, by cache size and severity: {above_low_by_cap}")


def run_leaks(args: argparse.Namespace, label: str, detector: type) -> None:
    kinds = [(shape, onset) for shape in LEAK_SHAPES for onset in ("first census", "after a flat window")]
    delays: Dict[Tuple[str, str], List[int]] = {kind: [] for kind in kinds}
    missed: Dict[Tuple[str, str], int] = {kind: 0 for kind in kinds}
    for seed in range(1, args.seeds + 1):
        rng = random.Random(seed)
        leaks = [make_leak(rng, args.max_noise) for _ in range(args.types // 10)]
        stationary = [make_type(rng, args.max_noise)[1] for _ in range(args.types - len(leaks))]
        snapshots = min(args.snapshots, 150 + 3 * LeakDetector().window)  # every leak can be found
        episodes, _ = simulate([count for _, count, _ in leaks] + stationary, snapshots, rng, detector)
        for j, (shape, _, start) in enumerate(leaks):
            kind = (shape, "first census" if start == 0 else "after a flat window")
            spans = episodes.spans.get(f"T{j}")
            if spans:
                delays[kind].append(spans[0][0] - start + 1)  # the snapshots it took, its first included
            else:
                missed[kind] += 1
    minutes = INTERVAL_SECONDS / 60.0
    print(
        f"{label}: leak | it starts | leaks | missed | "
        "censuses to detection: min / median / max | median minutes"
    )
    for kind, found in delays.items():
        spread = f"{min(found)} / {statistics.median(found):.0f} / {max(found)}" if found else "-"
        late = f"{statistics.median(found) * minutes:.0f}" if found else "-"
        print(f"{kind[0]} | {kind[1]} | {len(found) + missed[kind]} | {missed[kind]} | {spread} | {late}")
    every = [delay for found in delays.values() for delay in found]
    shapes = [statistics.median(found) for found in delays.values() if found]
    print(
        f"{label}: median over every leak {statistics.median(every):.0f} censuses, "
        f"median of the shapes' medians {statistics.median(shapes):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", choices=("stationary", "caches", "leaks"), default="stationary")
    parser.add_argument("--types", type=int, default=700)
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--max-noise", type=float, default=0.2, help="noise sd as a share of the level")
    parser.add_argument("--compare", metavar="REV", help="also run the detector of this git revision")
    args = parser.parse_args()
    run = {"stationary": run_stationary, "caches": run_caches, "leaks": run_leaks}[args.population]
    if args.compare:
        run(args, f"before ({args.compare})", detector_at(args.compare))
    run(args, "after" if args.compare else "now", LeakDetector)


if __name__ == "__main__":
    main()
