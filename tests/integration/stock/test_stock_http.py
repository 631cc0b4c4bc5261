"""The stock-ingest and trend HTTP contracts: status codes, problem+json, listings, cursors,
candles against the Python reference, and OpenAPI docs under each prefix."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from stock_checks import accepted

from devkit.testing import LocalStack
from services.stock_ingest.candles import Interval, candles_python
from services.stock_ingest.models import format_timestamp

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
# A fixed past morning, so partitions and candles are predictable.
MORNING = datetime(2024, 3, 1, 9, 58, tzinfo=UTC)


def tick(symbol: str, at: datetime, price: float, **extra: object) -> dict[str, object]:
    return {"symbol": symbol, "timestamp": format_timestamp(at), "price": price, **extra}


async def test_one_tick_is_recorded_with_a_202_receipt(ingest: httpx.AsyncClient) -> None:
    """A bare tick object is a batch of one: 202 {accepted, duplicates, rejected, batch_id}."""
    response = await ingest.post("/stocks/ticks", json=tick("ONE", MORNING, 10.5, volume=3))
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 0, [])
    assert len(body["batch_id"]) == 32


async def test_a_batch_reports_bad_ticks_by_index_and_keeps_the_good(
    ingest: httpx.AsyncClient,
) -> None:
    """Good ticks are recorded; bad ones come back by index with their field errors;
    a repeated tick in the same request counts as a duplicate."""
    good = tick("MIX", MORNING, 20.0)
    response = await ingest.post("/stocks/ticks", json={"ticks": [
        good, tick("MIX", MORNING, -1), good, {"symbol": "MIX", "price": 1}]})
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert [(r["index"], [e["loc"] for e in r["errors"]]) for r in body["rejected"]] == [
        (1, [["price"]]), (3, [["timestamp"]])]
    page = (await ingest.get("/stocks/MIX/ticks")).json()
    assert [t["price"] for t in page["items"]] == [20.0]


@pytest.mark.parametrize("body, detail", [
    ({"ticks": [{"symbol": "NOPE", "price": "1"}]}, "no valid tick in the request"),
    ({"ticks": []}, "A batch needs at least one tick"),
    ({"ticks": [{"symbol": "A"}] * 501}, "A batch holds at most 500 ticks, got 501"),
    ([1, 2], 'The body should be a tick object or {"ticks": [...]}'),
])
async def test_nothing_valid_is_422_problem_json(ingest: httpx.AsyncClient, body: object,
                                                 detail: str) -> None:
    """No valid tick, an empty or oversized batch, or not a tick body at all: 422."""
    response = await ingest.post("/stocks/ticks", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == detail


async def test_all_rejected_lists_every_error(ingest: httpx.AsyncClient) -> None:
    """The 422 for a batch with nothing valid says which field of which tick failed."""
    response = await ingest.post("/stocks/ticks", json={"ticks": [tick("A", MORNING, -1)]})
    problem = response.json()
    assert problem["rejected"] == [{"index": 0, "errors": [
        {"loc": ["price"], "msg": "Input should be greater than 0"}]}]
    assert problem["errors"] == [{"field": "ticks.0.price", "in": "body",
                                  "message": "Input should be greater than 0"}]


async def test_malformed_json_is_400_and_a_huge_body_413(ingest: httpx.AsyncClient) -> None:
    """A body that is not JSON is 400; one over 512 KiB is 413; both problem+json."""
    response = await ingest.post("/stocks/ticks", content=b'{"ticks": [',
                                 headers={"content-type": "application/json"})
    assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM)
    huge = await ingest.post("/stocks/ticks", content=b" " * (513 * 1024))
    assert (huge.status_code, huge.headers["content-type"]) == (413, PROBLEM)


async def test_ticks_are_listed_in_time_order_within_a_range_page_by_page(
    ingest: httpx.AsyncClient,
) -> None:
    """from (inclusive) and to (exclusive) bound the list; cursors walk it without overlap."""
    raw = [tick("LIST", MORNING + timedelta(seconds=s), 100 + s, volume=s) for s in range(9)]
    assert (await ingest.post("/stocks/ticks", json={"ticks": raw[::-1]})).status_code == 202
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "from": format_timestamp(MORNING + timedelta(seconds=2)),
                  "to": format_timestamp(MORNING + timedelta(seconds=8)),
                  **({"cursor": cursor} if cursor else {})}
        page = (await ingest.get("/stocks/list/ticks", params=params)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [t["price"] for t in seen] == [102, 103, 104, 105, 106, 107]
    ids = {t.price: t.id for t in accepted(raw)}
    assert seen[0] == {"symbol": "LIST", "timestamp": "2024-03-01T09:58:02Z", "id": ids[102],
                       "price": 102.0, "volume": 2, "exchange": None}


async def test_bad_cursors_and_ranges_are_client_errors(ingest: httpx.AsyncClient) -> None:
    """A forged cursor, another symbol's cursor or an empty range: 400/422, never 500."""
    await ingest.post("/stocks/ticks", json={"ticks": [
        tick("CURA", MORNING, 1), tick("CURA", MORNING + timedelta(seconds=1), 2)]})
    page = (await ingest.get("/stocks/CURA/ticks", params={"limit": 1})).json()
    other = await ingest.get("/stocks/CURB/ticks", params={"cursor": page["next_cursor"]})
    forged = await ingest.get("/stocks/CURA/ticks", params={"cursor": "bm90LWEtY3Vyc29y"})
    empty = await ingest.get("/stocks/CURA/ticks", params={
        "from": "2024-03-01T10:00:00Z", "to": "2024-03-01T10:00:00Z"})
    bad_symbol = await ingest.get("/stocks/no%20such/ticks")
    assert [r.status_code for r in (other, forged, empty, bad_symbol)] == [400, 400, 422, 422]
    assert all(r.headers["content-type"] == PROBLEM for r in (other, forged, empty, bad_symbol))


