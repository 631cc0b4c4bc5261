"""The collector against the emulator: events land in raw/web as gzip JSON lines, bad ones
in raw/bad with their reasons, requests are group-committed, no address or agent is stored."""

from __future__ import annotations

import asyncio
import gzip
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from devkit.testing import LocalStack
from services.insights.generate import Options, clickstream, post_http, visits
from services.insights.store.lake import GroupCommit, RawZone, read_jsonl_gz
from shared.aws import AwsClients
from shared.errors import AwsUnavailableError
from tests.support.insights import BROWSER, lake_objects, lake_rows


def page(path: str, **fields: object) -> dict[str, object]:
    return {"type": "page", "path": path, **fields}


async def test_a_batch_lands_in_raw_web_as_enriched_rows(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    run = uuid.uuid4().hex[:8]
    stamp = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = [
        page(f"/{run}/home?email=x@example.com", referrer="https://www.google.com/search?q=me"),
        {"type": "track", "name": "purchase", "path": f"/{run}/cart",
         "properties": {"total": 42.5, "items": 2, "coupon": None}, "timestamp": stamp,
         "id": f"{run}-purchase"},
    ]
    answer = await client.post("/insights/events", json={"events": events})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 2, "duplicates": 0, "rejected": []}

    rows = [r for r in await lake_rows(aws, stack, "web") if r["path"].startswith(f"/{run}/")]
    assert len(rows) == 2
    home = next(r for r in rows if r["type"] == "page")
    purchase = next(r for r in rows if r["type"] == "track")
    assert home["path"] == f"/{run}/home" and home["name"] is None
    assert home["referrer"] == "https://www.google.com/search"
    assert home["referrer_host"] == "www.google.com"
    assert re.fullmatch(r"[0-9a-f]{32}", home["visitor"]) and home["visitor"] == purchase["visitor"]
    assert (home["browser"], home["os"], home["device"], home["bot"]) == (
        "Chrome", "Windows", "desktop", False)
    assert home["country"] is None  # 127.0.0.1 has no country
    assert home["site"] == "regatta"
    assert purchase["id"] == f"{run}-purchase" and purchase["name"] == "purchase"
    assert purchase["properties"] == {"total": 42.5, "items": 2, "coupon": None}
    assert purchase["timestamp"] == datetime.fromisoformat(stamp).strftime(
        "%Y-%m-%dT%H:%M:%S.") + f"{datetime.fromisoformat(stamp).microsecond // 1000:03d}Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", home["received_at"])
    keys = await lake_objects(aws, stack, "raw/web/")
    assert all(re.fullmatch(r"raw/web/dt=\d{4}-\d\d-\d\d/hour=\d\d/[0-9a-f]{32}\.jsonl\.gz", k)
               for k in keys)


