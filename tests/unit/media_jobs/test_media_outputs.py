"""Playback URLs and the events that carry them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.media_jobs import logic
from services.media_jobs.models import (
    EncodeSummary,
    JobError,
    JobStatus,
    Rendition,
    S3Location,
    Stage,
    StageRun,
    Trigger,
)
from services.media_jobs.options import JobOptions

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
ENCODED = EncodeSummary(thumbnails=["thumbnails/thumb-00001.jpg", "thumbnails/thumb-00002.jpg"],
                        poster="thumbnails/poster.jpg", files=12, bytes=10_000, seconds=2.0,
                        speed=3.0)


def encoded_job(**options):
    job = logic.new_job(GUID, trigger=Trigger.VIDEO, options=JobOptions(**options), now=NOW,
                        source=S3Location(bucket="src", key=f"uploads/{GUID}/a b.mp4"))
    return job.model_copy(update={"encode": ENCODED})


@pytest.mark.parametrize("base", ["https://d1.cloudfront.net", "https://d1.cloudfront.net/"])
def test_urls_are_the_base_plus_the_output_key(base):
    """HLS, DASH, thumbnails and poster under {namespace}/{guid}/, however the base URL ends
    (a job started from the bucket: the shared namespace)."""
    outputs = logic.playback_outputs(encoded_job(), base)
    root = f"https://d1.cloudfront.net/shared/{GUID}"
    assert outputs.prefix == f"shared/{GUID}"
    assert outputs.hls_url == f"{root}/hls/master.m3u8"
    assert outputs.dash_url == f"{root}/dash/manifest.mpd"
    assert outputs.thumbnails == [f"{root}/thumbnails/thumb-00001.jpg",
                                  f"{root}/thumbnails/thumb-00002.jpg"]
    assert outputs.poster == f"{root}/thumbnails/poster.jpg"


def test_a_custom_prefix_is_honoured_and_url_encoded():
    """outputPrefix replaces {guid} in the namespace; characters a URL cannot carry are
    escaped."""
    outputs = logic.playback_outputs(encoded_job(output_prefix="shows/Season 1"),
                                     "http://127.0.0.1:8005/media/outputs")
    assert outputs.hls_url == \
        "http://127.0.0.1:8005/media/outputs/shared/shows/Season%201/hls/master.m3u8"


def test_a_submitters_outputs_live_in_a_namespace_hashed_from_their_id():
    """A user's namespace is "u-" and 32 hex digits of a hash of their id: the same for every
    job of theirs, another for anyone else, and never the id itself."""
    alice, bob = "3f1c2b5e-0000-4000-8000-000000000001", "3f1c2b5e-0000-4000-8000-000000000002"
    ns = logic.namespace_of(alice)
    assert ns == logic.namespace_of(alice) != logic.namespace_of(bob)
    assert re.fullmatch(r"u-[0-9a-f]{32}", ns) and alice not in ns
    job = encoded_job(output_prefix="shows").model_copy(update={"namespace": ns})
    assert logic.output_root(job) == f"{ns}/shows"
    legacy = encoded_job().model_copy(update={"namespace": None})
    assert logic.output_root(legacy) == GUID  # records made before namespaces


def test_a_job_without_its_encode_has_no_urls():
    """Publishing before encoding is a bug, not an empty URL."""
    with pytest.raises(ValueError):
        logic.playback_outputs(encoded_job().model_copy(update={"encode": None}), "http://x")


def test_the_completed_event_carries_urls_renditions_images_and_durations():
    """What downstream consumers (the web player) need without calling the API."""
    job = encoded_job()
    rendition = Rendition(name="360p", width=640, height=360, bitrate=900_000,
                          average_bitrate=700_000, codecs="avc1.64001e,mp4a.40.2",
                          frame_rate=30.0)
    job = job.model_copy(update={
        "outputs": logic.playback_outputs(job, "https://cdn"), "renditions": [rendition],
        "status": JobStatus.COMPLETE, "ended_at": NOW + timedelta(seconds=42),
        "stages": {Stage.ENCODE: StageRun(started_at=NOW, completed_at=NOW, seconds=30.5)},
        "custom": {"title": "t"}})
    data = logic.completed_event(job)
    assert data["hls_url"] == f"https://cdn/shared/{GUID}/hls/master.m3u8"
    assert data["poster"] == f"https://cdn/shared/{GUID}/thumbnails/poster.jpg"
    assert len(data["thumbnails"]) == 2
    assert data["renditions"] == [rendition.model_dump(mode="json")]
    assert data["stage_seconds"] == {"encode": 30.5}
    assert data["elapsed_seconds"] == 42.0
    assert data["source"] == {"bucket": "src", "key": f"uploads/{GUID}/a b.mp4"}
    assert (data["trigger"], data["attempt"], data["custom"]) == ("video", 1, {"title": "t"})


def test_the_failed_event_names_stage_and_reason():
    """media.job.failed: which stage, why, which attempt."""
    job = encoded_job().model_copy(update={
        "status": JobStatus.ERROR, "ended_at": NOW,
        "error": JobError(stage=Stage.PROBE, message="a.mp4: no video stream", at=NOW)})
    data = logic.failed_event(job)
    assert (data["stage"], data["reason"], data["attempt"]) == ("probe", "a.mp4: no video stream",
                                                                1)
    assert data["metadata"] is None and data["source"]["key"].endswith("a b.mp4")
