"""Whose jobs and outputs: a job reads for its submitter and admins only, outputs live in the
submitter's namespace, and no two live jobs share (or nest) an output folder."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from media_http import assert_playable, upload, wait_for_job

from tests.support.media_clips import ClipSpec, make_clip

ACTORS = ("anonymous", "alice", "bob", "admin")
Headers = dict[str, dict[str, str]]


async def pending(client: httpx.AsyncClient, who: dict[str, str], **options: Any) -> httpx.Response:
    """POST /media/uploads for a (never sent) clip, with ``options``; the raw answer."""
    body: dict[str, Any] = {"filename": "clip.mp4", "size": 1000}
    if options:
        body["options"] = options
    return await client.post("/media/uploads", json=body, headers=who)


async def read(client: httpx.AsyncClient, guid: str, who: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"/media/jobs/{guid}", headers=who)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def listing(client: httpx.AsyncClient, who: dict[str, str],
                  **params: str) -> list[dict[str, Any]]:
    """Every job of GET /media/jobs as ``who`` (all pages)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get("/media/jobs", headers=who, params={
            "limit": 100, **params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        if not (cursor := response.json()["next_cursor"]):
            return items


@pytest_asyncio.fixture(scope="module")
async def jobs(client: httpx.AsyncClient, headers: Headers) -> dict[str, dict[str, Any]]:
    """A pending job of alice's and one of bob's, as their owners read them."""
    found = {}
    for who in ("alice", "bob"):
        response = await pending(client, headers[who])
        assert response.status_code == 201, response.text
        found[who] = await read(client, response.json()["guid"], headers[who])
    return found


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
async def test_a_job_reads_for_its_owner_and_admins_only(
    client: httpx.AsyncClient, headers: Headers, jobs: dict[str, dict[str, Any]], actor: str
) -> None:
    """GET /media/jobs/{guid} of alice's job: alice and admins 200; bob 404 exactly as for a
    guid no job has (its existence is not confirmed); anonymous 401."""
    guid = jobs["alice"]["guid"]
    response = await client.get(f"/media/jobs/{guid}", headers=headers[actor])
    expected = {"anonymous": 401, "alice": 200, "bob": 404, "admin": 200}[actor]
    assert response.status_code == expected, response.text
    if expected == 200:
        assert response.json()["guid"] == guid
        assert response.json()["submitted_by"]["username"] == "alice"
    if expected == 404:
        unknown = str(uuid.uuid4())
        nobody = await client.get(f"/media/jobs/{unknown}", headers=headers[actor])
        assert nobody.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert {k: v for k, v in response.json().items() if k not in ("detail", "instance")} \
            == {k: v for k, v in nobody.json().items() if k not in ("detail", "instance")}
        assert response.json()["detail"] == nobody.json()["detail"].replace(unknown, guid)


@pytest.mark.parametrize("actor", ACTORS)
async def test_the_listing_shows_the_callers_jobs(
    client: httpx.AsyncClient, headers: Headers, jobs: dict[str, dict[str, Any]], actor: str
) -> None:
    """GET /media/jobs: a user sees their own jobs only, an admin everyone's; anonymous 401."""
    response = await client.get("/media/jobs", headers=headers[actor])
    if actor == "anonymous":
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        return
    items = await listing(client, headers[actor])
    guids = {job["guid"] for job in items}
    if actor == "admin":
        assert {jobs["alice"]["guid"], jobs["bob"]["guid"]} <= guids
        assert len({(j["submitted_by"] or {}).get("id") for j in items}) >= 2
    else:
        other = "bob" if actor == "alice" else "alice"
        assert jobs[actor]["guid"] in guids and jobs[other]["guid"] not in guids
        assert {j["submitted_by"]["id"] for j in items} == {jobs[actor]["submitted_by"]["id"]}
        created = [j["created_at"] for j in items]
        assert created == sorted(created, reverse=True)


async def test_admins_filter_the_listing_by_submitter(
    client: httpx.AsyncClient, headers: Headers, jobs: dict[str, dict[str, Any]]
) -> None:
    """submitted_by (a user id): admins list one user's jobs (with status too); a user may
    name only themselves (403 for anyone else)."""
    alice_id, bob_id = (jobs[w]["submitted_by"]["id"] for w in ("alice", "bob"))
    alices = await listing(client, headers["admin"], submitted_by=alice_id)
    assert jobs["alice"]["guid"] in {j["guid"] for j in alices}
    assert {j["submitted_by"]["id"] for j in alices} == {alice_id}
    pending_ones = await listing(client, headers["admin"], submitted_by=bob_id,
                                 status="pending")
    assert jobs["bob"]["guid"] in {j["guid"] for j in pending_ones}
    assert {(j["submitted_by"]["id"], j["status"]) for j in pending_ones} == {
        (bob_id, "pending")}
    own = await listing(client, headers["alice"], submitted_by=alice_id)
    assert {j["guid"] for j in own} == {j["guid"] for j in alices}
    response = await client.get("/media/jobs", headers=headers["bob"],
                                params={"submitted_by": alice_id})
    assert response.status_code == 403, response.text


# --- output prefixes ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["../x", "a/../../b", "/abs", "a//b", "trailing/", ".",
                                    "NAMESPACE/x"])
