"""Retry delays of failed records (``shared.worker.backoff_seconds``)."""

from __future__ import annotations

import random
import statistics

from hypothesis import given
from hypothesis import strategies as st

from shared.worker import WorkerConfig, backoff_seconds

SQS_MAX_VISIBILITY = 43200


@given(
    receive_count=st.integers(min_value=1, max_value=1000),
    base=st.floats(min_value=0, max_value=60),
    cap=st.floats(min_value=0, max_value=SQS_MAX_VISIBILITY),
    seed=st.integers(),
)
def test_backoff_stays_within_equal_jitter_bounds(
    receive_count: int, base: float, cap: float, seed: int
) -> None:
    """The delay is a whole number of seconds between half the ceiling and the ceiling,
    where the ceiling is base * 2^(n-1) capped (so never above SQS's 12 h maximum)."""
    ceiling = min(cap, base * 2 ** (receive_count - 1))

    delay = backoff_seconds(receive_count, base=base, cap=cap, rng=random.Random(seed))

    assert isinstance(delay, int)
    assert int(ceiling / 2) <= delay <= ceiling
    assert 0 <= delay <= SQS_MAX_VISIBILITY


def test_zero_base_means_immediate_retry() -> None:
    """backoff_base=0 makes a failed record visible again at once (visibility 0)."""
    rng = random.Random(1)

    assert {backoff_seconds(n, base=0, cap=300, rng=rng) for n in range(1, 50)} == {0}


def test_backoff_grows_with_receive_count_until_the_cap() -> None:
    """Each further delivery waits about twice as long, until the cap holds it."""
    rng = random.Random(7)

    def mean_delay(n: int) -> float:
        return statistics.mean(backoff_seconds(n, base=2, cap=300, rng=rng) for _ in range(400))

    means = [mean_delay(n) for n in range(1, 10)]

    assert means == sorted(means)
    assert means[5] > 1.8 * means[4]  # 64 -> 32 s ceilings: still doubling
    assert 225 <= means[-1] <= 300  # 2 * 2^8 = 512 is capped at 300 (mean ~ 3/4 of cap)


def test_backoff_is_jittered() -> None:
    """Records failing together do not all come back at the same second."""
    rng = random.Random(3)

    delays = {backoff_seconds(6, base=2, cap=300, rng=rng) for _ in range(50)}

    assert len(delays) > 5


def test_receive_count_zero_or_missing_is_treated_as_first_delivery() -> None:
    """A bogus receive count never yields a negative or fractional exponent."""
    rng = random.Random(0)

    assert backoff_seconds(0, base=4, cap=300, rng=rng) in {2, 3, 4}


def test_default_worker_config_suits_the_platform() -> None:
    """Defaults: batches of 10, long polling, and backoff on (not immediate retry)."""
    config = WorkerConfig()

    assert config.batch_size == 10
    assert config.wait_time_seconds == 20
    assert config.backoff_base > 0
    assert config.backoff_cap <= SQS_MAX_VISIBILITY
