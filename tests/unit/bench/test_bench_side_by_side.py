"""The figures bench/side_by_side.py reads out of each benchmark's printed output."""

from __future__ import annotations

from bench.side_by_side import _meetings, _recipes

RECIPES = """\
| case                         | clients |    req/s |   p50 ms |   p99 ms | CPU ms/req | errors |
|------------------------------|---------|----------|----------|----------|------------|--------|
| floor GetItem                |       1 |    102.9 |     9.98 |    13.32 |       2.80 |      0 |
| GET /recipes/{id}            |       1 |     91.7 |    11.18 |    15.35 |       3.59 |      0 |
| GET /recipes?limit=20        |      16 |     11.1 |  1377.81 |  1656.28 |      10.56 |      0 |
| POST /recipes/{id}/likes     |      16 |     43.8 |   362.29 |   472.93 |      10.79 |      0 |
    1 clients: GET by id 0.88   list 1.05
"""

MEETINGS = """\
  turns/s     41.5   per turn: p50    22.9 ms   p90    73.2 ms   p99   209.2 ms   max   244.6 ms
CPU per turn (paced): API 5.2 ms, worker 4.7 ms, emulator 10.2 ms
"""


def test_recipes_ratios_and_the_apis_cpu_per_request_not_the_floors_or_likes() -> None:
    assert dict(_recipes(RECIPES)) == {
        "req/s vs floor, GET by id, 1 clients (higher is better)": 0.88,
        "req/s vs floor, list, 1 clients (higher is better)": 1.05,
        "CPU ms per request, GET /recipes/{id}, 1 clients": 3.59,
        "CPU ms per request, GET /recipes?limit=20, 16 clients": 10.56,
    }


def test_meetings_cpu_per_turn_by_process_and_the_first_p99() -> None:
    assert dict(_meetings(MEETINGS)) == {
        "CPU ms per turn (paced), API": 5.2,
        "CPU ms per turn (paced), worker": 4.7,
        "CPU ms per turn (paced), emulator": 10.2,
        "first p99 ms per turn printed": 209.2,
    }
