"""The HTTP API: who may do what, upload limits and plans, listings, retry and delete."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
import pytest_asyncio
from conftest import MULTIPART_THRESHOLD, MediaService
from media_http import assert_playable, request_upload, send_upload, upload, wait_for_job

from devkit.testing import EventTap, eventually
from shared.events import event_type
from tests.support.media_clips import ClipSpec, make_clip, make_not_video

ACTORS = ("anonymous", "alice", "bob", "admin")
GiB = 1024**3


@pytest_asyncio.fixture(scope="module")
async def done_job(client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
                   clip_dir: Path) -> dict[str, Any]:
    """A completed job (a tiny clip)."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-api", 320, 180, 2.0), clip_dir)
    ticket = await upload(client, headers["alice"], clip)
    job = await wait_for_job(client, ticket["guid"])
    assert job["status"] == "complete", job["error"]
    await assert_playable(job)
    return job


@pytest_asyncio.fixture
async def failed_job(client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
                     tmp_path: Path) -> dict[str, Any]:
    """A fresh job that failed at probe (its source is a text file)."""
    ticket = await upload(client, headers["alice"], make_not_video(tmp_path))
    return await wait_for_job(client, ticket["guid"])


def upload_body(**overrides: Any) -> dict[str, Any]:
    return {"filename": "clip.mp4", "size": 1000} | overrides


# --- who may do what ------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
async def test_uploads_need_a_user(client: httpx.AsyncClient,
                                   headers: dict[str, dict[str, str]], actor: str) -> None:
    """Anyone signed in may upload; anonymous callers get 401 and no ticket."""
    response = await client.post("/media/uploads", json=upload_body(), headers=headers[actor])
    assert response.status_code == (401 if actor == "anonymous" else 201), response.text
    if actor == "anonymous":
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("actor", ACTORS)
async def test_only_admins_retry(client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
                                 failed_job: dict[str, Any], actor: str) -> None:
    """Retry is for admins: not the job's owner (alice) either (401/403 otherwise, and the
    job stays as it was)."""
    response = await client.post(f"/media/jobs/{failed_job['guid']}/retry",
                                 headers=headers[actor])
    expected = {"anonymous": 401, "alice": 403, "bob": 403, "admin": 202}[actor]
    assert response.status_code == expected, response.text
    if expected != 202:
        after = (await client.get(f"/media/jobs/{failed_job['guid']}",
                                  headers=headers["alice"])).json()
        assert after == failed_job


@pytest.mark.parametrize("actor", ACTORS)
async def test_only_admins_delete(client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
                                  failed_job: dict[str, Any], actor: str) -> None:
    """Delete is for admins: not the job's owner (alice) either (401/403 otherwise, and the
    job is still there)."""
    response = await client.delete(f"/media/jobs/{failed_job['guid']}", headers=headers[actor])
    expected = {"anonymous": 401, "alice": 403, "bob": 403, "admin": 204}[actor]
    assert response.status_code == expected, response.text
    after = await client.get(f"/media/jobs/{failed_job['guid']}", headers=headers["admin"])
    assert after.status_code == (404 if expected == 204 else 200)


# --- uploads --------------------------------------------------------------------------------


