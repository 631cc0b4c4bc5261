"""Nothing lost, nothing doubled: a retry committed by an API that dies at once still runs, a run
that loses its lease stops its ffmpeg and commits nothing, and drains (SIGTERM) never fail a job
however often they hit it."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest
import pytest_asyncio
from conftest import MediaService
from media_http import assert_playable, completed_stages, upload, wait_for_job

from devkit.testing import EventTap, LocalStack, ServiceProcess, eventually
from shared.aws import AwsClients
from tests.support.media_clips import ClipSpec, make_clip, make_not_video

STAGES = ["ingest", "probe", "profile", "encode", "validate", "archive", "publish"]
LONG_CLIP = ClipSpec("e2e-long", 640, 360, 20.0, crf=40)
# Encodes for a good 15 s even on an idle machine: long enough to be taken over mid-encode.
LONGER_CLIP = ClipSpec("e2e-longer", 1280, 720, 40.0, crf=40)


def log_events(path: Path, guid: str) -> list[str]:
    """A process log's events about one job, in order."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["event"] for line in lines
            if line.startswith("{") and f'"guid": "{guid}"' in line]


async def ffmpegs(media: MediaService) -> list[int]:
    """The ffmpeg processes the session's worker runs now (for `eventually`)."""
    return media.ffmpeg_pids()


def kinds(events: EventTap, guid: str) -> list[str]:
    """completed / failed / requested, in order, of the events about one job."""
    return [e["type"].split(".")[-2] for e in events.about(guid)]


async def completed_once(events: EventTap, guid: str) -> None:
    """The job's completion is published (by whichever worker's relay runs now), once."""
    await events.settled(guid, quiet=3)
    assert kinds(events, guid) == ["completed"]


async def test_a_retry_committed_by_an_api_killed_right_after_still_runs(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], media: MediaService,
    events: EventTap, tmp_path: Path,
) -> None:
    """The API dies (SIGKILL) right after committing a retry, before it answers: the retry was
    committed with its job change (the outbox), so the worker still runs attempt 2, once."""
    ticket = await upload(client, headers["alice"], make_not_video(tmp_path))
    guid = ticket["guid"]
    failed = await wait_for_job(client, guid)
    assert (failed["status"], failed["attempt"]) == ("error", 1)

    doomed = ServiceProcess.api("services.media_jobs.main:app",
                                media.env | {"REGATTA_FAULT_POINTS": "media.retry.committed"},
                                log_path=media.logs / "api-doomed.log").start()
    try:
        async with httpx.AsyncClient(base_url=doomed.url, timeout=30) as http:
            with pytest.raises(httpx.TransportError):
                await http.post(f"/media/jobs/{guid}/retry", headers=headers["admin"])
        assert await asyncio.to_thread(doomed.wait, 15) == -signal.SIGKILL
    finally:
        doomed.stop()
    assert '"point": "media.retry.committed"' in (media.logs / "api-doomed.log").read_text()

    # The API restarted: it shows the retried job run to its end (the source is still text).
    with ServiceProcess.api("services.media_jobs.main:app", media.env,
                            log_path=media.logs / "api-restarted.log") as restarted:
        async with httpx.AsyncClient(base_url=restarted.url, timeout=30) as http:
            async def attempt_2_ended() -> dict[str, object]:
                current = (await http.get(f"/media/jobs/{guid}",
                                          headers=headers["alice"])).json()
                assert (current["status"], current["attempt"]) == ("error", 2), current
                return dict(current)

            job = await eventually(attempt_2_ended, timeout=60)
    assert job["error"]["stage"] == "probe"
    assert job["stages"]["probe"]["runs"] == 2

    async def published() -> bool:
        await events.drain()
        assert [(k, e["data"]["attempt"]) for k, e in zip(kinds(events, guid),
                                                         events.about(guid), strict=True)] == [
            ("failed", 1), ("requested", 2), ("failed", 2)]
        return True

    await eventually(published, timeout=30)


