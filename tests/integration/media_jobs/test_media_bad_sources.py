"""Bad sources fail their job with a clear reason and a media.job.failed event, never a crash
or a retry loop: not a media file, no video stream, truncated, zero duration, bad metadata."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from media_http import upload, wait_for_job

from devkit.testing import EventTap, LocalStack, eventually
from services.media_jobs import logic
from shared.aws import AwsClients
from shared.events import event_type
from tests.support.media_clips import (
    make_audio_only,
    make_not_video,
    make_truncated,
    make_zero_duration,
)

# name: (how the job starts, stage it fails at, words its reason contains)
CASES: dict[str, tuple[str, str, str]] = {
    "not-video": ("upload", "probe", "not an audio/video file"),
    "truncated": ("upload", "probe", "truncated or corrupt"),
    "audio-only": ("upload", "probe", "no video stream"),
    "zero-duration": ("upload", "probe", "no measurable duration"),
    "metadata-not-json": ("metadata", "ingest", "not valid JSON"),
    "metadata-missing-video": ("metadata", "ingest", "does not exist"),
    "metadata-without-srcvideo": ("metadata", "ingest", "srcVideo is required"),
}


def _as(source: Path, directory: Path, name: str) -> Path:
    target = directory / name
    shutil.copy(source, target)
    return target


@pytest_asyncio.fixture(scope="module")
async def failed(client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
                 aws: AwsClients, stack: LocalStack, events: EventTap,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every bad source started at once and waited for: the finished job, by case."""
    work = tmp_path_factory.mktemp("bad")
    files = {
        "not-video": make_not_video(work, "meeting notes.mp4"),
        "truncated": make_truncated(clip_dir),
        "audio-only": _as(make_audio_only(clip_dir), work, "audio only.mp4"),
        "zero-duration": _as(make_zero_duration(clip_dir), work, "one frame.ts"),
    }
    guids = {name: (await upload(client, headers["alice"], path))["guid"]
             for name, path in files.items()}
    s3, bucket = await aws.client("s3"), stack.resources.bucket("media-source")
    run = uuid.uuid4().hex[:8]
    documents = {
        "metadata-not-json": b"{ this is not json",
        "metadata-missing-video": json.dumps({"srcVideo": f"nowhere/{run}.mp4"}).encode(),
        "metadata-without-srcvideo": json.dumps({"frameCapture": False}).encode(),
    }
    for name, body in documents.items():
        key = f"metadata/{run}/{name}.json"
        put = await s3.put_object(Bucket=bucket, Key=key, Body=body)
        guids[name] = logic.derived_guid(bucket, key, put["ETag"].strip('"'))
    jobs = await asyncio.gather(*(wait_for_job(client, g) for g in guids.values()))
    return dict(zip(guids, jobs, strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_source_fails_the_job_at_its_stage_with_a_reason(
    failed: dict[str, dict[str, Any]], case: str
) -> None:
    """The job ends in error, naming the stage and why; nothing was encoded or published."""
    trigger, stage, words = CASES[case]
    job = failed[case]
    assert job["status"] == "error"
    assert job["trigger"] == ("video" if trigger == "upload" else "metadata")
    assert job["error"]["stage"] == stage
    assert words in job["error"]["message"]
    assert "\n" not in job["error"]["message"]
    assert job["outputs"] is None and job["renditions"] == []
    assert job["stages"][stage]["completed_at"] is None
    assert job["stages"][stage]["runs"] == 1, "a bad source must not be retried"
    assert job["ended_at"] is not None


async def test_each_failure_publishes_one_failed_event(
    failed: dict[str, dict[str, Any]], events: EventTap
) -> None:
    """media.job.failed carries the stage and the reason, once per job."""

    async def arrived() -> bool:
        await events.drain()
        assert all(events.about(job["guid"]) for job in failed.values())
        return True

    await eventually(arrived, timeout=30)
    for case, job in failed.items():
        (event,) = events.about(job["guid"])
        assert event["type"] == event_type("media-jobs", "media.job.failed")
        assert event["data"]["stage"] == CASES[case][1]
        assert event["data"]["reason"] == job["error"]["message"]
        assert event["data"]["attempt"] == 1