async def test_an_output_prefix_outside_ones_namespace_is_422(
    client: httpx.AsyncClient, headers: Headers, jobs: dict[str, dict[str, Any]], prefix: str
) -> None:
    """Climbing out, absolute, empty parts, or another user's namespace: refused, no job."""
    prefix = prefix.replace("NAMESPACE", jobs["bob"]["namespace"])
    before = {j["guid"] for j in await listing(client, headers["alice"])}
    response = await pending(client, headers["alice"], output_prefix=prefix)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "options.output_prefix" in [e["field"] for e in response.json()["errors"]]
    assert {j["guid"] for j in await listing(client, headers["alice"])} == before


async def test_one_live_job_per_folder_none_nested(
    client: httpx.AsyncClient, headers: Headers
) -> None:
    """A prefix a live job of the user holds, or one inside or around it, is 409; another user's
    namespace is another folder; deleting the job frees its prefix."""
    run = uuid.uuid4().hex[:8]
    alice, bob = headers["alice"], headers["bob"]
    first = await pending(client, alice, output_prefix=f"shows/{run}")
    assert first.status_code == 201, first.text
    for taken in (f"shows/{run}", f"shows/{run}/season-1", f"shows/{run}/a/b/c", "shows"):
        response = await pending(client, alice, output_prefix=taken)
        assert response.status_code == 409, (taken, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for free in (f"shows/{run}-2", f"shows/other-{run}", f"films/{run}"):
        response = await pending(client, alice, output_prefix=free)
        assert response.status_code == 201, (free, response.text)
    theirs = await pending(client, bob, output_prefix=f"shows/{run}")
    assert theirs.status_code == 201, theirs.text
    mine = await read(client, first.json()["guid"], alice)
    others = await read(client, theirs.json()["guid"], bob)
    assert mine["namespace"] != others["namespace"]

    deleted = await client.delete(f"/media/jobs/{mine['guid']}", headers=headers["admin"])
    assert deleted.status_code == 204, deleted.text
    again = await pending(client, alice, output_prefix=f"shows/{run}/season-1")
    assert again.status_code == 201, again.text
    assert (await pending(client, alice, output_prefix=f"shows/{run}")).status_code == 409
    # The folders above a deleted job's prefix forget it: their own prefix is free again.
    inner = await pending(client, alice, output_prefix=f"albums/{run}/one")
    assert inner.status_code == 201, inner.text
    assert (await pending(client, alice, output_prefix=f"albums/{run}")).status_code == 409
    deleted = await client.delete(f"/media/jobs/{inner.json()['guid']}",
                                  headers=headers["admin"])
    assert deleted.status_code == 204, deleted.text
    outer = await pending(client, alice, output_prefix=f"albums/{run}")
    assert outer.status_code == 201, outer.text


async def test_a_retried_upload_request_keeps_its_own_prefix(
    client: httpx.AsyncClient, headers: Headers
) -> None:
    """The same request again (same Idempotency-Key) is the same job, not a 409 against
    itself."""
    h = {**headers["alice"], "Idempotency-Key": f"prefix-{uuid.uuid4()}"}
    prefix = f"replayed/{uuid.uuid4().hex[:8]}"
    first, second = [await pending(client, h, output_prefix=prefix) for _ in range(2)]
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["guid"] == second.json()["guid"]


# --- outputs --------------------------------------------------------------------------------


async def test_outputs_live_in_the_namespace_and_delete_takes_only_its_own(
    client: httpx.AsyncClient, headers: Headers, clip_dir: Path
) -> None:
    """Alice and bob both choose the prefix "trip-…": two folders, one per namespace (a hash,
    not the user id). Deleting alice's job removes her files; bob's still play."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-owner", 320, 180, 2.0), clip_dir)
    prefix = f"trip-{uuid.uuid4().hex[:8]}"
    tickets = {who: await upload(client, headers[who], clip, options={"output_prefix": prefix})
               for who in ("alice", "bob")}
    done = dict(zip(tickets, await asyncio.gather(*(
        wait_for_job(client, t["guid"], headers=headers[who]) for who, t in tickets.items())),
                    strict=True))
    for who, job in done.items():
        assert job["status"] == "complete", job["error"]
        assert job["namespace"].startswith("u-")
        assert job["submitted_by"]["id"] not in job["namespace"]
        assert job["outputs"]["prefix"] == f"{job['namespace']}/{prefix}", who
        assert f"/{job['namespace']}/{prefix}/hls/" in job["outputs"]["hls_url"]
        await assert_playable(job)
    assert done["alice"]["namespace"] != done["bob"]["namespace"]

    response = await client.delete(f"/media/jobs/{done['alice']['guid']}",
                                   headers=headers["admin"])

    assert response.status_code == 204, response.text
    gone = done["alice"]["outputs"]
    for url in (gone["hls_url"], gone["dash_url"], gone["poster"], *gone["thumbnails"]):
        assert (await client.get(url)).status_code == 404, url
    counts = await assert_playable(await read(client, done["bob"]["guid"], headers["bob"]))
    assert counts["segments"] > 0 and counts["images"] > 0

