"""A stock-ingest API killed right after its commit loses no event and doubles none.

The API dies by SIGKILL at `stock.ticks.committed` (shared.faults): the client gets no
answer, yet every symbol's event went into the outbox with its statistics and reaches
stock-ticks.fifo through the stock-ingest worker's relay. The client's retry of the same
request is accepted (202) and announces nothing a second time.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from devkit.testing import EventTap, LocalStack, ServiceProcess, armed, eventually, machine_auth
from services.stock_ingest.models import format_timestamp

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_ticks_killed_after_commit_are_announced_once(
    stack: LocalStack, ingest: httpx.AsyncClient, recorded_events: EventTap, tmp_path: Path,
) -> None:
    """Two symbols' ticks: the API dies after committing; both symbols' events arrive, once
    each, and the retried request is a 202 that announces nothing more."""
    symbols = [f"K{uuid.uuid4().hex[:5].upper()}", f"L{uuid.uuid4().hex[:5].upper()}"]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    body = {"ticks": [{"symbol": s, "timestamp": format_timestamp(at + timedelta(seconds=i)),
                       "price": 10 + i} for s in symbols for i in range(3)]}
    api = ServiceProcess.api("services.stock_ingest.main:app",
                             armed(stack.env, "stock.ticks.committed"),
                             log_path=tmp_path / "api.log").start()
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=30,
                                     auth=machine_auth(stack)) as http:
            with pytest.raises(httpx.TransportError):
                await http.post("/stocks/ticks", json=body)
        assert api.wait(10) == -9, "the armed process did not die at its fault point"
    finally:
        api.stop()

    async def announced() -> dict[str, list[dict]]:
        await recorded_events.drain()
        found = {s: [m for m in recorded_events.events if m.get("subject") == s]
                 for s in symbols}
        return found if all(found.values()) else {}

    events = await eventually(announced, timeout=30)
    assert {s: [len(e["data"]["ticks"]) for e in found] for s, found in events.items()} == {
        s: [3] for s in symbols}

    retry = await ingest.post("/stocks/ticks", json=body)
    assert retry.status_code == 202 and retry.json()["accepted"] == 6
    assert retry.json()["batch_id"] == events[symbols[0]][0]["data"]["batch_id"]
    await asyncio.sleep(3)  # time for a second announcement to show up, if there were one
    again = await announced()
    assert {s: len(found) for s, found in again.items()} == {s: 1 for s in symbols}
