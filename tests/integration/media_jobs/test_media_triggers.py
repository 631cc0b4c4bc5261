"""Both trigger modes at once, and one job per source object: metadata files with per-video
overrides, URL-encoded keys, and duplicate notifications (multipart's two, and redeliveries)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest_asyncio
from conftest import MediaService
from media_http import assert_playable, completed_stages, upload, wait_for_job

from devkit.testing import EventTap, LocalStack, eventually
from services.media_jobs import logic
from shared.aws import AwsClients
from tests.support.media_clips import ClipSpec, make_clip

STAGES = ["ingest", "probe", "profile", "encode", "validate", "archive", "publish"]


def worker_log(media: MediaService, guid: str) -> list[str]:
    """The worker's log events about one job, in order."""
    lines = (media.logs / "worker.log").read_text().splitlines()
    return [json.loads(line)["event"] for line in lines
            if line.startswith("{") and f'"guid": "{guid}"' in line]


def notification(bucket: str, key: str, etag: str, size: int, name: str) -> str:
    """An S3 event message as S3 (and the emulator) sends it: the key URL-encoded."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
        "s3": {"bucket": {"name": bucket}, "object": {
            "key": quote_plus(key, safe=""), "size": size, "eTag": etag}}}]})


async def test_a_metadata_file_starts_a_job_with_its_overrides(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
    aws: AwsClients, stack: LocalStack, events: EventTap,
) -> None:
    """A JSON file naming an uploaded video runs it with its overrides: no thumbnails, archive
    to Glacier, the hd ladder, a custom output prefix; unknown keys are kept."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-meta", 320, 180, 2.0), clip_dir)
    ticket = await upload(client, headers["alice"], clip)  # starts its own video job too
    run = uuid.uuid4().hex[:8]
    document = {"srcVideo": ticket["key"], "FrameCapture": False, "archiveSource": "glacier",
                "jobTemplate": "hd", "outputPrefix": f"library/{run}", "title": "Launch day"}
    s3, bucket = await aws.client("s3"), stack.resources.bucket("media-source")
    key = f"metadata/{run}/Launch Day+1.JSON"  # space, plus and an upper-case extension
    put = await s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
    guid = logic.derived_guid(bucket, key, put["ETag"].strip('"'))

    job = await wait_for_job(client, guid)

    assert job["status"] == "complete", job["error"]
    assert job["trigger"] == "metadata"
    assert job["metadata"]["key"] == key and job["source"]["key"] == ticket["key"]
    assert job["options"] == {"frame_capture": False, "archive_source": "GLACIER",
                              "ladder": "hd", "input_rotate": "auto",
                              "output_prefix": f"library/{run}"}
    assert job["custom"] == {"title": "Launch day"}
    assert job["outputs"]["hls_url"].endswith(f"/library/{run}/hls/master.m3u8")
    assert job["outputs"]["thumbnails"] == [] and job["outputs"]["poster"] is None
    assert job["archive"] == {"storage_class": "GLACIER", "tagged": True, "error": None}
    tags = (await s3.get_object_tagging(Bucket=bucket, Key=ticket["key"]))["TagSet"]
    assert {"Key": "archive", "Value": "GLACIER"} in tags
    await assert_playable(job)
    video_job = await wait_for_job(client, ticket["guid"])
    assert (video_job["status"], video_job["trigger"]) == ("complete", "video")
    assert video_job["archive"]["tagged"] is False  # the default: no archiving
    assert (await assert_playable(video_job))["images"] >= 2


async def test_multipart_upload_notifies_twice_and_runs_once(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
    media: MediaService, events: EventTap,
) -> None:
    """A multipart upload (S3 sends two ObjectCreated events) gives one job, each stage run
    once, one completed event; the second notification finds the job and does nothing."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-multipart", 640, 360, 5.0),
                                   clip_dir)
    ticket = await upload(client, headers["bob"], clip)
    assert ticket["upload"]["method"] == "MULTIPART"

    job = await wait_for_job(client, ticket["guid"])

    assert job["status"] == "complete", job["error"]
    assert completed_stages(job) == dict.fromkeys(STAGES, 1)
    assert (await assert_playable(job))["variants"] == 2

    async def both_handled() -> bool:
        log = worker_log(media, ticket["guid"])
        assert log.count("job.run") == 1, log
        assert log.count("job.running_elsewhere") + log.count("job.nothing_to_do") == 1, log
        return True

    await eventually(both_handled, timeout=30)
    assert len(await events.settled(ticket["guid"])) == 1


async def test_redelivered_notifications_of_one_object_make_one_job(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
    aws: AwsClients, stack: LocalStack, media: MediaService, events: EventTap,
) -> None:
    """An object put straight into the bucket (URL-encoded key, upper-case extension) whose
    notification arrives three times, twice while the job runs and once after, is one job."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-direct", 320, 180, 2.0), clip_dir)
    s3, sqs = await aws.client("s3"), await aws.client("sqs")
    bucket = stack.resources.bucket("media-source")
    queue = await stack.resources.queue_url(aws, "media-jobs-uploads")
    key = f"inbox/{uuid.uuid4().hex[:8]}/Dup Clip+1.MOV"
    put = await s3.put_object(Bucket=bucket, Key=key, Body=clip.read_bytes())
    etag = put["ETag"].strip('"')
    guid = logic.derived_guid(bucket, key, etag)
    copy = notification(bucket, key, etag, clip.stat().st_size, "ObjectCreated:Put")
    await sqs.send_message(QueueUrl=queue, MessageBody=copy)
    await sqs.send_message(QueueUrl=queue, MessageBody=copy)

    job = await wait_for_job(client, guid)
    await sqs.send_message(QueueUrl=queue, MessageBody=copy)

    assert job["status"] == "complete", job["error"]
    assert job["source"]["key"] == key
    assert completed_stages(job) == dict.fromkeys(STAGES, 1)
    await assert_playable(job)

    async def all_four_handled() -> bool:
        log = worker_log(media, guid)
        assert log.count("job.run") == 1, log
        assert log.count("job.running_elsewhere") + log.count("job.nothing_to_do") == 3, log
        return True

    await eventually(all_four_handled, timeout=30)
    assert [e["type"].split(".")[-2] for e in await events.settled(guid)] == ["completed"]
    assert (await client.get(f"/media/jobs/{guid}",
                             headers=headers["admin"])).json()["stages"] == job["stages"]