async def test_a_run_that_loses_its_lease_stops_its_ffmpeg_and_commits_nothing(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
    aws: AwsClients, stack: LocalStack, media: MediaService, events: EventTap,
) -> None:
    """Two workers. While the first encodes, a duplicate notification of the object takes the
    job's lease over (as after the first run stalled past its lease): the first run's ffmpeg
    stops within seconds, the duplicate's run completes the job, and one completion is
    published."""
    clip = await asyncio.to_thread(make_clip, LONGER_CLIP, clip_dir)
    ticket = await upload(client, headers["alice"], clip)
    guid = ticket["guid"]
    running = await wait_for_job(client, guid, until=("encode", "complete", "error"))
    assert running["status"] == "encode", "the encode finished before the lease was taken"
    (first,) = await eventually(lambda: ffmpegs(media), timeout=30)

    second = ServiceProcess.worker("services.media_jobs.worker", media.env,
                                   log_path=media.logs / "worker-2.log").start()
    try:
        dynamodb, sqs, s3 = (await aws.client("dynamodb"), await aws.client("sqs"),
                             await aws.client("s3"))
        bucket = stack.resources.bucket("media-source")
        head = await s3.head_object(Bucket=bucket, Key=ticket["key"])
        # A duplicate notification of the object, delivered in 2 s...
        sent = await sqs.send_message(
            QueueUrl=await stack.resources.queue_url(aws, "media-jobs-uploads"),
            DelaySeconds=2,
            MessageBody=json.dumps({"Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {
                    "key": quote_plus(ticket["key"], safe=""), "size": head["ContentLength"],
                    "eTag": head["ETag"].strip('"')}}}]}))
        # ...finds the lease its own, as if the first run had stalled past its lease and this
        # delivery had taken it (the first run's renewals keep it from expiring here).
        await dynamodb.put_item(
            TableName=stack.resources.table("media-idempotency"),
            Item={"id": {"S": f"media-job-lease:{guid}"}, "owner": {"S": sent["MessageId"]},
                  "run": {"S": "stolen"}, "lease_until": {"N": str(int(time.time()) + 120)}})
        taken = time.monotonic()

        async def first_ffmpeg_gone() -> bool:
            assert first not in media.ffmpeg_pids()
            return True

        await eventually(first_ffmpeg_gone, timeout=20, interval=0.1)
        stopped_after = time.monotonic() - taken
        job = await wait_for_job(client, guid, timeout=300)
    finally:
        second.stop()

    assert stopped_after < 15, f"the first ffmpeg ran {stopped_after:.1f}s after the takeover"
    assert job["status"] == "complete", job["error"]
    assert completed_stages(job) == {**dict.fromkeys(STAGES, 1), "encode": 2}
    logs = (log_events(media.logs / "worker.log", guid)
            + log_events(media.logs / "worker-2.log", guid))
    assert logs.count("job.lease_lost") >= 1 and logs.count("job.stopped_lease_lost") == 1, logs
    await assert_playable(job)
    await completed_once(events, guid)


@pytest_asyncio.fixture
async def two_deliveries(aws: AwsClients, stack: LocalStack) -> AsyncIterator[None]:
    """The uploads queue sends a message to its DLQ after two deliveries (declared: more)."""
    sqs = await aws.client("sqs")
    queue = await stack.resources.queue_url(aws, "media-jobs-uploads")
    declared = await sqs.get_queue_attributes(QueueUrl=queue,
                                              AttributeNames=["RedrivePolicy"])
    redrive = json.loads(declared["Attributes"]["RedrivePolicy"])
    await sqs.set_queue_attributes(QueueUrl=queue, Attributes={
        "RedrivePolicy": json.dumps(redrive | {"maxReceiveCount": 2})})
    try:
        yield
    finally:
        await sqs.set_queue_attributes(QueueUrl=queue, Attributes=declared["Attributes"])


async def test_drains_mid_encode_more_often_than_max_receive_count_never_fail_the_job(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], clip_dir: Path,
    media: MediaService, events: EventTap, two_deliveries: None,
) -> None:
    """SIGTERM the worker during the encode three times with a queue that gives a message two
    deliveries: each drain stops ffmpeg, records the interruption and releases the message;
    the message that reaches the DLQ is put back, not failed; the job completes."""
    quick = {"WORKER_STOP_TIMEOUT": "1"}  # ECS gives 110 s; the test cannot wait that long
    media.worker.stop()
    media.start_worker(**quick)
    try:
        clip = await asyncio.to_thread(make_clip, LONG_CLIP, clip_dir)
        ticket = await upload(client, headers["bob"], clip)
        guid = ticket["guid"]
        async def encoding() -> list[int]:
            job = (await client.get(f"/media/jobs/{guid}", headers=headers["bob"])).json()
            assert job["status"] not in ("complete", "error"), job
            return media.ffmpeg_pids()

        for _ in range(3):
            # GIVEN the worker runs the job's ffmpeg
            await eventually(encoding, timeout=90, interval=0.1)
            job = (await client.get(f"/media/jobs/{guid}", headers=headers["bob"])).json()
            assert job["status"] == "encode", "the encode finished before the drain"
            # WHEN ECS stops the task (deploy, scale-in, Spot reclaim)
            media.worker.signal(signal.SIGTERM)
            # THEN it drains and exits 0, and another worker takes the job over
            assert await asyncio.to_thread(media.worker.wait, 30) == 0
            media.start_worker(**quick)
        job = await wait_for_job(client, guid, timeout=300)
    finally:
        media.worker.stop()
        media.start_worker()

    assert job["status"] == "complete", job["error"]
    assert job["error"] is None
    assert job["interruptions"] == 3 and job["interrupted_at"] is None
    assert completed_stages(job) == {**dict.fromkeys(STAGES, 1), "encode": 4}
    logs = log_events(media.logs / "worker.log", guid)
    assert logs.count("job.interrupted") == 3, logs
    assert "job.requeued_after_interruption" in logs, logs
    await assert_playable(job)
    await completed_once(events, guid)
