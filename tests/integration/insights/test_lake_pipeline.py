"""Raw -> curated -> reports against the emulator: a generated clickstream with known ground
truth, redeliveries counted once (within a run, across runs, after a lost checkpoint),
one compaction runner at a time, bad rows and platform events queryable, the admin-only
routes and /sql, an event visible in the reports right after the next compaction."""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from devkit.testing import (
    LocalStack,
    ServiceProcess,
    auth_header,
    create_table,
    eventually,
)
from services.insights.compact import CompactionRunner
from services.insights.generate import raw_objects, write_raw
from services.insights.lake.cache import list_keys
from services.insights.lake.compaction import CompactionState
from services.insights.lake.layout import raw_key
from services.insights.lake.reference import geo_csv
from services.insights.lake.reports import (
    breakdown_python,
    funnel_python,
    overview_python,
    parse_steps,
    parse_window,
    platform_python,
    timeseries_python,
)
from tests.support.insights_lake import Lake, curated_form, sample

EVENTS = sample(3000, 5, seed=21)
PLATFORM = [{"id": f"p{n}", "source": "regatta/recipes", "type": t,
             "time": f"2026-12-0{2 + n % 4}T12:00:00.000Z", "subject": f"r{n}",
             "data": {"n": n}, "received_at": "2026-12-06T12:00:00.000Z"}
            for n, t in enumerate(["recipe.created", "recipe.liked", "meeting.requested"] * 10)]
BAD = [{"received_at": "2026-12-05T08:00:00.000Z", "index": n,
        "errors": [{"loc": "type", "msg": "must be page or track"}],
        "payload": orjson.dumps({"type": "nope", "n": n}).decode()} for n in range(7)]