async def test_a_small_file_gets_one_presigned_put(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Below the threshold: one PUT under uploads/{guid}/{filename}, and a pending job."""
    response = await client.post("/media/uploads", headers=headers["bob"], json=upload_body(
        filename="Summer Trip.MOV", options={"frame_capture": False}))
    ticket = response.json()
    assert response.status_code == 201
    assert response.headers["location"] == f"/media/jobs/{ticket['guid']}"
    assert ticket["key"] == f"uploads/{ticket['guid']}/Summer Trip.MOV"
    assert ticket["upload"]["method"] == "PUT"
    assert ticket["upload"]["headers"] == {"Content-Type": "video/quicktime"}
    job = (await client.get(f"/media/jobs/{ticket['guid']}", headers=headers["bob"])).json()
    assert job["status"] == "pending" and job["options"]["frame_capture"] is False
    assert job["submitted_by"]["username"] == "bob"


async def test_a_large_file_gets_a_multipart_plan(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Above the threshold: presigned parts of the configured size, complete and abort."""
    size = 200 * 1024**2 + 1
    response = await client.post("/media/uploads", headers=headers["alice"],
                                 json=upload_body(size=size, content_type="video/mp4"))
    plan = response.json()["upload"]
    assert response.status_code == 201 and size > MULTIPART_THRESHOLD
    assert plan["method"] == "MULTIPART" and plan["upload_id"]
    assert plan["part_size"] == 64 * 1024**2
    assert [p["part_number"] for p in plan["parts"]] == [1, 2, 3, 4]
    assert (plan["complete"]["method"], plan["abort"]["method"]) == ("POST", "DELETE")


def sigv4_signature(method: str, url: str, headers: dict[str, str], secret: str) -> str:
    """The SigV4 query signature S3 computes for a request to presigned ``url`` carrying
    ``headers`` (written from the SigV4 spec, not with botocore)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    signed = params["X-Amz-SignedHeaders"].split(";")
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                               for k, v in sorted(query) if k != "X-Amz-Signature")
    sent = {name.lower(): value for name, value in (headers | {"host": parts.netloc}).items()}
    canonical = "\n".join([
        method, parts.path, canonical_query, "".join(f"{h}:{sent[h].strip()}\n" for h in signed),
        ";".join(signed), "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for piece in scope.split("/"):
        key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def assert_signed_for(request: dict[str, Any], length: int, secret: str) -> None:
    """The presigned request is SigV4, signs its Content-Length, and its signature holds for a
    body of exactly ``length`` bytes only: S3 refuses a longer (or shorter) one."""
    params = dict(parse_qsl(urlsplit(request["url"]).query))
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert "content-length" in params["X-Amz-SignedHeaders"].split(";")
    assert request["content_length"] == length
    headers = request["headers"]
    signature = params["X-Amz-Signature"]
    assert sigv4_signature("PUT", request["url"], headers | {"Content-Length": str(length)},
                           secret) == signature
    for other in (length + 1, length - 1, 10 * GiB):
        assert sigv4_signature("PUT", request["url"],
                               headers | {"Content-Length": str(other)}, secret) != signature


async def test_a_presigned_put_binds_the_declared_size(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], media: MediaService
) -> None:
    """The single PUT is signed with the declared size as its Content-Length (and its
    Content-Type); the pending job keeps the size for the worker's own check."""
    size = 123_457
    response = await client.post("/media/uploads", headers=headers["alice"],
                                 json=upload_body(size=size))
    ticket = response.json()
    assert response.status_code == 201 and ticket["upload"]["method"] == "PUT"
    assert "content-type" in dict(parse_qsl(urlsplit(ticket["upload"]["url"]).query))[
        "X-Amz-SignedHeaders"].split(";")
    assert_signed_for(ticket["upload"], size, media.env["AWS_SECRET_ACCESS_KEY"])
    job = (await client.get(f"/media/jobs/{ticket['guid']}", headers=headers["alice"])).json()
    assert job["upload_size"] == size


async def test_multipart_parts_add_up_to_the_declared_size(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], media: MediaService
) -> None:
    """Each part's URL is signed with that part's exact length; the lengths add up to the
    declared size, so no plan uploads more than was declared."""
    size = 3 * 64 * 1024**2 + 12_345
    response = await client.post("/media/uploads", headers=headers["alice"],
                                 json=upload_body(size=size, content_type="video/mp4"))
    plan = response.json()["upload"]
    assert response.status_code == 201 and plan["method"] == "MULTIPART"
    lengths = [part["content_length"] for part in plan["parts"]]
    assert lengths == [64 * 1024**2] * 3 + [12_345]
    for part in plan["parts"]:
        assert_signed_for(part, part["content_length"], media.env["AWS_SECRET_ACCESS_KEY"])


