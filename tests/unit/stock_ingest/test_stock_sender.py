"""The producer's sender against a fake ingest API (httpx MockTransport): batching, lanes,
per-symbol order, retries of the same request, refusals, and the yfinance fallback."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

import httpx
import pytest

from services.stock_ingest.producer import mock_ticks
from services.stock_ingest.sender import (
    MissingCredentialError,
    TickSender,
    producer_auth,
    ticks_from,
)
from shared.settings import PlatformSettings

START = datetime(2024, 6, 3, 10, tzinfo=UTC)
SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE"]


class FakeIngest:
    """Records every request body; fails the first ``fail`` requests with ``status``."""

    def __init__(self, *, fail: int = 0, status: int = 503) -> None:
        self.bodies: list[list[dict]] = []
        self.fail = fail
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        ticks = json.loads(request.content)["ticks"]
        self.bodies.append(ticks)
        if self.fail:
            self.fail -= 1
            return httpx.Response(self.status, headers={"retry-after": "0"},
                                  json={"title": "busy"})
        return httpx.Response(202, json={"accepted": len(ticks), "duplicates": 0,
                                         "rejected": []})


async def send(api: FakeIngest, ticks: list[dict], **options: object) -> object:
    async with httpx.AsyncClient(transport=httpx.MockTransport(api),
                                 base_url="http://ingest") as client:
        return await TickSender(client, **options).send(ticks)  # type: ignore[arg-type]


async def test_every_tick_is_sent_once_in_batches_and_each_symbol_keeps_one_lane() -> None:
    """Requests hold at most `batch` ticks; a symbol's ticks all travel in one lane, in order."""
    ticks = list(mock_ticks(SYMBOLS, count=1000, seed=3, start=START))
    deliveries = []
    api = FakeIngest()
    report = await send(api, ticks, batch=60, concurrency=3, on_delivery=deliveries.append)
    assert report.accepted == report.sent == 1000 and report.lost == 0
    assert all(len(body) <= 60 for body in api.bodies)
    assert sorted(t["timestamp"] + t["symbol"] for b in api.bodies for t in b) == sorted(
        t["timestamp"] + t["symbol"] for t in ticks)
    lanes = defaultdict(set)
    for delivery in deliveries:
        for tick in delivery.ticks:
            lanes[tick["symbol"]].add(delivery.lane)
    assert all(len(used) == 1 for used in lanes.values())
    assert len({lane for used in lanes.values() for lane in used}) == 3
    for symbol in SYMBOLS:
        sent = [t["timestamp"] for d in deliveries for t in d.ticks if t["symbol"] == symbol]
        assert sent == sorted(sent), f"{symbol} went out of order"


async def test_a_failed_request_is_retried_with_the_same_ticks() -> None:
    """503 then 202: the retry carries exactly the same ticks (so ids dedupe downstream)."""
    ticks = list(mock_ticks(["AAA"], count=10, seed=1, start=START))
    api = FakeIngest(fail=2)
    report = await send(api, ticks, batch=10, concurrency=1)
    assert len(api.bodies) == 3 and api.bodies[0] == api.bodies[1] == api.bodies[2]
    assert (report.accepted, report.retries, report.lost) == (10, 2, 0)


async def test_a_request_that_keeps_failing_is_reported_lost() -> None:
    """After every attempt fails, its ticks count as lost and the error is kept."""
    api = FakeIngest(fail=99)
    report = await send(api, list(mock_ticks(["AAA"], count=5, start=START)), batch=5,
                        attempts=2)
    assert (report.accepted, report.lost, len(api.bodies)) == (0, 5, 2)
    assert report.errors == ['503: {"title":"busy"}']


async def test_a_refused_request_is_not_retried() -> None:
    """A 422 (nothing valid) counts the ticks as rejected and is never sent again."""
    api = FakeIngest(fail=1, status=422)
    report = await send(api, list(mock_ticks(["AAA"], count=5, start=START)), batch=5)
    assert (report.rejected, report.lost, len(api.bodies)) == (5, 0, 1)


def test_yfinance_falls_back_to_mock_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a usable yfinance, the source says why and yields seeded mock ticks."""
    import builtins

    real_import = builtins.__import__

    def no_yfinance(name: str, *args: object, **kwargs: object) -> object:
        if name == "yfinance":
            raise ImportError("no yfinance here")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_yfinance)
    warnings: list[str] = []
    ticks = list(ticks_from("yfinance", ["AAA"], rate=2, count=3, duration=None, seed=5,
                            warn=warnings.append))
    assert len(ticks) == 3 and {t["data_source"] for t in ticks} == {"mock"}
    assert len(warnings) == 1 and warnings[0].startswith("yfinance unavailable")


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_credential_loses_the_ticks_without_retrying(status: int) -> None:
    """401/403 are about the producer's credential, not the ticks: not retried, counted lost
    (so `regatta produce` exits 1), not rejected."""
    api = FakeIngest(fail=5, status=status)
    report = await send(api, list(mock_ticks(["AAA"], count=10, start=START)), batch=10)
    assert (report.lost, report.rejected, report.retries, len(api.bodies)) == (10, 0, 0, 1)
    assert report.errors[0].startswith(str(status))


def test_producer_auth_names_what_is_missing() -> None:
    settings = PlatformSettings(aws_endpoint_url=None, cognito_token_url="")
    with pytest.raises(MissingCredentialError) as missing:
        producer_auth(settings, {"STOCK_PRODUCER_CLIENT_ID": "id"})
    assert "STOCK_PRODUCER_CLIENT_SECRET, COGNITO_TOKEN_URL" in str(missing.value)
    assert "STOCK_PRODUCER_CLIENT_ID" not in str(missing.value).split(":")[1]
    settings = PlatformSettings(aws_endpoint_url="http://127.0.0.1:4566")
    auth = producer_auth(settings, {"STOCK_PRODUCER_CLIENT_ID": "id",
                                    "STOCK_PRODUCER_CLIENT_SECRET": "secret"})
    assert (auth.token_url, auth.client_id, auth.scope) == (
        "http://127.0.0.1:4566/oauth2/token", "id", "stocks/ingest")
