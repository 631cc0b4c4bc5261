"""The daily salt's rotation and caching, and the collector's group commit, over in-memory
doubles of the two AWS calls they make (the emulator runs are in tests/integration/insights)."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from services.insights.collect import Context, collect
from services.insights.enrich import visitor_hash
from services.insights.store.lake import GroupCommit, RawZone, jsonl_gz, read_jsonl_gz
from services.insights.store.salts import DailySalts, end_of_day
from shared.errors import AwsUnavailableError


class SaltTable:
    """GetItem and a conditional PutItem on one key attribute, as DynamoDB answers them."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    async def get_item(self, *, TableName: str, Key: dict[str, Any],  # noqa: N803
                       ConsistentRead: bool) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(Key["day"]["S"])
        return {"Item": item} if item else {}

    async def put_item(self, *, TableName: str, Item: dict[str, Any],  # noqa: N803
                       **condition: Any) -> None:
        if Item["day"]["S"] in self.items:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
        self.items[Item["day"]["S"]] = Item


async def test_one_salt_a_day_shared_cached_and_rotated() -> None:
    table = SaltTable()
    now = [datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC)]
    a = DailySalts(table, "salts", clock=lambda: now[0])  # type: ignore[arg-type]
    b = DailySalts(table, "salts", clock=lambda: now[0])  # type: ignore[arg-type]
    day, salt = await a.today()
    assert (await b.today()) == (day, salt) and len(salt) == 32
    calls = a.calls
    await asyncio.gather(*(a.today() for _ in range(10)))
    assert a.calls == calls  # from memory for the rest of the day
    stored = table.items["2026-12-07"]
    assert int(stored["expires_at"]["N"]) == int(datetime(2026, 12, 8, tzinfo=UTC).timestamp())
    now[0] += timedelta(seconds=1)
    next_day, next_salt = await a.today()
    assert str(next_day) == "2026-12-08" and next_salt != salt
    # The same visitor hashes differently the next day: days cannot be linked.
    agent = "Mozilla/5.0"
    assert visitor_hash(salt, "s", "81.2.69.142", agent) != visitor_hash(
        next_salt, "s", "81.2.69.142", agent)


async def test_concurrent_first_uses_create_the_salt_once() -> None:
    table = SaltTable()
    clock = lambda: datetime(2026, 12, 7, 12, tzinfo=UTC)  # noqa: E731
    processes = [DailySalts(table, "salts", clock=clock) for _ in range(5)]  # type: ignore[arg-type]
    salts = await asyncio.gather(*(p.today() for p in processes))
    assert len({s for _, s in salts}) == 1 and len(table.items) == 1


def test_end_of_day() -> None:
    assert end_of_day(datetime(2026, 2, 28).date()) == datetime(2026, 3, 1, tzinfo=UTC)


class Bucket:
    """PutObject into memory; ``fail`` makes every call fail as a throttled S3 would."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail = False

    async def put_object(self, *, Bucket: str, Key: str, Body: bytes,  # noqa: N803
                         **_: Any) -> None:
        await asyncio.sleep(0.005)
        if self.fail:
            raise ClientError({"Error": {"Code": "SlowDown"}}, "PutObject")
        self.objects[Key] = Body


def rows(n: int, tag: str) -> list[dict[str, Any]]:
    return [{"id": f"{tag}-{i}", "path": f"/{tag}"} for i in range(n)]


async def test_concurrent_requests_are_one_object_and_all_answered_after_it() -> None:
    bucket = Bucket()
    commit = GroupCommit(RawZone(bucket, "lake"), window=0.01)  # type: ignore[arg-type]
    await asyncio.gather(*(commit.write(rows(100, str(i)), []) for i in range(20)))
    [(key, body)] = bucket.objects.items()
    assert key.startswith("raw/web/dt=") and key.endswith(".jsonl.gz")
    assert len(read_jsonl_gz(body)) == 2000


async def test_bad_rows_go_to_their_own_object() -> None:
    bucket = Bucket()
    commit = GroupCommit(RawZone(bucket, "lake"), window=0.001)  # type: ignore[arg-type]
    await commit.write(rows(2, "ok"), [{"index": 1, "errors": [], "payload": "{}"}])
    assert sorted(k.split("/")[1] for k in bucket.objects) == ["bad", "web"]


async def test_the_size_cap_writes_at_once_and_a_failure_fails_its_whole_group() -> None:
    bucket = Bucket()
    commit = GroupCommit(RawZone(bucket, "lake"), window=10, max_events=150)  # type: ignore[arg-type]
    await asyncio.wait_for(asyncio.gather(commit.write(rows(100, "a"), []),
                                          commit.write(rows(100, "b"), [])), 2)
    assert len(bucket.objects) == 1
    bucket.fail = True
    failing = GroupCommit(RawZone(bucket, "lake"), window=0.01)  # type: ignore[arg-type]
    results = await asyncio.gather(*(failing.write(rows(100, str(i)), []) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, AwsUnavailableError) for r in results)
    assert len(bucket.objects) == 1


@pytest.mark.parametrize("dnt", [False, True])
def test_no_address_or_agent_in_the_stored_bytes(dnt: bool) -> None:
    address, agent = "81.2.69.142", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
    salt = b"s" * 32
    context = Context(
        received_at=datetime.now(UTC),
        visitor=None if dnt else visitor_hash(salt, "regatta", address, agent),
        country="GB", browser="Firefox", os="Linux", device="desktop", bot=False,
        site="regatta", nonce="n")
    batch = collect([{"type": "page", "path": "/"}, {"type": "nope"}], context)
    for stored in (jsonl_gz(batch.rows), jsonl_gz(batch.bad)):
        text = gzip.decompress(stored)
        for secret in (address.encode(), b"Mozilla", b"Firefox/120", salt):
            assert secret not in text


async def test_the_collector_answers_503_with_retry_after_when_s3_fails() -> None:
    """The route over a failing bucket (in-process app, no lifespan: the container is set)."""
    import httpx

    from services.insights.container import InsightsContainer
    from services.insights.enrich import Geo
    from services.insights.main import build_app
    from services.insights.settings import InsightsSettings
    from services.insights.store.counter import HitCounter

    bucket = Bucket()
    bucket.fail = True
    raw = RawZone(bucket, "lake")  # type: ignore[arg-type]
    app = build_app(InsightsSettings(rate_limits_enabled=False))
    app.state.container = InsightsContainer(
        raw=raw, collector=GroupCommit(raw, window=0.001),
        salts=DailySalts(SaltTable(), "salts"),  # type: ignore[arg-type]
        counter=HitCounter(None, "hits"),  # type: ignore[arg-type]
        geo=Geo())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        answer = await client.post("/insights/events", json={"type": "page", "path": "/"})
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] and answer.headers["content-type"] == (
            "application/problem+json")
        bucket.fail = False
        answer = await client.post("/insights/events", json={"type": "page", "path": "/"})
        assert answer.status_code == 202 and answer.json()["accepted"] == 1
