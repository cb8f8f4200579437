import random

import pytest

from opentelemetry_instrumentation_memory.core.analysis.forecast import seconds_to_limit


def test_steady_growth_reaches_the_limit_when_a_line_says():
    times = [60.0 * i for i in range(60)]
    used = [100.0 + 2.0 * i for i in range(60)]  # 2 MB a minute
    # 218 MB used, 512 MB limit: 294 MB at 2 MB a minute is 147 minutes.
    assert seconds_to_limit(times, used, 512.0) == pytest.approx(147 * 60.0)


def test_spikes_and_a_step_do_not_swing_the_forecast():
    rng = random.Random(2)
    times = [60.0 * i for i in range(60)]
    used = [100.0 + 2.0 * i + (300.0 if i % 17 == 0 else 0.0) + rng.gauss(0, 0.5) for i in range(60)]
    assert seconds_to_limit(times, used, 512.0) == pytest.approx(147 * 60.0, rel=0.05)


@pytest.mark.parametrize(
    "used",
    [
        [200.0] * 60,
        [200.0 + random.Random(1).gauss(0, 5) for _ in range(60)],
        [300.0 - i for i in range(60)],
        [200.0 + 20.0 * ((i % 10) < 5) for i in range(60)],
    ],
)
def test_no_forecast_when_not_growing(used):
    assert seconds_to_limit([60.0 * i for i in range(60)], used, 512.0) is None


def test_too_little_history_gives_no_forecast():
    assert seconds_to_limit([0.0, 60.0, 120.0], [1.0, 2.0, 3.0], 10.0) is None
