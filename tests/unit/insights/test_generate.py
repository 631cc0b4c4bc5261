"""The clickstream generator: reproducible, the seed's mix, the contract's raw layout."""

from __future__ import annotations

import gzip
import random
import statistics
from collections import Counter
from datetime import UTC, date, datetime

import orjson
import pytest

from services.insights.enrich import Geo, classify_agent
from services.insights.generate import (
    AGENTS,
    BOT_AGENT,
    COUNTRIES,
    Addresses,
    Options,
    clickstream,
    collector_body,
    main,
    raw_objects,
    visit_headers,
    visits,
)
from services.insights.lake.layout import parse_raw_key
from services.insights.lake.reference import countries

OPTIONS = Options(events=20_000, days=60, end=date(2026, 12, 6), seed=4)
EVENTS = list(clickstream(OPTIONS))
RAW_FIELDS = {"id", "type", "name", "path", "referrer", "referrer_host", "properties",
              "timestamp", "received_at", "visitor", "country", "browser", "os", "device",
              "bot", "site"}


def test_the_same_seed_gives_the_same_events() -> None:
    assert list(clickstream(OPTIONS)) == EVENTS
    assert list(clickstream(Options(events=100, seed=5)))[0] != EVENTS[0]
    assert len(EVENTS) == 20_000 and len({e["id"] for e in EVENTS}) == 20_000


def test_records_follow_the_raw_web_layout() -> None:
    for event in EVENTS[:2000]:
        assert set(event) == RAW_FIELDS
        assert event["type"] in ("page", "track")
        assert (event["name"] is None) == (event["type"] == "page")
        assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 24
        assert event["received_at"] > event["timestamp"]
        assert event["visitor"] is None or len(event["visitor"]) == 32
        assert event["device"] in ("desktop", "mobile", "tablet", "bot", "other")
        assert event["bot"] == (event["device"] == "bot")
        assert not event["bot"] or event["visitor"] is None
        assert all(isinstance(v, str | int | float | bool) or v is None
                   for v in event["properties"].values())
        if event["referrer"]:
            assert event["referrer_host"] == event["referrer"].split("/")[2]


def test_the_seed_mix_pages_and_funnel() -> None:
    tracks = Counter(e["name"] for e in EVENTS if e["type"] == "track")
    total = sum(tracks.values())
    assert 0.45 < tracks["click"] / total < 0.7
    assert 0.2 < tracks["search"] / total < 0.4
    assert 0.05 < tracks["purchase"] / total < 0.3
    assert {e["path"] for e in EVENTS} == {"/home", "/product", "/cart"}
    # Purchases follow a cart page within the visit: the funnel converts, and not fully.
    pages = Counter(e["path"] for e in EVENTS if e["type"] == "page")
    assert pages["/home"] > pages["/cart"] > tracks["purchase"] > 0


def test_countries_ages_and_span() -> None:
    seen = Counter(e["country"] for e in EVENTS)
    assert len(COUNTRIES) >= 45 and set(COUNTRIES) <= set(countries())
    assert len(seen) >= 45
    assert seen["IN"] > seen["DE"] > seen["IE"]  # weighted by population
    ages = [e["properties"]["age"] for e in EVENTS if e["type"] == "page"]
    assert min(ages) >= 16 and max(ages) <= 80
    assert 33 < statistics.mean(ages) < 37 and 8 < statistics.stdev(ages) < 12
    days = Counter(e["timestamp"][:10] for e in EVENTS)
    assert len(days) == 60 and max(days) == "2026-12-06" and min(days) == "2026-10-08"
    weekday = Counter(datetime.fromisoformat(d).weekday() for d in
                      (e["timestamp"][:10] for e in EVENTS))
    assert weekday[1] > weekday[6]  # the weekly rhythm: Tuesdays above Sundays
    hours = Counter(int(e["timestamp"][11:13]) for e in EVENTS)
    assert hours[16] > 2 * hours[4]  # the daily rhythm
    assert 0 < sum(e["bot"] for e in EVENTS) < 0.05 * len(EVENTS)


