"""Uploads-queue messages and job identity: one source object is one job, whatever arrives."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from services.media_jobs.events import RETRY_REQUESTED, job_event
from services.media_jobs.logic import (
    RetryCommand,
    S3Notification,
    S3TestEvent,
    UnknownMessageError,
    derived_guid,
    guid_from_upload_key,
    new_job,
    parse_message,
)
from services.media_jobs.models import Trigger
from services.media_jobs.options import JobOptions, KeyKind

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def s3_message(key: str, etag: str | None = "abc123", name: str = "ObjectCreated:Put",
               bucket: str = "regatta-media-source") -> str:
    obj = {"key": key, "size": 10} | ({"eTag": etag} if etag else {})
    return json.dumps({"Records": [{"eventName": name,
                                    "s3": {"bucket": {"name": bucket}, "object": obj}}]})


def only_record(body: str):
    message = parse_message(body)
    assert isinstance(message, S3Notification)
    (record,) = message.records
    return record


def test_s3_keys_are_decoded_as_s3_encodes_them():
    """GIVEN %2F, '+' for spaces and %2B for plus WHEN parsed THEN the key as stored."""
    record = only_record(s3_message("inbox%2FMy+Clip%2B1.MOV"))
    assert record.key == "inbox/My Clip+1.MOV"
    assert record.kind is KeyKind.VIDEO


def test_an_upload_key_carries_its_guid_in_any_case():
    """uploads/{GUID}/name gives the API's guid, canonical (lower-case) whatever the case."""
    assert guid_from_upload_key(f"uploads/{GUID.upper()}/a.mp4") == GUID
    assert only_record(s3_message(f"uploads%2F{GUID}%2Fa+b.mp4")).guid() == GUID


@pytest.mark.parametrize("key", [
    "uploads/not-a-guid-at-all-but-36-chars-long/a.mp4",
    f"uploads/{GUID}/nested/a.mp4",
    f"elsewhere/{GUID}/a.mp4",
    f"uploads/{GUID}/",
])
def test_other_keys_carry_no_guid(key):
    """Only exactly uploads/{guid}/{file} names a job."""
    assert guid_from_upload_key(key) is None


def test_duplicate_notifications_of_one_object_map_to_one_guid():
    """Multipart's Put and CompleteMultipartUpload events (same key, same ETag) are one job;
    a new version (another ETag) or another key is another job."""
    put = only_record(s3_message("in%2Fclip.mp4", name="ObjectCreated:Put"))
    done = only_record(s3_message("in%2Fclip.mp4", name="ObjectCreated:CompleteMultipartUpload"))
    assert put.guid() == done.guid() == derived_guid("regatta-media-source", "in/clip.mp4",
                                                     "abc123")
    assert only_record(s3_message("in%2Fclip.mp4", etag="def456")).guid() != put.guid()
    assert only_record(s3_message("in%2Fother.mp4")).guid() != put.guid()
    assert uuid.UUID(put.guid()).version == 5


def test_a_quoted_etag_is_the_same_etag():
    """Some senders quote the ETag: the guid does not change."""
    assert only_record(s3_message("a.mp4", etag='"abc123"')).guid() == \
        only_record(s3_message("a.mp4")).guid()


def test_metadata_files_never_take_the_upload_guid():
    """A JSON under uploads/{guid}/ is its own (metadata) job, not the video's."""
    record = only_record(s3_message(f"uploads%2F{GUID}%2Fmeta.JSON"))
    assert record.kind is KeyKind.METADATA
    assert record.guid() != GUID


def test_the_test_event_and_retry_commands_are_recognised():
    """s3:TestEvent (sent when a notification is configured) and retry commands parse."""
    test = parse_message(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                                     "Bucket": "b"}))
    assert isinstance(test, S3TestEvent) and test.bucket == "b"
    retry = parse_message(RetryCommand(guid=GUID, attempt=3).to_json())
    assert retry == RetryCommand(guid=GUID, attempt=3)


def test_a_retry_requested_event_is_a_retry_command():
    """An admin's retry arrives as the event the API committed (raw delivery from SNS)."""
    job = new_job(GUID, trigger=Trigger.VIDEO, options=JobOptions(), now=datetime.now(UTC))
    event = job_event(job.model_copy(update={"attempt": 2}), "media.job.retry.requested",
                             {"guid": GUID, "attempt": 2, "stage": "probe"})
    assert event.type == RETRY_REQUESTED
    assert parse_message(event.to_json()) == RetryCommand(guid=GUID, attempt=2)
    other = event.model_copy(update={"type": RETRY_REQUESTED.replace("retry.requested",
                                                                     "completed")})
    with pytest.raises(UnknownMessageError):
        parse_message(other.to_json())


def test_an_sns_envelope_is_unwrapped():
    """The same S3 message delivered through SNS without raw delivery still parses."""
    envelope = json.dumps({"Type": "Notification", "Message": s3_message("a.mp4")})
    assert only_record(envelope).key == "a.mp4"


def test_only_object_created_records_count():
    """Other S3 events in a message (deletes) are dropped, leaving nothing to do."""
    message = parse_message(s3_message("a.mp4", name="ObjectRemoved:Delete"))
    assert message == S3Notification(records=[])


@pytest.mark.parametrize("body", [
    "not json", "[]", "{}", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
    json.dumps({"kind": "retry", "guid": GUID}),
])
def test_anything_else_is_an_unknown_message(body):
    """Garbage fails its record (it goes to the DLQ), never the worker."""
    with pytest.raises(UnknownMessageError):
        parse_message(body)