async def test_bad_events_are_kept_with_their_reasons_and_the_rest_accepted(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    run = uuid.uuid4().hex[:8]
    events = [page(f"/{run}/ok"), {"type": "click", "path": f"{run}-no-slash"},
              page(f"/{run}/ok2", properties={"nested": {"a": 1}})]
    answer = await client.post("/insights/events", json={"events": events})
    assert answer.status_code == 202
    body = answer.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert {e["loc"] for e in body["rejected"][0]["errors"]} == {"type", "path"}
    bad = [r for r in await lake_rows(aws, stack, "bad") if run in r["payload"]]
    assert sorted(r["index"] for r in bad) == [1, 2]
    assert next(r for r in bad if r["index"] == 2)["errors"] == [
        {"loc": "properties.nested",
         "msg": "values are strings, numbers, booleans or null (a flat object)"}]


async def test_duplicates_in_a_batch_are_counted_and_a_retry_has_the_same_ids(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    run = uuid.uuid4().hex[:8]
    events = [page(f"/{run}/a"), page(f"/{run}/a"), page(f"/{run}/b", id=f"{run}-b"),
              page(f"/{run}/b2", id=f"{run}-b")]
    first = (await client.post("/insights/events", json={"events": events})).json()
    assert (first["accepted"], first["duplicates"]) == (2, 2)
    again = (await client.post("/insights/events", json={"events": events})).json()
    assert (again["accepted"], again["duplicates"]) == (2, 2)
    rows = [r for r in await lake_rows(aws, stack, "web") if r["path"].startswith(f"/{run}/")]
    # Both requests are stored; their ids agree, so the lake keeps each event once.
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 2


async def test_do_not_track_and_bots_have_no_visitor(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    run = uuid.uuid4().hex[:8]
    for headers in ({"DNT": "1"}, {"Sec-GPC": "1"}, {"User-Agent": "curl/8.4.0"}):
        answer = await client.post("/insights/events", json=page(f"/{run}/x"), headers=headers)
        assert answer.json()["accepted"] == 1
    rows = [r for r in await lake_rows(aws, stack, "web") if r["path"] == f"/{run}/x"]
    assert len(rows) == 3 and all(r["visitor"] is None for r in rows)
    assert sorted(r["bot"] for r in rows) == [False, False, True]


async def test_concurrent_requests_share_objects(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    run = uuid.uuid4().hex[:8]
    before = set(await lake_objects(aws, stack, "raw/web/"))
    batches = [{"events": [page(f"/{run}/{i}/{j}") for j in range(100)]} for i in range(30)]
    answers = await asyncio.gather(*(client.post("/insights/events", json=b) for b in batches))
    assert all(a.status_code == 202 and a.json()["accepted"] == 100 for a in answers)
    new = {k: v for k, v in (await lake_objects(aws, stack, "raw/web/")).items()
           if k not in before}
    rows = [r for body in new.values() for r in read_jsonl_gz(body)
            if r["path"].startswith(f"/{run}/")]
    assert len(rows) == 3000
    assert len(new) < 30 / 2, f"{len(new)} objects for 30 requests"


async def test_the_body_as_a_whole_is_checked(client: httpx.AsyncClient) -> None:
    for body in [b"[1]", b"nope", b'{"events": []}']:
        answer = await client.post("/insights/events", content=body,
                                   headers={"Content-Type": "application/json"})
        assert answer.status_code == 422, body
        assert answer.headers["content-type"] == "application/problem+json"
    too_many = {"events": [page("/x")] * 501}
    assert (await client.post("/insights/events", json=too_many)).status_code == 422
    huge = b'{"type": "page", "path": "/", "properties": {"k": "' + b"x" * 530_000 + b'"}}'
    answer = await client.post("/insights/events", content=huge,
                               headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


async def test_nothing_stored_holds_the_address_or_the_agent(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    agent = BROWSER + " Marker/" + uuid.uuid4().hex
    address = "81.2.69.142"
    # uvicorn believes X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS' default), as it
    # does from the load balancer in AWS: the kit's client address is then the forwarded one.
    run = uuid.uuid4().hex[:8]
    headers = {"User-Agent": agent, "X-Forwarded-For": address}
    # Only what this test makes is read: the lake also holds the rest of the session's
    # events (the web app's page views name 127.0.0.1 in their referrers).
    zones = ("raw/web/", "raw/bad/")
    before = {key for zone in zones for key in await lake_objects(aws, stack, zone)}
    assert (await client.post("/insights/events", json=page(f"/{run}/private"),
                              headers=headers)).status_code == 202
    assert (await client.post("/insights/events", json={"type": "x"},
                              headers=headers)).status_code == 202
    assert (await client.post("/insights/hits", json={"path": "/private"},
                              headers=headers)).status_code == 200
    # What the collector writes (raw/web, raw/bad). raw/platform holds other services'
    # events as they published them (a media job's URLs name 127.0.0.1 locally).
    stored = b""
    for zone in zones:
        stored += b"".join(gzip.decompress(body) for key, body in
                           (await lake_objects(aws, stack, zone)).items() if key not in before)
    assert f"/{run}/private".encode() in stored  # the test's own event is among them
    dynamodb = await aws.client("dynamodb")
    for table in ("insights-hits", "insights-salts"):
        scan = await dynamodb.scan(TableName=stack.resources.table(table))
        stored += repr(scan["Items"]).encode()
    for secret in (b"127.0.0.1", address.encode(), b"Marker/", b"Mozilla/5.0", b"Chrome/120"):
        assert secret not in stored, secret
    [row] = [r for r in await lake_rows(aws, stack, "web") if r["path"] == f"/{run}/private"]
    assert row["country"] == "GB" and row["browser"] == "Chrome"


async def test_a_failed_write_fails_every_request_of_its_group(
    aws: AwsClients, stack: LocalStack
) -> None:
    raw = RawZone(await aws.client("s3"), "regatta-no-such-bucket")
    commit = GroupCommit(raw, window=0.01)
    results = await asyncio.gather(*(commit.write([{"id": str(i)}], []) for i in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, AwsUnavailableError) for r in results)
    good = GroupCommit(RawZone(await aws.client("s3"), stack.resources.bucket("insights-lake")),
                       window=0.01)
    await asyncio.gather(*(good.write([{"id": str(i), "path": "/gc"}], []) for i in range(5)))
    assert good.objects == 1


async def test_the_generator_through_the_collector_writes_what_it_writes_raw(
    insights_api: str, aws: AwsClients, stack: LocalStack
) -> None:
    """`regatta insights-generate --via http`: each visit a request with its visitor's agent,
    DNT and forwarded address; the collector's enrichment then gives every event the classes,
    country and bot flag that --via raw writes, and one visitor hash per generated visitor."""
    now = datetime.now(UTC)
    # Paths of their own: the session's other tests (the web app's) count /home in the lake.
    options = Options(events=600, days=2, end=now.date(), until=now,
                      seed=uuid.uuid4().int % 1_000_000, path_prefix=f"/{uuid.uuid4().hex[:8]}")
    expected = {e["id"]: e for e in clickstream(options)}
    totals = await post_http(insights_api, options)
    assert (totals["accepted"], totals["duplicates"], totals["rejected"]) == (600, 0, 0)
    rows = {r["id"]: r for r in await lake_rows(aws, stack, "web") if r["id"] in expected}
    assert rows.keys() == expected.keys()
    same = ("type", "name", "path", "referrer", "referrer_host", "properties", "timestamp",
            "country", "browser", "os", "device", "bot")
    for key, row in rows.items():
        assert {f: row[f] for f in same} == {f: expected[key][f] for f in same}
        assert (row["visitor"] is None) == (expected[key]["visitor"] is None)
    # One hash per generated visitor (all are hashed with the salt of the day they arrive,
    # today), and no two visitors share one.
    owner = {e["id"]: visitor.key for visitor, events in visits(options) for e in events}
    hashes = {(owner[k], row["visitor"]) for k, row in rows.items() if row["visitor"]}
    assert len({mine for mine, _ in hashes}) == len({theirs for _, theirs in hashes}) \
        == len(hashes) > 10
