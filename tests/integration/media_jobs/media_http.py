"""Helpers the media-jobs integration tests share: uploads through the API's presigned URLs,
waiting for jobs, and an independent check that a job's outputs play over HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import m3u8
from mpegdash.parser import MPEGDASHParser

FINISHED = ("complete", "error")
# Whose Authorization polls jobs (a job reads for its submitter and admins only): the
# session's admin, set by conftest, unless a call names other headers.
READER: dict[str, str] = {}


async def request_upload(http: httpx.AsyncClient, headers: dict[str, str], clip: Path, *,
                         filename: str | None = None,
                         options: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST /media/uploads for ``clip`` and return the ticket (asserting the 201)."""
    size = (await asyncio.to_thread(clip.stat)).st_size
    body: dict[str, Any] = {"filename": filename or clip.name, "size": size}
    if options is not None:
        body["options"] = options
    response = await http.post("/media/uploads", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def send_upload(ticket: dict[str, Any], clip: Path) -> None:
    """Upload ``clip`` exactly as a browser would: the ticket's presigned request(s) only."""
    plan, data = ticket["upload"], await asyncio.to_thread(clip.read_bytes)
    async with httpx.AsyncClient(timeout=60) as s3:
        if plan["method"] == "PUT":
            response = await s3.put(plan["url"], content=data, headers=plan["headers"])
            assert response.status_code == 200, response.text
            return
        etags = []
        for part in plan["parts"]:
            start = (part["part_number"] - 1) * plan["part_size"]
            response = await s3.put(part["url"], content=data[start:start + plan["part_size"]])
            assert response.status_code == 200, response.text
            etags.append((part["part_number"], response.headers["etag"]))
        xml = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
                      for n, e in etags)
        complete = plan["complete"]
        response = await s3.post(
            complete["url"], headers=complete["headers"],
            content=f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>")
        assert response.status_code == 200, response.text


async def upload(http: httpx.AsyncClient, headers: dict[str, str], clip: Path,
                 **kwargs: Any) -> dict[str, Any]:
    """Request an upload and send the clip; the ticket."""
    ticket = await request_upload(http, headers, clip, **kwargs)
    await send_upload(ticket, clip)
    return ticket


async def wait_for_job(http: httpx.AsyncClient, guid: str, *, until: tuple[str, ...] = FINISHED,
                       timeout: float = 120.0,
                       headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Poll GET /media/jobs/{guid} (as ``headers``, else as `READER`) until its status is one
    of ``until``; the job."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await http.get(f"/media/jobs/{guid}",
                                  headers=READER if headers is None else headers)
        if response.status_code == 200:
            job = response.json()
            if job["status"] in until:
                return job
        await asyncio.sleep(0.25)
    raise AssertionError(f"job {guid} still {job.get('status')} after {timeout}s: {job}")


async def fetch(http: httpx.AsyncClient, url: str, content_type: str) -> httpx.Response:
    """GET a playback URL as a browser on another origin would; asserts 200, type and CORS."""
    response = await http.get(url, headers={"Origin": "http://player.example"})
    assert response.status_code == 200, (url, response.status_code)
    assert response.headers["content-type"].startswith(content_type), (url, response.headers)
    assert response.headers["access-control-allow-origin"] == "*", url
    assert response.content, url
    return response


async def assert_playable(job: dict[str, Any]) -> dict[str, int]:
    """Re-check a finished job's outputs independently of the service: the master playlist
    fetched from its playback URL and parsed with m3u8, every media playlist, init segment and
    segment fetched; the MPD parsed with mpegdash; the images fetched. Returns counts."""
    outputs = job["outputs"]
    counts = {"variants": 0, "segments": 0, "representations": 0, "images": 0}
    async with httpx.AsyncClient(timeout=30) as http:
        master_url = outputs["hls_url"]
        text = (await fetch(http, master_url, "application/vnd.apple.mpegurl")).text
        master = m3u8.loads(text)
        assert master.is_variant and master.is_independent_segments
        assert [tuple(p.stream_info.resolution) for p in master.playlists] == [
            (r["width"], r["height"]) for r in job["renditions"]]
        media_uris = [p.uri for p in master.playlists] + [
            m.uri for m in master.media if m.type == "AUDIO" and m.uri]
        for uri in media_uris:
            playlist_url = urljoin(master_url, uri)
            media = m3u8.loads((await fetch(http, playlist_url,
                                            "application/vnd.apple.mpegurl")).text)
            assert media.playlist_type == "vod" and media.is_endlist
            assert media.segment_map and media.segments
            for target in [media.segment_map[0].uri, *(s.uri for s in media.segments)]:
                await fetch(http, urljoin(playlist_url, target), "video/iso.segment")
                counts["segments"] += 1
        counts["variants"] = len(master.playlists)
        mpd_text = (await fetch(http, outputs["dash_url"], "application/dash+xml")).text
        mpd = MPEGDASHParser.parse(mpd_text)
        representations = [r for s in mpd.periods[0].adaptation_sets for r in s.representations]
        counts["representations"] = len(representations)
        assert counts["representations"] == len(media_uris)
        for image in [*outputs["thumbnails"], *([outputs["poster"]] if outputs["poster"] else [])]:
            body = (await fetch(http, image, "image/jpeg")).content
            assert body.startswith(b"\xff\xd8")
            counts["images"] += 1
    return counts


def completed_stages(job: dict[str, Any]) -> dict[str, int]:
    """Runs per stage of a job, for stages recorded as done."""
    return {name: run["runs"] for name, run in job["stages"].items() if run.get("completed_at")}