async def test_symbols_show_first_and_last_tick_and_a_count_that_ignores_retries(
    ingest: httpx.AsyncClient,
) -> None:
    """Statistics widen with older and newer ticks; the same request sent twice counts once."""
    first = {"ticks": [tick("STAT", MORNING, 1), tick("STAT", MORNING + timedelta(hours=1), 2)]}
    for _ in range(2):
        assert (await ingest.post("/stocks/ticks", json=first)).status_code == 202
    older = tick("STAT", MORNING - timedelta(days=1), 3)
    assert (await ingest.post("/stocks/ticks", json=older)).status_code == 202
    items = {s["symbol"]: s for s in (await ingest.get("/stocks/symbols")).json()["items"]}
    assert items["STAT"] == {"symbol": "STAT", "tick_count": 3,
                             "first_tick_at": "2024-02-29T09:58:00Z",
                             "last_tick_at": "2024-03-01T10:58:00Z"}


async def test_candles_from_the_archive_equal_python_candles(ingest: httpx.AsyncClient) -> None:
    """DuckDB over the S3 archive gives the candles the Python reference computes from the
    same ticks, for every interval, across hour partitions and range edges."""
    raw = [tick("CNDL", MORNING + timedelta(seconds=7 * i), 50 + (i * 37 % 11) / 4,
                volume=100 * (i % 5) if i % 3 else None) for i in range(300)]
    raw += [tick("OTHR", MORNING + timedelta(seconds=i), 1.0) for i in range(10)]
    for start in range(0, len(raw), 120):
        assert (await ingest.post("/stocks/ticks",
                                  json={"ticks": raw[start:start + 120]})).status_code == 202
    ticks = accepted(raw)
    start, end = MORNING + timedelta(minutes=1, seconds=30), MORNING + timedelta(minutes=33)
    for interval in Interval:
        response = await ingest.get("/stocks/CNDL/candles", params={
            "interval": interval.value, "from": format_timestamp(start),
            "to": format_timestamp(end)})
        assert response.status_code == 200, response.text
        body = response.json()
        expected = candles_python(ticks, "CNDL", interval, start, end)
        assert body["items"] == [c.model_dump(mode="json") for c in expected], interval
        assert (body["symbol"], body["interval"]) == ("CNDL", interval.value)
    assert sum(c["count"] for c in body["items"]) == sum(
        1 for t in ticks if t.symbol == "CNDL" and start <= t.timestamp < end)


async def test_candle_ranges_are_capped(ingest: httpx.AsyncClient) -> None:
    """More than 31 days at once, or an empty range, is 422; an unknown interval too."""
    far = await ingest.get("/stocks/CNDL/candles", params={
        "from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"})
    empty = await ingest.get("/stocks/CNDL/candles", params={
        "from": "2024-03-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"})
    interval = await ingest.get("/stocks/CNDL/candles", params={"interval": "2m"})
    assert [r.status_code for r in (far, empty, interval)] == [422, 422, 422]
    assert "more than 744 hours" in far.json()["detail"]


async def test_unknown_symbols_are_404_on_trends(trends: httpx.AsyncClient) -> None:
    """GET /trends/{symbol} for a symbol never processed is a 404 problem; its signals empty."""
    response = await trends.get("/trends/NEVER")
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM)
    assert (await trends.get("/trends/NEVER/signals")).json() == {"items": [],
                                                                  "next_cursor": None}
    assert (await trends.get("/trends/NEVER/signals", params={"cursor": "e30"})).status_code == 400


async def test_docs_are_served_under_each_prefix(ingest: httpx.AsyncClient,
                                                 trends: httpx.AsyncClient) -> None:
    """Swagger UI and OpenAPI under /stocks and /trends, the tick body schema included."""
    for client, prefix in ((ingest, "/stocks"), (trends, "/trends")):
        assert (await client.get(f"{prefix}/docs")).status_code == 200
        schema = (await client.get(f"{prefix}/openapi.json")).json()
        assert all(path.startswith((prefix, "/healthz", "/readyz")) for path in schema["paths"])
    schema = (await ingest.get("/stocks/openapi.json")).json()
    request = schema["paths"]["/stocks/ticks"]["post"]["requestBody"]["content"]
    refs = [r["$ref"].split("/")[-1] for r in request["application/json"]["schema"]["oneOf"]]
    assert refs == ["TickCreate", "TickBatchCreate"]
    assert set(refs) <= set(schema["components"]["schemas"])
    assert (await ingest.get("/readyz")).json() == {"status": "ready"}
    assert (await trends.get("/readyz")).json() == {"status": "ready"}


