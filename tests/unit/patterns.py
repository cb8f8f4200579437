"""Synthetic per-type count series with the shapes real services show.

Each generator takes the snapshot index ``i`` and a seeded ``random.Random`` and returns a count.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Dict

Pattern = Callable[[int, random.Random], int]


def _count(value: float) -> int:
    return max(0, int(round(value)))


NOT_LEAKS: Dict[str, Pattern] = {
    "constant": lambda i, r: 4_000,
    "noisy_stationary": lambda i, r: _count(5_000 + r.gauss(0, 150)),
    "heavy_tailed_noise": lambda i, r: _count(2_000 + 80 * r.gauss(0, 1) / max(0.05, abs(r.gauss(0, 1)))),
    "small_poisson": lambda i, r: sum(1 for _ in range(20) if r.random() < 0.2),
    "warm_up_plateau": lambda i, r: _count(20_000 * (1 - math.exp(-i / 6)) + r.gauss(0, 50)),
    "one_off_step": lambda i, r: _count((3_000 if i < 60 else 9_000) + r.gauss(0, 40)),
    "sawtooth_batches": lambda i, r: _count(1_000 + 400 * (i % 9) + r.gauss(0, 20)),
    "bounded_oscillation": lambda i, r: _count(10_000 + 3_000 * math.sin(i / 2.5) + r.gauss(0, 100)),
    "slow_decay": lambda i, r: _count(50_000 - 150 * i + r.gauss(0, 100)),
}

LEAKS: Dict[str, Pattern] = {
    "linear_fast": lambda i, r: 1_000 + 500 * i,
    "linear_slow": lambda i, r: 800 + 8 * i,
    "slow_on_large_base": lambda i, r: _count(2_000_000 + 120 * i + r.gauss(0, 60)),
    "noisy_linear": lambda i, r: _count(5_000 + 60 * i + r.gauss(0, 150)),
    "rising_floor_sawtooth": lambda i, r: _count(1_000 + 40 * i + 400 * (i % 7) + r.gauss(0, 10)),
    "accelerating": lambda i, r: _count(2_000 + 2 * i * i + r.gauss(0, 30)),
    "new_type_from_zero": lambda i, r: 6 * i,
}


def series(pattern: Pattern, length: int, seed: int = 0):
    rng = random.Random(seed)
    return [pattern(i, rng) for i in range(length)]