def test_raw_objects_are_gzipped_json_lines_under_the_write_hour() -> None:
    written = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
    objects = list(raw_objects(iter(EVENTS[:1200]), per_object=500, written=written,
                               rng=random.Random(1)))
    assert [count for _, _, count in objects] == [500, 500, 200]
    for key, _data, _ in objects:
        parsed = parse_raw_key(key)
        assert parsed is not None and parsed.zone == "web"
        assert parsed.hour == datetime(2026, 12, 7, 10, tzinfo=UTC)
    lines = gzip.decompress(objects[0][1]).splitlines()
    assert [orjson.loads(line) for line in lines] == EVENTS[:500]


def test_collector_requests_carry_no_enrichment() -> None:
    body = collector_body(EVENTS[:3])
    assert set(body["events"][0]) == {"id", "type", "name", "path", "referrer", "properties",
                                      "timestamp"}
    assert body["events"][0]["timestamp"] == EVENTS[0]["timestamp"]


def test_the_agents_are_browsers_of_every_device_class_and_the_bot_a_bot() -> None:
    classes = [classify_agent(agent) for _, agent in AGENTS]
    assert not any(c.bot for c in classes)
    assert {c.device for c in classes} == {"desktop", "mobile", "tablet", "other"}
    assert len({(c.browser, c.os) for c in classes}) == len(AGENTS) - 1  # iPhone and iPad share
    assert classify_agent(BOT_AGENT).bot


def test_the_records_hold_what_the_collector_derives_from_the_visitor() -> None:
    """What --via raw writes is what the collector would derive from --via http's requests:
    the agent's classes, the bot flag, no visitor hash for DNT or bots."""
    for visitor, events in visits(Options(events=3000, seed=9)):
        headers = visit_headers(visitor, "192.0.2.1")
        agent = classify_agent(headers["User-Agent"])
        for event in events:
            assert (event["browser"], event["os"], event["device"], event["bot"]) == (
                agent.browser, agent.os, agent.device, agent.bot)
            assert event["country"] == visitor.country
            assert (event["visitor"] is None) == (not visitor.tracked)
            if visitor.tracked and event["received_at"][:10] == events[0]["timestamp"][:10]:
                assert event["visitor"] == visitor.key  # else the next day's hash
        assert ("DNT" in headers) == (not visitor.tracked and not visitor.bot)
    assert [e for _, events in visits(OPTIONS) for e in events] == EVENTS


def test_a_span_that_ends_now_has_no_event_after_now() -> None:
    until = datetime(2026, 12, 7, 9, 15, tzinfo=UTC)
    events = list(clickstream(Options(events=5000, days=2, end=until.date(), until=until)))
    assert len(events) == 5000
    assert max(e["timestamp"] for e in events) <= "2026-12-07T09:15:00.000Z"
    assert max(e["timestamp"] for e in events) > "2026-12-07T08:00:00.000Z"


def test_addresses_are_in_the_visitors_country_and_stable() -> None:
    addresses = Addresses(list(COUNTRIES), seed=3)
    assert not addresses.missing
    geo = Geo()
    seen = set()
    for visitor, _ in visits(Options(events=4000, seed=2)):
        address = addresses.of(visitor)
        assert geo.country(address) == visitor.country
        assert addresses.of(visitor) == address
        seen.add(address)
    visitors = {v.key for v, _ in visits(Options(events=4000, seed=2))}
    assert len(seen) == len(visitors) > 500  # one address per visitor, no two alike


@pytest.mark.parametrize("argv", [["--via", "http", "--days", "8"],
                                  ["--via", "http", "--end", "2026-12-01"],
                                  ["--via", "http", "--days", "0"],
                                  ["--days", "0"]])
def test_the_command_refuses_a_span_the_collector_would_reject(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--url", "http://127.0.0.1:9"])
    assert stop.value.code == 2
    assert "--days" in capsys.readouterr().err