async def test_the_produce_command_sends_seeded_ticks(ingest: httpx.AsyncClient,
                                                      ingest_url: str, stack: LocalStack) -> None:
    """`regatta produce` posts --count mock ticks in batches of --batch and prints a report
    of what the service accepted."""
    command = [sys.executable, "-m", "devkit.cli", "produce", "--url", ingest_url,
               "--symbols", "CLIA,CLIB", "--count", "120", "--rate", "2000", "--batch", "50",
               "--seed", "4", "--no-progress"]
    # --url wins over the local default; the machine credential comes from the environment.
    env = {**os.environ, **stack.producer_env, "STOCK_INGEST_PORT": "1"}
    first = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True,
                                    text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["sent"], report["accepted"], report["lost"], report["rejected"]) == (
        120, 120, 0, 0)
    assert report["requests"] >= 3  # 120 ticks in requests of at most 50
    symbols = {s["symbol"]: s for s in (await ingest.get("/stocks/symbols")).json()["items"]}
    assert symbols["CLIA"]["tick_count"] == symbols["CLIB"]["tick_count"] == 60
    page = (await ingest.get("/stocks/CLIA/ticks", params={"limit": 1000})).json()
    assert len(page["items"]) == 60



async def test_only_machines_with_the_ingest_scope_post_ticks(
    ingest: httpx.AsyncClient, ingest_url: str, tokens: dict[str, str], machine_token: str,
) -> None:
    """POST /stocks/ticks: 401 without a token or with a forged one, 403 with a user's token
    (an admin's too); a producer's machine token (stocks/ingest) records the tick. Refused
    requests record nothing."""
    body = {"ticks": [tick("AUTHZ", MORNING, 5.0)]}
    forged = machine_token[:-8] + ("AAAAAAAA" if not machine_token.endswith("AAAAAAAA")
                                   else "BBBBBBBB")
    async with httpx.AsyncClient(base_url=ingest_url, timeout=30) as anonymous:
        missing = await anonymous.post("/stocks/ticks", json=body)
        malformed = await anonymous.post("/stocks/ticks", json=body,
                                         headers={"Authorization": f"Basic {machine_token}"})
        tampered = await anonymous.post("/stocks/ticks", json=body,
                                        headers={"Authorization": f"Bearer {forged}"})
        users = [await anonymous.post("/stocks/ticks", json=body,
                                      headers={"Authorization": f"Bearer {tokens[name]}"})
                 for name in ("alice", "admin")]
        for response in (missing, malformed, tampered):
            assert response.status_code == 401, response.text
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["www-authenticate"] == "Bearer"
        assert "stocks/ingest" in missing.json()["detail"]
        for response in users:
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == PROBLEM
            assert "machine clients" in response.json()["detail"]
        symbols = (await anonymous.get("/stocks/symbols")).json()["items"]
        assert "AUTHZ" not in {s["symbol"] for s in symbols}
        accepted = await anonymous.post("/stocks/ticks", json=body,
                                        headers={"Authorization": f"Bearer {machine_token}"})
        assert accepted.status_code == 202, accepted.text
        symbols = (await anonymous.get("/stocks/symbols")).json()["items"]
        assert {s["symbol"]: s["tick_count"] for s in symbols}["AUTHZ"] == 1


async def test_the_produce_command_without_a_credential_says_what_to_set(
    ingest_url: str, stack: LocalStack,
) -> None:
    """No STOCK_PRODUCER_CLIENT_ID/SECRET: `regatta produce` stops before sending anything
    and names the variables; a wrong secret stops at the token endpoint."""
    command = [sys.executable, "-m", "devkit.cli", "produce", "--url", ingest_url,
               "--symbols", "NOCRED", "--count", "5", "--no-progress"]
    # Empty, not absent: a developer's .regatta/local.env must not fill them in.
    env = {**os.environ, **stack.env, "STOCK_PRODUCER_CLIENT_ID": "",
           "STOCK_PRODUCER_CLIENT_SECRET": ""}
    result = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True,
                                     text=True, timeout=120)
    assert result.returncode == 1
    assert "STOCK_PRODUCER_CLIENT_ID" in result.stderr
    assert "STOCK_PRODUCER_CLIENT_SECRET" in result.stderr
    wrong = {**stack.producer_env, "STOCK_PRODUCER_CLIENT_SECRET": "not-the-secret"}
    result = await asyncio.to_thread(subprocess.run, command, env={**os.environ, **wrong},
                                     capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "invalid_client" in result.stderr