@pytest_asyncio.fixture
async def quick_redelivery(aws: AwsClients, stack: LocalStack) -> AsyncIterator[None]:
    """The uploads queue hides a received message for 20 s instead of 120 s until the worker's
    first heartbeat (after 40 s) extends it, so a message whose worker was killed early comes
    back sooner; the test would pass without this, only more slowly."""
    sqs = await aws.client("sqs")
    queue = await stack.resources.queue_url(aws, "media-jobs-uploads")
    declared = stack.resources.topology.queues["media-jobs-uploads"].visibility_timeout
    await sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "20"})
    # A receive already waiting (1 s long polls in tests) still hides for the old timeout.
    await asyncio.sleep(2.5)
    try:
        yield
    finally:
        await sqs.set_queue_attributes(QueueUrl=queue,
                                       Attributes={"VisibilityTimeout": str(declared)})


async def test_a_worker_killed_mid_encode_resumes_and_completes_once(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
    media: MediaService, events: EventTap, quick_redelivery: None,
) -> None:
    """SIGKILL during encode: the redelivered message resumes at encode (probe and profile
    are not run again), the job completes, and completion is published once."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-long", 640, 360, 20.0, crf=40),
                                   clip_dir)
    ticket = await upload(client, headers["alice"], clip)
    running = await wait_for_job(client, ticket["guid"], until=("encode", "complete", "error"))
    assert running["status"] == "encode", "the encode finished before the worker was killed"

    media.kill_worker()
    media.start_worker()
    job = await wait_for_job(client, ticket["guid"], timeout=240)

    assert job["status"] == "complete", job["error"]
    assert completed_stages(job) == {**dict.fromkeys(STAGES, 1), "encode": 2}
    assert job["progress"] == 100
    await assert_playable(job)
    assert [e["type"].split(".")[-2] for e in await events.settled(ticket["guid"])] == [
        "completed"]


@pytest_asyncio.fixture
async def one_delivery(aws: AwsClients, stack: LocalStack) -> AsyncIterator[None]:
    """The uploads queue gives a message one delivery (a redelivery goes to the DLQ) and hides
    it for 20 s, so a worker dying on its last delivery takes seconds to stage, not minutes."""
    sqs = await aws.client("sqs")
    queue = await stack.resources.queue_url(aws, "media-jobs-uploads")
    declared = await sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["RedrivePolicy", "VisibilityTimeout"])
    redrive = json.loads(declared["Attributes"]["RedrivePolicy"])
    await sqs.set_queue_attributes(QueueUrl=queue, Attributes={
        "VisibilityTimeout": "20",
        "RedrivePolicy": json.dumps(redrive | {"maxReceiveCount": 1})})
    await asyncio.sleep(2.5)  # a receive already waiting still hides for the old timeout
    try:
        yield
    finally:
        await sqs.set_queue_attributes(QueueUrl=queue, Attributes=declared["Attributes"])


async def test_a_worker_killed_on_the_last_delivery_ends_the_job_as_failed(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
    media: MediaService, events: EventTap, one_delivery: None,
) -> None:
    """SIGKILL during encode with no delivery left: the message goes to the DLQ, the worker's
    DLQ consumer records the job as failed at encode and publishes media.job.failed (before,
    the job stayed in encode for good); an admin's retry then completes it from encode."""
    clip = await asyncio.to_thread(make_clip, ClipSpec("e2e-long", 640, 360, 20.0, crf=40),
                                   clip_dir)
    ticket = await upload(client, headers["alice"], clip)
    guid = ticket["guid"]
    running = await wait_for_job(client, guid, until=("encode", "complete", "error"))
    assert running["status"] == "encode", "the encode finished before the worker was killed"

    media.kill_worker()
    media.start_worker()
    failed = await wait_for_job(client, guid, until=("complete", "error"), timeout=90)

    assert failed["status"] == "error"
    assert failed["error"]["stage"] == "encode"
    assert "dead-letter queue" in failed["error"]["message"]

    async def announced() -> list[str]:  # the worker's relay publishes it a moment later
        await events.drain()
        return [e["type"].split(".")[-2] for e in events.about(guid)]

    assert await eventually(announced, timeout=30) == ["failed"]

    retried = await client.post(f"/media/jobs/{guid}/retry", headers=headers["admin"])
    assert retried.status_code == 202, retried.text
    job = await wait_for_job(client, guid, timeout=240)
    assert job["status"] == "complete", job["error"]
    assert job["attempt"] == 2
    assert completed_stages(job) == {**dict.fromkeys(STAGES, 1), "encode": 2}
    await assert_playable(job)
    assert [e["type"].split(".")[-2] for e in await events.settled(guid, 3)] == [
        "failed", "requested", "completed"]