def _object(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(b"\n".join(orjson.dumps(r) for r in records) + b"\n")


async def _put(lake: Lake, zone: Any, records: list[dict[str, Any]]) -> None:
    s3 = await lake.aws.client("s3")
    await s3.put_object(Bucket=lake.bucket, Key=raw_key(zone, datetime.now(UTC)),
                        Body=_object(records))


@pytest_asyncio.fixture(scope="module")
async def compacted(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    s3 = await lake.aws.client("s3")
    await write_raw(s3, lake.bucket, raw_objects(iter(EVENTS), per_object=500,
                                                 rng=random.Random(5)))
    redelivered = [{**e, "received_at": "2026-12-07T09:00:00.000Z"} for e in EVENTS[:200]]
    await _put(lake, "web", redelivered + EVENTS[2990:])  # and twice within the run
    await _put(lake, "platform", PLATFORM + PLATFORM[:5])
    await _put(lake, "bad", BAD)
    compactor = await lake.compactor(tmp_path_factory.mktemp("compactor"))
    first = await compactor.run_once()
    second = await compactor.run_once()
    return {"first": first, "second": second, "compactor": compactor}


async def test_a_run_writes_every_event_once(compacted: dict[str, Any]) -> None:
    first, second = compacted["first"], compacted["second"]
    assert first is not None and first.objects == 9
    assert first.by_zone == {"web": 3000, "platform": 30, "bad": 7}
    assert second is not None and second.objects == 0 and second.written == 0


async def test_redeliveries_after_the_run_are_dropped(lake: Lake, compacted: dict[str, Any],
                                                      tmp_path: Path) -> None:
    await _put(lake, "web", EVENTS[1000:1100])
    report = await compacted["compactor"].run_once()
    assert report.objects == 1 and report.written == 0
    # A lost checkpoint: the done keys and watermarks forgotten, a new process with an
    # empty cache reads every raw object again, and writes nothing twice.
    dynamodb = await lake.aws.client("dynamodb")
    items = (await dynamodb.scan(TableName=lake.table))["Items"]
    for item in items:
        if item["sk"]["S"] != "run":
            await dynamodb.delete_item(TableName=lake.table,
                                       Key={"pk": item["pk"], "sk": item["sk"]})
    again = await (await lake.compactor(tmp_path / "fresh")).run_once()
    assert again is not None and again.objects == 10 and again.written == 0


async def test_the_first_run_provisions_the_geo_reference(lake: Lake, tmp_path: Path) -> None:
    s3 = await lake.aws.client("s3")
    other = Lake(f"{lake.bucket}-geo", f"{lake.table}-geo", lake.aws)
    await s3.create_bucket(Bucket=other.bucket)
    await create_table(lake.aws, other.table, "pk", "sk")
    bucket = other.bucket
    assert await (await other.compactor(tmp_path / "geo")).run_once() is not None
    body = await (await s3.get_object(Bucket=bucket, Key="reference/geo/countries.csv"))[
        "Body"].read()
    assert body == geo_csv()


async def test_an_unreadable_object_does_not_stop_compaction(lake: Lake,
                                                             compacted: dict[str, Any]) -> None:
    s3 = await lake.aws.client("s3")
    broken = raw_key("web", datetime.now(UTC))
    await s3.put_object(Bucket=lake.bucket, Key=broken, Body=b"not gzip at all")
    fine = [{**e, "id": f"beside-broken{n}", "timestamp": "2026-11-20T10:00:00.000Z"}
            for n, e in enumerate(EVENTS[:20])]
    await _put(lake, "web", fine)
    report = await compacted["compactor"].run_once()
    assert report.unreadable == [broken] and report.by_zone["web"] == 20
    again = await compacted["compactor"].run_once()  # recorded: not read again
    assert again.objects == 0 and again.unreadable == []


async def test_the_worker_timer_runs_until_stopped(lake: Lake, compacted: dict[str, Any]) -> None:
    runner = CompactionRunner(compacted["compactor"], interval=0.05)
    task = asyncio.create_task(runner.run())

    async def ran_twice() -> bool:
        return runner.runs >= 2

    await eventually(ran_twice, timeout=20, interval=0.05)
    runner.stop()
    await asyncio.wait_for(task, 10)
    assert runner.runs >= 2


async def test_one_runner_at_a_time(lake: Lake, compacted: dict[str, Any]) -> None:
    other = CompactionState(await lake.aws.client("dynamodb"), lake.table, lease_seconds=30)
    assert await other.take_lease()
    try:
        assert await compacted["compactor"].run_once() is None
    finally:
        await other.release()
    assert await compacted["compactor"].run_once() is not None


@pytest.fixture(scope="module")
def api_url(stack: LocalStack, lake: Lake, lake_logs: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {**stack.env, "LAKE_TEST_BUCKET": lake.bucket, "INSIGHTS_LAKE_REFRESH_SECONDS": "0",
           "INSIGHTS_LAKE_CACHE_DIR": str(tmp_path_factory.mktemp("api-cache"))}
    with ServiceProcess.api("tests.integration.insights.lake_app:app", env,
                            log_path=lake_logs / "api.log") as api:
        yield api.url


@pytest_asyncio.fixture(scope="module")
async def admin(api_url: str, tokens: dict[str, str],
                compacted: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30,
                                 headers=auth_header(tokens["admin"])) as client:
        yield client


TRUTH = curated_form(EVENTS)
SPAN = {"from": "2026-12-02", "to": "2026-12-06", "tz": "Europe/Berlin"}


async def test_every_report_equals_the_plain_python_computation(
        admin: httpx.AsyncClient) -> None:
    window = parse_window(SPAN["from"], SPAN["to"], SPAN["tz"])
    overview = (await admin.get("/insights/reports/overview", params=SPAN)).json()
    want = overview_python(TRUTH, window).model_dump()
    assert {k: overview[k] for k in ("visitors", "visits", "pageviews", "events")} == {
        k: want[k] for k in ("visitors", "visits", "pageviews", "events")}
    assert overview["bounce_rate"] == pytest.approx(want["bounce_rate"])
    assert overview["visit_duration"] == pytest.approx(want["visit_duration"])
    for metric in ("visitors", "visits", "pageviews", "events"):
        got = await admin.get("/insights/reports/timeseries",
                              params={**SPAN, "metric": metric, "interval": "day"})
        assert got.json()["items"] == [b.model_dump() for b in timeseries_python(
            TRUTH, window, metric, "day")]  # type: ignore[arg-type]
    for by in ("page", "referrer", "country", "continent", "browser", "os", "device", "event"):
        got = await admin.get("/insights/reports/breakdown", params={**SPAN, "by": by,
                                                                    "limit": 20})
        assert got.json()["items"] == [i.model_dump() for i in breakdown_python(
            TRUTH, window, by, 20)]  # type: ignore[arg-type]
    steps = "/home,/product,/cart,event:purchase"
    got = await admin.get("/insights/reports/funnel", params={**SPAN, "steps": steps})
    assert got.json()["items"] == [s.model_dump() for s in funnel_python(
        TRUTH, window, parse_steps(steps))]
    got = await admin.get("/insights/reports/platform", params=SPAN)
    assert got.json()["items"] == [i.model_dump() for i in platform_python(PLATFORM, window,
                                                                           100)]


async def test_sql_reads_the_views_and_refuses_the_rest(admin: httpx.AsyncClient) -> None:
    got = await admin.post("/insights/sql", json={"sql": "SELECT count(*) AS n, count(DISTINCT "
                                                  "payload) FROM bad_rows"})
    assert got.status_code == 200
    assert got.json() == {"columns": ["n", "count(DISTINCT payload)"], "rows": [[7, 7]],
                          "truncated": False}
    got = await admin.post("/insights/sql", json={"sql": "SELECT id FROM events"})
    assert got.json()["truncated"] is False and len(got.json()["rows"]) >= 3000
    for hostile in ("DROP TABLE events", "SELECT * FROM read_csv('/etc/passwd')",
                    "SELECT 1; SELECT 2", "COPY events TO '/tmp/x.csv'"):
        refused = await admin.post("/insights/sql", json={"sql": hostile})
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_bad_parameters_answer_422(admin: httpx.AsyncClient) -> None:
    for path, params in [("overview", {"from": "2026-12-05", "to": "2026-12-01"}),
                         ("overview", {"tz": "Nowhere/City"}),
                         ("breakdown", {"by": "shoe"}), ("funnel", {"steps": "home"}),
                         ("breakdown", {"limit": "0"})]:
        got = await admin.get(f"/insights/reports/{path}", params=params)
        assert got.status_code == 422, (path, params)


async def test_reports_are_for_admins(api_url: str, tokens: dict[str, str],
                                      compacted: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        assert (await client.get("/insights/reports/overview")).status_code == 401
        user = auth_header(tokens["alice"])
        assert (await client.get("/insights/reports/overview", headers=user)).status_code == 403
        assert (await client.post("/insights/sql", json={"sql": "SELECT 1"},
                                  headers=user)).status_code == 403


async def test_an_event_is_in_the_reports_after_the_next_compaction(
        lake: Lake, compacted: dict[str, Any], admin: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    fresh = [{**EVENTS[0], "id": f"fresh{n}", "timestamp": stamp, "received_at": stamp}
             for n in range(5)]
    started = time.monotonic()
    await _put(lake, "web", fresh)
    await compacted["compactor"].run_once()
    params = {"from": (now - timedelta(minutes=5)).isoformat(), "to": now.isoformat()}
    got = (await admin.get("/insights/reports/overview", params=params)).json()
    assert got["events"] == 5
    assert time.monotonic() - started < 60


async def test_small_files_of_a_partition_are_merged(lake: Lake, compacted: dict[str, Any],
                                                     admin: httpx.AsyncClient,
                                                     tmp_path: Path) -> None:
    compactor = await lake.compactor(tmp_path / "merging", merge_after=2)
    day = [{**e, "id": f"merge{n}", "timestamp": "2026-11-01T10:00:00.000Z"}
           for n, e in enumerate(EVENTS[:30])]
    for part in (day[:10], day[10:20], day[20:]):
        await _put(lake, "web", part)
        await compactor.run_once()
    live = compactor.cache.live("events", date(2026, 11, 1), date(2026, 11, 1))
    assert len(live) == 1 and live[0].merged
    s3 = await lake.aws.client("s3")
    listed = await s3.list_objects_v2(Bucket=lake.bucket, Prefix="curated/events/dt=2026-11-01/")
    assert [o["Key"] for o in listed["Contents"]] == [live[0].key]
    got = await admin.post("/insights/sql", json={
        "sql": "SELECT count(*) FROM events WHERE id LIKE 'merge%'"})
    assert got.json()["rows"] == [[30]]


async def test_closed_hours_leave_the_state(lake: Lake, compacted: dict[str, Any],
                                            tmp_path: Path) -> None:
    # Two hours later every raw hour written so far is closed: the watermark passes them,
    # their done items are deleted, and a run lists nothing before the watermark.
    later = datetime.now(UTC) + timedelta(hours=2)
    compactor = await lake.compactor(tmp_path / "later", clock=lambda: later)
    await compactor.run_once()
    dynamodb = await lake.aws.client("dynamodb")
    items = (await dynamodb.scan(TableName=lake.table))["Items"]
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in items}
    assert not [k for k in keys if k[1].startswith("done#")]
    mark = datetime.fromisoformat(next(i["hour"]["S"] for i in items
                                       if i["pk"]["S"] == "compaction#web"
                                       and i["sk"]["S"] == "watermark"))
    assert mark > datetime.now(UTC)
    again = await compactor.run_once()
    assert again is not None and again.objects == 0 and again.phases["list"] < 5


async def test_the_entry_points_use_the_topology(stack: LocalStack, tmp_path: Path) -> None:
    # What the worker (compaction_runner) and the API (build_lake_reader) build, over the
    # provisioned insights-lake bucket and insights-state table.
    from services.insights.compact import compaction_runner
    from services.insights.lake.reader import build_lake_reader
    from services.insights.settings import InsightsSettings
    from shared.aws import AwsClients

    settings = InsightsSettings(**{**stack.settings.model_dump(),
                                   "insights_lake_cache_dir": str(tmp_path)})
    async with AwsClients(settings) as aws:
        runner = await compaction_runner(
            aws, bucket=stack.resources.bucket("insights-lake"),
            state_table=stack.resources.table("insights-state"))
        report = await runner.turn()
        assert report is not None and runner.runs == 1
        s3 = await aws.client("s3")
        bucket = stack.resources.bucket("insights-lake")
        assert (await s3.head_object(Bucket=bucket, Key="reference/geo/countries.csv"))
        reader = await build_lake_reader(aws, stack.resources)
        window = parse_window("2026-12-01", "2026-12-06")
        overview = await reader.report(window, lambda: reader.engine.overview(window))
        assert overview.events >= 0


async def test_a_copy_with_a_budget_holds_the_days_it_reads(
    lake: Lake, compacted: dict[str, Any], tmp_path: Path
) -> None:
    """The API's copy fetches the days a report reads and, past its budget, drops the least
    recently read days (their sessions too); its answers equal those of a whole copy."""
    from services.insights.lake.cache import LakeCache
    from services.insights.lake.reader import LakeReader
    from services.insights.settings import InsightsSettings

    s3 = await lake.aws.client("s3")
    listed = [(k, size) for prefix in ("curated/events/", "curated/platform_events/",
                                       "curated/bad_rows/")
              for k, size in await list_keys(s3, lake.bucket, prefix)]
    by_day: dict[str, int] = {}
    for key, size in listed:
        day = key.split("dt=")[1][:10]
        by_day[day] = by_day.get(day, 0) + size
    budget = max(by_day.values())  # one day fits, never two
    settings = InsightsSettings(insights_lake_refresh_seconds=0)
    whole = LakeReader(s3, lake.bucket, LakeCache(tmp_path / "whole"), settings)
    small = LakeReader(s3, lake.bucket, LakeCache(tmp_path / "small", budget=budget), settings)

    async def both(first: str, last: str) -> None:
        window = parse_window(first, last)
        for reader in (whole, small):
            answers = [await reader.report(window, lambda r=reader: r.engine.overview(window)),
                       await reader.report(window, lambda r=reader: r.engine.breakdown(
                           window, "country", 50))]
            if reader is whole:
                expected = answers
        assert answers == expected and expected[0].pageviews > 0

    def held() -> set[str]:
        return {f"{d}" for d in small.cache.days_held()}

    await both("2026-12-03", "2026-12-03")
    assert held() == {"2026-12-03"}
    assert small.engine.sessions_dir(date(2026, 12, 3)).exists()
    await both("2026-12-04", "2026-12-04")
    assert held() == {"2026-12-04"}  # 12-03 left: the two do not fit
    assert not small.engine.sessions_dir(date(2026, 12, 3)).exists()
    await both("2026-12-02", "2026-12-06")  # more than the budget: held while it is read
    assert held() == {"2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06"}
    await both("2026-12-05", "2026-12-05")
    assert held() == {"2026-12-05"}
    count = "SELECT count(*), count(DISTINCT id) FROM events"  # every day, trimmed after
    assert (await small.sql(count)).rows == (await whole.sql(count)).rows
    assert "2026-12-02" not in held()  # the oldest days left first, until the copy fit
    assert sum(size for _, size in listed) > budget >= sum(
        p.stat().st_size for p in (tmp_path / "small" / "curated").rglob("*.parquet"))