async def test_the_worker_refuses_an_object_larger_than_its_upload_declared(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path
) -> None:
    """The emulator checks no signature, so it stores a body longer than the signed size: the
    worker's ingest refuses it (in AWS, S3 already has)."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-api", 320, 180, 2.0), clip_dir)
    actual = clip.stat().st_size
    response = await client.post("/media/uploads", headers=headers["alice"],
                                 json={"filename": clip.name, "size": actual - 100})
    assert response.status_code == 201, response.text
    ticket = response.json()
    await send_upload(ticket, clip)
    job = await wait_for_job(client, ticket["guid"])
    assert job["status"] == "error" and job["error"]["stage"] == "ingest"
    assert job["error"]["message"] == (f"source {ticket['key']} is {actual} bytes, more than "
                                       f"the {actual - 100} bytes its upload declared")
    assert job["mediainfo"] is None and job["outputs"] is None


@pytest.mark.parametrize(("body", "field"), [
    (upload_body(filename="notes.txt"), "filename"),
    (upload_body(filename="clip"), "filename"),
    (upload_body(filename="../../etc/clip.mp4"), "filename"),
    (upload_body(size=0), "size"),
    (upload_body(size=10 * GiB + 1), "size"),
    (upload_body(content_type="not a type"), "content_type"),
    (upload_body(options={"ladder": "8k"}), "options.ladder"),
    (upload_body(options={"output_prefix": "../escape"}), "options.output_prefix"),
    (upload_body(options={"output_prefix": f"{uuid.uuid4()}/x"}), None),
    (upload_body(extra=1), "extra"),
], ids=["extension", "no-extension", "path", "empty", "over-cap", "content-type", "ladder",
        "prefix-escape", "prefix-guid", "unknown-field"])
async def test_bad_uploads_are_422_problems(client: httpx.AsyncClient,
                                            headers: dict[str, dict[str, str]],
                                            body: dict[str, Any], field: str | None) -> None:
    """Extension allow-list, size cap, names, options: refused with a problem+json 422."""
    response = await client.post("/media/uploads", json=body, headers=headers["alice"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field:
        assert field in [e["field"] for e in response.json()["errors"]]


# --- reading --------------------------------------------------------------------------------


async def test_listing_is_newest_first_pages_and_filters(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], done_job: dict[str, Any]
) -> None:
    """GET /media/jobs: the caller's own jobs newest first across pages (by-submitter index),
    by status, cursors checked; an admin's status listing spans every user."""
    alice = headers["alice"]
    guids = [(await request_upload(client, alice, Path(__file__),
                                   filename=f"later-{i}.mp4"))["guid"] for i in range(3)]
    seen, cursor = [], None
    while len(seen) < 3:
        page = (await client.get("/media/jobs", headers=alice, params={"limit": 2, **(
            {"cursor": cursor} if cursor else {})})).json()
        seen += [job["guid"] for job in page["items"]]
        cursor = page["next_cursor"]
    assert seen[:3] == guids[::-1]
    for who in ("alice", "admin"):
        complete = (await client.get("/media/jobs", headers=headers[who], params={
            "status": "complete", "limit": 100})).json()["items"]
        assert done_job["guid"] in [j["guid"] for j in complete]
        assert {j["status"] for j in complete} == {"complete"}
    encoded = [base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip("=")
               for c in ({"key": 1}, {"key": [1]}, {"key": {"guid": {"S": "x"}}}, {"after": 1})]
    # Alice's cursor continues only her listing: not bob's, nor an admin's by-status one.
    for who, bad in [(w, b) for w in ("alice", "bob", "admin") for b in ("nonsense", *encoded)
                     ] + [("bob", cursor or "x"), ("admin", cursor or "x")]:
        response = await client.get("/media/jobs", headers=headers[who],
                                    params={"cursor": bad, "status": "error"})
        assert response.status_code == 400, (who, bad, response.text)


