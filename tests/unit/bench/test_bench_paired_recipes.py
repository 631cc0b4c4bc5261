"""The statistics bench/paired_recipes.py prints: each round's change and the median's
distribution-free interval."""

from __future__ import annotations

import random

from bench.paired_recipes import Series, median_interval


def test_the_interval_is_the_sign_tests_order_statistics() -> None:
    # Tables of the sign test at 95 %: n = 10 -> 2nd and 9th, n = 30 -> 10th and 21st values.
    values = [float(v) for v in range(1, 31)]
    random.Random(7).shuffle(values)
    assert median_interval(values) == (10.0, 21.0)
    assert median_interval([float(v) for v in range(10, 0, -1)]) == (2.0, 9.0)


def test_too_few_rounds_give_the_whole_range() -> None:
    assert median_interval([3.0, -1.0, 2.0]) == (-1.0, 3.0)
    assert median_interval([5.0]) == (5.0, 5.0)


def test_a_rounds_change_is_head_over_base_of_that_round() -> None:
    series = Series()
    series.cpu_ms = {"base": [2.0, 4.0], "head": [2.2, 3.0]}
    assert [round(c, 6) for c in series.changes()] == [10.0, -25.0]
