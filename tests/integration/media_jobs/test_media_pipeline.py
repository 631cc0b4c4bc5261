"""Video-triggered jobs end to end: real clips uploaded through presigned URLs, encoded by the
worker, validated on the output bucket, and re-checked over HTTP from their playback URLs."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from conftest import MediaService
from media_http import assert_playable, completed_stages, upload, wait_for_job

from devkit.testing import EventTap, eventually
from shared.events import event_type
from tests.support.media_clips import ClipSpec, make_clip

CLIPS = {
    # name: (clip, renditions it deserves, has audio)
    "landscape": (ClipSpec("e2e-landscape", 640, 360, 3.0), [(640, 360), (480, 270)], True),
    "portrait": (ClipSpec("e2e-portrait", 360, 640, 2.0), [(360, 640), (270, 480)], True),
    "no-audio": (ClipSpec("e2e-no-audio", 320, 180, 2.0, audio=False), [(320, 180)], False),
    # 4:4:4 because 4:2:0 needs even sizes; the output is 4:2:0 at an even size.
    "odd-size": (ClipSpec("e2e-odd-size", 319, 180, 2.0, pix_fmt="yuv444p", container="mkv"),
                 [(318, 180)], True),
    "ten-bit": (ClipSpec("e2e-ten-bit", 320, 180, 2.0, pix_fmt="yuv420p10le",
                         container="mkv"), [(320, 180)], True),
}
STAGES = ["ingest", "probe", "profile", "encode", "validate", "archive", "publish"]


@pytest_asyncio.fixture(scope="module")
async def finished(client: httpx.AsyncClient, headers: dict[str, dict[str, str]],
                   clip_dir: Path, events: EventTap) -> dict[str, dict[str, Any]]:
    """Every clip uploaded at once (the worker runs two at a time) and waited for: the
    ticket and the finished job, by clip name."""
    tickets = {}
    for name, (spec, _, _) in CLIPS.items():
        clip = await asyncio.to_thread(make_clip, spec, clip_dir)
        # Upper-case extension on purpose: the original never started a job for `.MOV`.
        filename = f"{spec.name} clip.{spec.container.upper()}"
        tickets[name] = await upload(client, headers["alice"], clip, filename=filename)
    jobs = await asyncio.gather(*(wait_for_job(client, t["guid"]) for t in tickets.values()))
    return {name: {"ticket": tickets[name], "job": job}
            for name, job in zip(tickets, jobs, strict=True)}


@pytest.mark.parametrize("name", list(CLIPS))
def test_job_completes_with_the_renditions_the_clip_deserves(
    finished: dict[str, dict[str, Any]], name: str
) -> None:
    """The job ends complete at 100%, every stage run once, renditions never upscaled."""
    job, ticket = finished[name]["job"], finished[name]["ticket"]
    _, sizes, has_audio = CLIPS[name]
    assert job["status"] == "complete", job.get("error")
    assert job["progress"] == 100
    assert job["trigger"] == "video"
    assert job["source"]["key"] == ticket["key"]
    assert job["source"]["bucket"] == ticket["bucket"]
    assert completed_stages(job) == dict.fromkeys(STAGES, 1)
    assert [(r["width"], r["height"]) for r in job["renditions"]] == sizes
    assert all(r["bitrate"] >= r["average_bitrate"] > 0 for r in job["renditions"])
    assert job["mediainfo"]["video"]["codec"] == "h264"
    assert bool(job["mediainfo"]["audio"]) is has_audio
    assert job["validation"]["segments_checked"] >= len(sizes)
    assert job["error"] is None
    started, ended = (datetime.fromisoformat(job[k]) for k in ("started_at", "ended_at"))
    assert datetime.fromisoformat(job["created_at"]) <= started < ended


@pytest.mark.parametrize("name", list(CLIPS))
async def test_outputs_play_from_the_playback_urls(
    finished: dict[str, dict[str, Any]], name: str
) -> None:
    """Fetched over HTTP like a player: master, media playlists, every segment, MPD, images."""
    job = finished[name]["job"]
    counts = await assert_playable(job)
    _, sizes, has_audio = CLIPS[name]
    assert counts["variants"] == len(sizes)
    assert counts["representations"] == len(sizes) + has_audio
    assert counts["images"] == len(job["outputs"]["thumbnails"]) + 1 >= 2
    assert job["outputs"]["prefix"] == f"{job['namespace']}/{job['guid']}"  # the uploader's
    assert job["outputs"]["hls_url"].endswith(f"/{job['outputs']['prefix']}/hls/master.m3u8")
    assert job["outputs"]["dash_url"].endswith(f"/{job['outputs']['prefix']}/dash/manifest.mpd")


async def test_one_completed_event_per_job_with_urls_and_renditions(
    finished: dict[str, dict[str, Any]], events: EventTap
) -> None:
    """media.job.completed carries the playback URLs, the renditions, images and durations."""
    guids = {entry["job"]["guid"]: entry["job"] for entry in finished.values()}

    async def all_arrived() -> bool:
        await events.drain()
        assert all(events.about(guid) for guid in guids)
        return True

    await eventually(all_arrived, timeout=30)
    for guid, job in guids.items():
        (event,) = events.about(guid)
        assert event["type"] == event_type("media-jobs", "media.job.completed")
        assert event["source"] == "regatta/media-jobs"
        data = event["data"]
        assert data["hls_url"] == job["outputs"]["hls_url"]
        assert data["dash_url"] == job["outputs"]["dash_url"]
        assert data["thumbnails"] == job["outputs"]["thumbnails"]
        assert data["poster"] == job["outputs"]["poster"]
        assert data["renditions"] == job["renditions"]
        assert data["duration"] == pytest.approx(job["mediainfo"]["duration"])
        assert data["source"] == {"bucket": job["source"]["bucket"], "key": job["source"]["key"]}
        assert set(data["stage_seconds"]) == set(STAGES) - {"publish"}


async def test_the_pass_through_answers_like_a_cdn(
    finished: dict[str, dict[str, Any]], client: httpx.AsyncClient, media: MediaService
) -> None:
    """The local stand-in for CloudFront: CORS preflight, HEAD, byte ranges, 404s."""
    prefix = finished["landscape"]["job"]["outputs"]["prefix"]  # {namespace}/{guid}
    path = f"/media/outputs/{prefix}/hls/master.m3u8"
    preflight = await client.options(path, headers={
        "Origin": "http://player.example", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    head = await client.head(path)
    full = await client.get(path)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(full.content))
    part = await client.get(path, headers={"Range": "bytes=0-6"})
    assert part.status_code == 206 and part.content == b"#EXTM3U"
    assert part.headers["content-range"].startswith("bytes 0-6/")
    for missing in (f"/media/outputs/{prefix}/hls/nope.m3u8", "/media/outputs/x" * 3,
                    "/media/outputs/", f"/media/outputs/{'k' * 1000}"):
        response = await client.get(missing)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
