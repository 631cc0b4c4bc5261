"""Compaction (DuckDB, local files) and every report against the plain-Python reference
over the same generated clickstream, with redeliveries and a second run."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.insights.lake.cache import LakeCache
from services.insights.lake.reports import (
    DayRows,
    ReportEngine,
    ReportError,
    breakdown_python,
    funnel_python,
    overview_python,
    parse_steps,
    parse_window,
    platform_python,
    timeseries_python,
)
from tests.support.insights_lake import GEO, compact, curated_form, sample, write_raw


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[LakeCache, list[dict[str, Any]]]:
    work = tmp_path_factory.mktemp("lake")
    events = sample()
    events += late_events(events)
    cache = LakeCache(work / "cache")
    raw = work / "raw"
    first, second = events[:2000], events[2000:]
    # Redeliveries: 100 events of the first run again in the second, received later, and
    # 50 twice within the second run's own objects.
    again = [{**e, "received_at": "2026-12-07T00:00:00.000Z"} for e in first[:100]]
    twice = second[:50]
    assert compact(cache, "web", "events", 1,
                   [write_raw(raw, "a", first[:1000]), write_raw(raw, "b", first[1000:])],
                   work) == 2000
    assert compact(cache, "web", "events", 2,
                   [write_raw(raw, "c", second + again), write_raw(raw, "d", twice)],
                   work) == len(second)
    # The same objects again (a run that died before recording them): nothing new.
    assert compact(cache, "web", "events", 3, [write_raw(raw, "c2", second + again)],
                   work) == 0
    return cache, curated_form(events)


def late_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events that arrive just after midnight with a time just before it: their visitor hash
    is the arrival day's, as on the visitor's other events of that day, but they lie in the
    day before's partition, so a sum over days counts those visitors twice unless the
    reports correct it."""
    arrived = [e for e in events if e["visitor"] and not e["bot"]
               and e["timestamp"].startswith("2026-12-04")]
    picked = arrived[::max(1, len(arrived) // 8)][:8]
    assert len(picked) == 8
    return [{**e, "id": f"late-{n}", "type": "page", "name": None,
             "path": "/home" if n % 2 else e["path"],
             "timestamp": f"2026-12-03T23:59:5{n}.000Z",
             "received_at": "2026-12-04T00:00:09.000Z"} for n, e in enumerate(picked)]


def engine(cache: LakeCache) -> ReportEngine:
    return ReportEngine(lambda table, a, b: cache.paths(table, a, b), memory_mb=256, threads=1)


WINDOWS = [("2026-12-02", "2026-12-06", "UTC"), ("2026-12-03", "2026-12-04", "Europe/Berlin"),
           ("2026-12-02T10:00:00Z", "2026-12-05T09:30:00Z", "America/New_York")]


@pytest.mark.parametrize(("start", "end", "tz"), WINDOWS)
def test_overview_equals_the_reference(lake: Any, start: str, end: str, tz: str) -> None:
    cache, events = lake
    window = parse_window(start, end, tz)
    reports = engine(cache)
    got, want = reports.overview(window), overview_python(events, window)
    assert reports.overview(window) == got  # again, from the rows kept for whole days
    assert got.model_dump(exclude={"bounce_rate", "visit_duration"}) == want.model_dump(
        exclude={"bounce_rate", "visit_duration"})
    assert got.bounce_rate == pytest.approx(want.bounce_rate)
    assert got.visit_duration == pytest.approx(want.visit_duration)
    assert got.visitors > 0 and got.visits >= got.visitors and 0 < got.bounce_rate < 1


@pytest.mark.parametrize(("start", "end", "tz"), WINDOWS)
@pytest.mark.parametrize("metric", ["visitors", "visits", "pageviews", "events"])
@pytest.mark.parametrize("interval", ["hour", "day"])
def test_timeseries_equals_the_reference(lake: Any, start: str, end: str, tz: str,
                                         metric: Any, interval: Any) -> None:
    cache, events = lake
    window = parse_window(start, end, tz)
    reports = engine(cache)
    got = reports.timeseries(window, metric, interval)
    assert got == timeseries_python(events, window, metric, interval)
    assert reports.timeseries(window, metric, interval) == got  # from the rows kept
    assert sum(b.value for b in got) > 0


@pytest.mark.parametrize("by", ["page", "referrer", "country", "continent", "browser", "os",
                                "device", "event"])
@pytest.mark.parametrize(("start", "end", "tz"), WINDOWS)
def test_breakdown_equals_the_reference(lake: Any, by: Any, start: str, end: str,
                                        tz: str) -> None:
    cache, events = lake
    window = parse_window(start, end, tz)
    reports = engine(cache)
    got = reports.breakdown(window, by, 10)
    assert got == breakdown_python(events, window, by, 10)
    assert got
    # Again, from the rows kept for the whole days: the same answer, and every value.
    assert reports.breakdown(window, by, 10) == got
    assert reports.breakdown(window, by, 1000) == breakdown_python(events, window, by, 1000)


def test_a_breakdown_follows_a_day_whose_files_changed(tmp_path: Path) -> None:
    """The rows kept for a day belong to that day's files: a compaction run that adds a file
    (or a merge that replaces them) is in the next answer."""
    events = sample(1200, 3, seed=8)
    cache = LakeCache(tmp_path / "cache")
    compact(cache, "web", "events", 1, [write_raw(tmp_path / "raw", "a", events[:700])],
            tmp_path)
    reports = engine(cache)
    window = parse_window("2026-12-04", "2026-12-06", "UTC")
    assert reports.breakdown(window, "country", 100) == breakdown_python(
        curated_form(events[:700]), window, "country", 100)
    assert reports.overview(window).events == len(
        [e for e in curated_form(events[:700]) if not e["bot"]])
    for metric in ("visitors", "visits"):
        reports.timeseries(window, metric, "day")  # type: ignore[arg-type]
    reports.funnel(window, parse_steps("/home,/product"))
    compact(cache, "web", "events", 2, [write_raw(tmp_path / "raw", "b", events[700:])],
            tmp_path)
    assert reports.breakdown(window, "country", 100) == breakdown_python(
        curated_form(events), window, "country", 100)
    assert reports.overview(window).events == len(
        [e for e in curated_form(events) if not e["bot"]])
    for metric in ("visitors", "visits"):
        assert reports.timeseries(window, metric, "day") == timeseries_python(  # type: ignore[arg-type]
            curated_form(events), window, metric, "day")  # type: ignore[arg-type]
    steps = parse_steps("/home,/product")
    assert reports.funnel(window, steps) == funnel_python(curated_form(events), window, steps)


@pytest.mark.parametrize("steps", ["/home,/product,/cart,event:purchase",
                                   "/product,/product", "event:search,/cart"])
@pytest.mark.parametrize(("start", "end", "tz"), WINDOWS)
def test_funnel_equals_the_reference(lake: Any, steps: str, start: str, end: str,
                                     tz: str) -> None:
    cache, events = lake
    window = parse_window(start, end, tz)
    reports = engine(cache)
    got = reports.funnel(window, parse_steps(steps))
    assert got == funnel_python(events, window, parse_steps(steps))
    assert reports.funnel(window, parse_steps(steps)) == got  # from the rows kept
    assert got[0].visits > 0 and got[0].conversion == 1.0
    assert all(a.visits >= b.visits for a, b in zip(got, got[1:], strict=False))


def test_curated_rows_are_typed_and_joined(lake: Any) -> None:
    cache, events = lake
    import duckdb

    files = cache.paths("events")
    con = duckdb.connect()
    row = con.execute(f"SELECT count(*), count(DISTINCT id), typeof(any_value(timestamp)), "
                     f"typeof(any_value(properties)) FROM read_parquet({files!r})").fetchone()
    assert row == (len(events), len(events), "TIMESTAMP WITH TIME ZONE", "VARCHAR")
    de = con.execute(f"SELECT DISTINCT country_name, continent FROM read_parquet({files!r}) "
                    "WHERE country = 'DE'").fetchall()
    assert de == [GEO["DE"]]


def test_partition_pruning_reads_only_the_window(lake: Any) -> None:
    cache, _ = lake
    reports = engine(cache)
    reports.overview(parse_window("2026-12-04", "2026-12-04"))
    one_day = reports.last
    reports.overview(parse_window("2026-12-02", "2026-12-06"))
    day = date(2026, 12, 4)
    # The day's event files and the sessions derived from them, nothing else.
    assert one_day.files == len(cache.live("events", day, day)) + 1 < reports.last.files
    assert one_day.bytes < reports.last.bytes


def test_platform_report(tmp_path: Path) -> None:
    cache = LakeCache(tmp_path / "cache")
    events = [{"id": f"e{n}", "source": "recipes", "type": t, "time": f"2026-12-0{d}T23:30:00Z",
               "subject": None, "data": {"n": n}, "received_at": "2026-12-07T00:00:00Z"}
              for n, (d, t) in enumerate([(3, "recipe.created"), (3, "recipe.created"),
                                          (4, "recipe.liked"), (5, "meeting.requested")])]
    compact(cache, "platform", "platform_events", 1,
            [write_raw(tmp_path / "raw", "p", events + events[:2])], tmp_path)
    for tz in ("UTC", "Europe/Berlin"):
        window = parse_window("2026-12-03", "2026-12-05", tz)
        got = engine(cache).platform(window, 100)
        assert got == platform_python(events, window, 100)
    assert [i.count for i in engine(cache).platform(parse_window("2026-12-01", "2026-12-06"),
                                                    100)] == [2, 1, 1]


def test_bad_rows_are_kept_once(tmp_path: Path) -> None:
    cache = LakeCache(tmp_path / "cache")
    bad = [{"received_at": "2026-12-07T10:00:00.000Z", "index": n,
            "errors": [{"loc": "type", "msg": "must be page or track"}],
            "payload": '{"type": "oops"}'} for n in range(3)]
    assert compact(cache, "bad", "bad_rows", 1,
                   [write_raw(tmp_path / "raw", "b", bad + bad[:1])], tmp_path) == 3
    assert compact(cache, "bad", "bad_rows", 2,
                   [write_raw(tmp_path / "raw", "b2", bad)], tmp_path) == 0


@pytest.mark.parametrize(("start", "end", "tz"), [
    ("2026-12-05", "2026-12-04", "UTC"), ("yesterday", None, "UTC"),
    (None, None, "Mars/Base"), ("2025-01-01", "2026-12-01", "UTC")])
def test_bad_windows_are_refused(start: str | None, end: str | None, tz: str) -> None:
    with pytest.raises(ReportError):
        parse_window(start, end, tz)


@pytest.mark.parametrize("steps", ["", "home", "/a," * 11, "event:"])
def test_bad_steps_are_refused(steps: str) -> None:
    with pytest.raises(ReportError):
        parse_steps(steps)


def test_new_properties_keys_need_no_schema_change(tmp_path: Path) -> None:
    cache = LakeCache(tmp_path / "cache")
    base = sample(20, 1)
    compact(cache, "web", "events", 1, [write_raw(tmp_path / "raw", "a", base[:10])], tmp_path)
    evolved = [{**e, "properties": {**e["properties"], "campaign": "winter", "variant": 2,
                                    "beta": True, "score": 0.5}} for e in base[10:]]
    assert compact(cache, "web", "events", 2, [write_raw(tmp_path / "raw", "b", evolved)],
                   tmp_path) == 10
    import duckdb

    rows = duckdb.connect().execute(
        f"SELECT properties->>'campaign', (properties->>'variant')::INT, "
        f"(properties->>'beta')::BOOLEAN, count(*) FROM read_parquet({cache.paths('events')!r}) "
        f"GROUP BY ALL ORDER BY ALL NULLS FIRST").fetchall()
    assert rows == [(None, None, None, 10), ("winter", 2, True, 10)]


@pytest.mark.parametrize(("tz", "day"), [("America/New_York", "2026-11-01"),
                                         ("Europe/Berlin", "2026-10-25"),
                                         ("Asia/Kolkata", "2026-10-31")])
def test_hourly_buckets_follow_the_wall_clock(tmp_path: Path, tz: str, day: str) -> None:
    # A DST change repeats an hour (two buckets, two offsets); India's hours start at :30 UTC.
    from services.insights.generate import Options, clickstream

    events = list(clickstream(Options(events=6000, days=10, end=date(2026, 11, 2), seed=5)))
    cache = LakeCache(tmp_path / "cache")
    compact(cache, "web", "events", 1, [write_raw(tmp_path / "raw", "a", events)], tmp_path)
    window = parse_window(day, day, tz)
    for metric in ("events", "visits", "visitors"):
        got = engine(cache).timeseries(window, metric, "hour")  # type: ignore[arg-type]
        assert got == timeseries_python(curated_form(events), window, metric, "hour")  # type: ignore[arg-type]
    assert len(got) == (25 if tz != "Asia/Kolkata" else 24)
    assert sum(b.value for b in got) > 0


@pytest.mark.parametrize("anonymous", [{"visitor": None}, {"bot": True, "device": "bot"}],
                         ids=["do-not-track", "bots"])
def test_a_window_with_events_but_no_visitor_reports_zero_visits(
        tmp_path: Path, anonymous: dict[str, Any]) -> None:
    """Only DNT page views, or only bots: there are events but no visit to derive, and
    every visit-based report answers zeros (not an error)."""
    cache = LakeCache(tmp_path / "cache")
    events = [{**e, **anonymous} for e in sample(40, 1, seed=3)]
    compact(cache, "web", "events", 1, [write_raw(tmp_path / "raw", "a", events)], tmp_path)
    window = parse_window("2026-12-01", "2026-12-07", "UTC")
    reports = engine(cache)
    overview = reports.overview(window)
    assert overview.visitors == overview.visits == 0 and overview.bounce_rate == 0.0
    assert overview == overview_python(curated_form(events), window)
    steps = parse_steps("/home,/cart")
    assert reports.funnel(window, steps) == funnel_python(curated_form(events), window, steps)
    assert all(b.value == 0 for b in reports.timeseries(window, "visits", "day"))


def test_rows_kept_are_bounded_and_a_report_is_whole_without_them(lake: Any) -> None:
    """With room for almost nothing, the rows just computed still make the answer."""
    cache, events = lake
    reports = ReportEngine(lambda table, a, b: cache.paths(table, a, b), memory_mb=256,
                           threads=1, day_rows=DayRows(10))
    window = parse_window("2026-12-02", "2026-12-06", "UTC")
    for _ in range(2):
        assert reports.breakdown(window, "country", 100) == breakdown_python(
            events, window, "country", 100)
        assert reports.day_rows.rows <= 10 or len(reports.day_rows._rows) == 1
