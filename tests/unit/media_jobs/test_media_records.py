"""Job records, upload requests and settings: what is stored comes back the same, what is
refused is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.media_jobs import logic
from services.media_jobs.ladder import choose_rungs
from services.media_jobs.models import (
    EncodeSummary,
    EncodingProfile,
    JobStatus,
    MediaJob,
    Stage,
    StageRun,
    Trigger,
    UploadCreate,
)
from services.media_jobs.options import ArchiveClass, JobOptions
from services.media_jobs.probe import AudioInfo, MediaInfo, VideoInfo
from services.media_jobs.settings import MediaJobsSettings
from services.media_jobs.store.jobs import _job, _job_item
from shared.auth import User
from shared.errors import UnprocessableError

NOW = datetime(2026, 5, 1, 12, 0, 0, 0, tzinfo=UTC)
ALICE = User(id="sub-alice", username="alice")


def probed() -> MediaInfo:
    video = VideoInfo(index=0, codec="h264", profile=None, width=1920, height=1080,
                      display_width=1920, display_height=1080, sample_aspect_ratio="1:1",
                      frame_rate=29.97, pix_fmt="yuv420p", bit_depth=8, rotation=0,
                      scan_type="progressive", field_order=None, bit_rate=None)
    audio = AudioInfo(index=1, codec="aac", channels=2, sample_rate=48000, bit_rate=None,
                      language=None)
    return MediaInfo(container="mov,mp4", duration=12.345, bit_rate=5_000_000,
                     size_bytes=7_716_000, video=video, audio=[audio])


def test_a_full_record_survives_dynamodb():
    """Every field (floats, None facts, nested models, enum keys) round-trips an item."""
    job = logic.new_job("0f8fad5b-d9cb-469f-a165-70867728950e", trigger=Trigger.VIDEO,
                        options=JobOptions(input_rotate=90), now=NOW)
    job = job.model_copy(update={
        "mediainfo": probed(),
        "encoding_profile": EncodingProfile(ladder="default", rotation=90, deinterlace=False,
                                            rungs=choose_rungs(1920, 1080, rotation=90)),
        "encode": EncodeSummary(files=10, bytes=1000, seconds=1.5, speed=8.23),
        "stages": {Stage.INGEST: StageRun(started_at=NOW, completed_at=NOW, seconds=0.0, runs=1)},
        "custom": {"title": "x", "nested": {"n": 1.5, "missing": None}},
    })
    back = _job(_job_item(job))
    assert back == job.model_copy(update={"custom": {"title": "x", "nested": {"n": 1.5}}})


def test_timestamps_are_fixed_width_so_they_sort():
    """created_at (a GSI sort key) always has microseconds, even when they are zero."""
    job = logic.new_job("g", trigger=Trigger.VIDEO, options=JobOptions(), now=NOW)
    assert job.model_dump(mode="json")["created_at"] == "2026-05-01T12:00:00.000000Z"


def test_a_pending_upload_carries_its_options_and_a_ttl():
    """POST /media/uploads' record: pending, the caller's options, expiring after the URL."""
    body = UploadCreate(filename="Trip.MOV", size=10,
                        options=JobOptions(archive_source=ArchiveClass.DEEP_ARCHIVE))
    job = logic.pending_upload(body, ALICE, bucket="src", defaults=JobOptions(),
                               expires_in=600, now=NOW)
    assert job.status is JobStatus.PENDING
    assert job.source.key == f"uploads/{job.guid}/Trip.MOV"
    assert job.options.archive_source is ArchiveClass.DEEP_ARCHIVE
    assert job.submitted_by.username == "alice"
    assert job.namespace == logic.namespace_of(ALICE.id) and ALICE.id not in job.namespace
    item = _job_item(job)
    assert item["submitter_id"] == {"S": ALICE.id}  # the by-submitter index's key
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(seconds=600)
                                                + logic.PENDING_GRACE).timestamp())
    assert "expires_at" not in _job_item(job.model_copy(update={"upload_expires_at": None}))


@pytest.mark.parametrize("filename", ["clip.mp4", "CLIP.MOV", "holiday 2024 (1).MkV",
                                      "café.webm", "a+b.ts"])
def test_video_names_are_accepted_in_any_case(filename):
    """The extension allow-list ignores case (the original's did not: #93)."""
    assert UploadCreate(filename=filename, size=1).filename == filename


@pytest.mark.parametrize("filename", ["notes.txt", "clip", "dir/clip.mp4", "..\\clip.mp4",
                                      "bad\x00name.mp4", ".mp4.", "x" * 201 + ".mp4"])
def test_other_names_are_refused(filename):
    """Not a video name, a path, or control characters: a validation error (422)."""
    with pytest.raises(ValidationError):
        UploadCreate(filename=filename, size=1)


def test_the_size_cap_and_guid_prefixes_are_422():
    """Above the cap, or an output prefix that could land on another job's outputs."""
    with pytest.raises(UnprocessableError):
        logic.check_upload_size(UploadCreate(filename="a.mp4", size=11), max_bytes=10)
    logic.check_upload_size(UploadCreate(filename="a.mp4", size=10), max_bytes=10)
    body = UploadCreate(filename="a.mp4", size=1, options=JobOptions(
        output_prefix="0F8FAD5B-D9CB-469F-A165-70867728950E/mine"))
    with pytest.raises(UnprocessableError):
        logic.pending_upload(body, ALICE, bucket="b", defaults=JobOptions(), expires_in=60)


def test_content_type_is_the_callers_or_guessed():
    """The upload is signed with the given Content-Type, else one guessed from the name."""
    assert logic.upload_content_type(UploadCreate(filename="a.mov", size=1)) == "video/quicktime"
    assert logic.upload_content_type(UploadCreate(filename="a.mov", size=1,
                                                  content_type="video/x-custom")) == \
        "video/x-custom"
    assert logic.upload_content_type(UploadCreate(filename="a.mxf", size=1)) in (
        "application/mxf", "application/octet-stream")


@pytest.mark.parametrize(("size", "part", "expected"), [
    (1, 64, (64, 1)), (64, 64, (64, 1)), (65, 64, (64, 2)),
    (10**6, 64, (100, 10_000)),  # 10,000 parts at most: the part size grows
])
def test_multipart_plans_respect_s3s_part_limit(size, part, expected):
    """Parts of the configured size, never more than 10,000 of them."""
    assert logic.multipart_parts(size, part) == expected


def test_settings_default_the_public_url_to_the_local_pass_through(monkeypatch):
    """Unset, playback URLs point at the API's own /media/outputs on its port."""
    monkeypatch.setenv("MEDIA_JOBS_PORT", "9123")
    assert MediaJobsSettings().media_public_base_url == "http://127.0.0.1:9123/media/outputs"
    monkeypatch.setenv("MEDIA_PUBLIC_BASE_URL", "https://d123.cloudfront.net/")
    assert MediaJobsSettings().media_public_base_url == "https://d123.cloudfront.net"


def test_settings_refuse_an_unknown_ladder_and_give_job_defaults(monkeypatch):
    """A bad default ladder stops the process; the defaults become every job's options."""
    monkeypatch.setenv("MEDIA_DEFAULT_LADDER", "8k")
    with pytest.raises(ValidationError):
        MediaJobsSettings()
    monkeypatch.setenv("MEDIA_DEFAULT_LADDER", "hd")
    monkeypatch.setenv("MEDIA_ARCHIVE_SOURCE", "GLACIER")
    monkeypatch.setenv("MEDIA_FRAME_CAPTURE", "false")
    assert MediaJobsSettings().default_options == JobOptions(
        ladder="hd", archive_source=ArchiveClass.GLACIER, frame_capture=False)


def test_a_record_refuses_progress_out_of_range():
    """Progress is a percentage."""
    with pytest.raises(ValidationError):
        MediaJob(guid="g", status=JobStatus.INGEST, options=JobOptions(), created_at=NOW,
                 updated_at=NOW, progress=101)