async def test_one_job_reads_with_everything_the_reference_kept(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], done_job: dict[str, Any]
) -> None:
    """GET /media/jobs/{guid}: status, progress, trigger, source, mediainfo, renditions,
    outputs, error and timestamps; unknown and malformed guids are 404."""
    assert done_job["status"] == "complete" and done_job["progress"] == 100
    for field in ("trigger", "source", "mediainfo", "renditions", "outputs", "error",
                  "created_at", "started_at", "ended_at", "encoding_profile", "stages"):
        assert field in done_job
    assert set(done_job["renditions"][0]) >= {"width", "height", "bitrate"}
    assert set(done_job["outputs"]) >= {"hls_url", "dash_url", "thumbnails", "poster"}
    for guid in (str(uuid.uuid4()), "not-a-guid", "x" * 64):
        response = await client.get(f"/media/jobs/{guid}", headers=headers["admin"])
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


# --- retry and delete -----------------------------------------------------------------------


async def test_a_retried_job_runs_again_from_its_failed_stage(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
    failed_job: dict[str, Any], events: EventTap,
) -> None:
    """Retry sends the job back to the worker as attempt 2, from the failed stage; ingest is
    not run again; the source is still not a video, so attempt 2 fails the same way."""
    guid = failed_job["guid"]
    response = await client.post(f"/media/jobs/{guid}/retry", headers=headers["admin"])
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["attempt"]) == ("probe", 2)
    assert response.json()["error"] is None

    job = await wait_for_job(client, guid)

    assert (job["status"], job["attempt"], job["error"]["stage"]) == ("error", 2, "probe")
    assert job["stages"]["ingest"]["runs"] == 1 and job["stages"]["probe"]["runs"] == 2

    async def two_failures_and_the_retry() -> bool:
        await events.drain()
        assert [(e["type"].split(".")[-2], e["data"]["attempt"])
                for e in events.about(guid)] == [("failed", 1), ("requested", 2), ("failed", 2)]
        return True

    await eventually(two_failures_and_the_retry, timeout=30)
    requested = events.about(guid)[1]
    assert requested["type"] == event_type("media-jobs", "media.job.retry.requested")
    assert requested["data"] == {"guid": guid, "attempt": 2, "stage": "probe"}


async def test_retry_and_delete_refuse_jobs_in_the_wrong_state(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], done_job: dict[str, Any]
) -> None:
    """A complete job cannot be retried (409); unknown jobs are 404 for both."""
    response = await client.post(f"/media/jobs/{done_job['guid']}/retry",
                                 headers=headers["admin"])
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    for method in ("POST", "DELETE"):
        path = f"/media/jobs/{uuid.uuid4()}" + ("/retry" if method == "POST" else "")
        assert (await client.request(method, path, headers=headers["admin"])).status_code == 404


async def test_delete_removes_the_outputs_and_the_record(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path
) -> None:
    """After DELETE the playback URLs and the record are gone."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-delete", 320, 180, 2.0), clip_dir)
    job = await wait_for_job(client, (await upload(client, headers["bob"], clip))["guid"])
    await assert_playable(job)

    response = await client.delete(f"/media/jobs/{job['guid']}", headers=headers["admin"])

    assert response.status_code == 204
    assert (await client.get(f"/media/jobs/{job['guid']}",
                             headers=headers["admin"])).status_code == 404
    for url in (job["outputs"]["hls_url"], job["outputs"]["poster"]):
        assert (await client.get(url)).status_code == 404


async def test_a_retried_upload_request_names_the_same_job(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """POST /media/uploads with an Idempotency-Key: the retry replays the first ticket (one
    pending job); another body with that key is 422; without a key, two requests are two jobs."""
    key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
    h = {**headers["alice"], **key}
    first = await client.post("/media/uploads", json=upload_body(), headers=h)
    second = await client.post("/media/uploads", json=upload_body(), headers=h)
    assert first.status_code == second.status_code == 201, second.text
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    assert second.headers["location"] == first.headers["location"]
    other = await client.post("/media/uploads", json=upload_body(filename="other.mp4"),
                              headers=h)
    assert other.status_code == 422
    plain = [await client.post("/media/uploads", json=upload_body(), headers=headers["alice"])
             for _ in range(2)]
    assert plain[0].json()["guid"] != plain[1].json()["guid"]
