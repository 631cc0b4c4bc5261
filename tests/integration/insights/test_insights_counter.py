"""The visitor counter against the emulator: exact under concurrency, one visitor a day,
no counting on GET, CORS for the configured origin only, validated paths."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.support.insights import ORIGIN


async def test_parallel_hits_add_exactly_their_number(client: httpx.AsyncClient) -> None:
    path = f"/about-{uuid.uuid4().hex[:8]}"
    answers = await asyncio.gather(*(client.post("/insights/hits", json={"path": path})
                                     for _ in range(40)))
    assert all(a.status_code == 200 for a in answers), answers[0].text
    assert sorted(a.json()["views"] for a in answers) == list(range(1, 41))
    # One browser at one address: one visitor today, however many views.
    assert {a.json()["visitors_today"] for a in answers} == {1}
    read = await client.get("/insights/hits", params={"path": path})
    assert read.json() == {"path": path, "views": 40, "visitors_today": 1}
    assert (await client.get("/insights/hits", params={"path": path})).json()["views"] == 40


async def test_other_visitors_count_and_dnt_and_bots_do_not(client: httpx.AsyncClient) -> None:
    path = f"/about-{uuid.uuid4().hex[:8]}"
    for forwarded in ("81.2.69.142", "81.2.69.143", "81.2.69.142"):
        await client.post("/insights/hits", json={"path": path},
                          headers={"X-Forwarded-For": forwarded})
    await client.post("/insights/hits", json={"path": path},
                      headers={"X-Forwarded-For": "8.8.8.8", "DNT": "1"})
    last = await client.post("/insights/hits", json={"path": path},
                             headers={"X-Forwarded-For": "8.8.4.4", "User-Agent": "Googlebot/2.1"})
    assert last.json() == {"path": path, "views": 5, "visitors_today": 2}


async def test_an_unknown_path_reads_zero(client: httpx.AsyncClient) -> None:
    path = f"/never-{uuid.uuid4().hex[:8]}"
    answer = await client.get("/insights/hits", params={"path": path})
    assert answer.json() == {"path": path, "views": 0, "visitors_today": 0}


async def test_paths_are_validated(client: httpx.AsyncClient) -> None:
    for bad in ["about", "", "/" + "x" * 600, "/a b"]:
        answer = await client.post("/insights/hits", json={"path": bad})
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"] == "application/problem+json"
        assert (await client.get("/insights/hits", params={"path": bad})).status_code == 422
    assert (await client.post("/insights/hits", json={"path": "/", "x": 1})).status_code == 422


async def test_cors_for_the_configured_origin_only(client: httpx.AsyncClient) -> None:
    allowed = await client.post("/insights/hits", json={"path": "/cors"},
                                headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = await client.get("/insights/hits", params={"path": "/cors"},
                             headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = await client.options("/insights/hits", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    events = await client.post("/insights/events", json={"type": "page", "path": "/"},
                               headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in events.headers  # the counter's routes only
