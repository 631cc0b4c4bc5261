"""The media-jobs rules: job identity, queue messages, the stage machine, uploads and URLs."""

from __future__ import annotations

import hashlib
import json
import math
import mimetypes
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from services.media_jobs.encode import DASH_MANIFEST, HLS_MASTER
from services.media_jobs.events import RETRY_REQUESTED
from services.media_jobs.models import (
    JobOutputs,
    JobStatus,
    MediaJob,
    S3Location,
    Stage,
    Submitter,
    Trigger,
    UploadCreate,
)
from services.media_jobs.options import JobOptions, KeyKind, classify_key, decode_key
from shared.auth import User
from shared.dynamo import is_uuid
from shared.errors import ConflictError, InvalidInputError, UnprocessableError

STAGES: tuple[Stage, ...] = tuple(Stage)
TERMINAL = frozenset({JobStatus.COMPLETE, JobStatus.ERROR})
RUNNING = frozenset(JobStatus(stage) for stage in Stage)
UPLOADS_PREFIX = "uploads"
# A pending upload's record outlives its URL by this much: an upload started just before the
# URL expired may still arrive (S3 checks the signature when the request starts).
PENDING_GRACE = timedelta(days=1)
S3_MAX_PARTS = 10_000

# Share of the whole job each stage stands for (encode dominates), as (start, end) percent.
_PROGRESS_SPAN: dict[Stage, tuple[int, int]] = {
    Stage.INGEST: (0, 2),
    Stage.PROBE: (2, 4),
    Stage.PROFILE: (4, 5),
    Stage.ENCODE: (5, 90),
    Stage.VALIDATE: (90, 96),
    Stage.ARCHIVE: (96, 97),
    Stage.PUBLISH: (97, 99),
}
_UPLOAD_KEY = re.compile(rf"^{UPLOADS_PREFIX}/([0-9A-Fa-f-]{{36}})/[^/]+$")
# Jobs started from the source bucket (no submitter) keep their outputs in this namespace.
SHARED_NAMESPACE = "shared"
# A custom output prefix must never be able to land on (or delete) another job's outputs.
_GUID_LIKE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                        r"[0-9A-Fa-f]{12}(/|$)")


# --- the stage machine ----------------------------------------------------------------------


def next_stage(stage: Stage) -> Stage | None:
    """The stage after ``stage``; None after the last one."""
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def resume_stage(job: MediaJob) -> Stage | None:
    """The first stage not completed yet: where a (re)delivered job carries on; None when
    every stage is done."""
    for stage in STAGES:
        run = job.stages.get(stage)
        if run is None or run.completed_at is None:
            return stage
    return None


def overall_progress(stage: Stage, percent: float = 0.0) -> int:
    """The whole job's percentage while ``stage`` is ``percent`` done (0-100 each)."""
    start, end = _PROGRESS_SPAN[stage]
    return int(start + (end - start) * min(max(percent, 0.0), 100.0) / 100)


def is_stuck(job: MediaJob, *, now: datetime, after: timedelta) -> bool:
    """A running job whose worker has shown no sign of life for ``after``."""
    if job.status not in RUNNING:
        return False
    last = job.heartbeat_at or job.updated_at
    return now - last > after


def retry_stage(job: MediaJob, *, now: datetime, stuck_after: timedelta) -> Stage:
    """The stage a retry restarts from: the failed one (or a stuck job's current one).

    ConflictError for jobs that are fine as they are (complete, pending, running normally).
    """
    if job.status is JobStatus.ERROR:
        return job.error.stage if job.error else resume_stage(job) or Stage.INGEST
    if is_stuck(job, now=now, after=stuck_after):
        return resume_stage(job) or Stage.PUBLISH
    raise ConflictError(f"job {job.guid} is {job.status}; only failed or stuck jobs are retried")


def ensure_deletable(job: MediaJob, *, now: datetime, stuck_after: timedelta) -> None:
    """A running job cannot be deleted under its worker's feet (unless it is stuck)."""
    if job.status in RUNNING and not is_stuck(job, now=now, after=stuck_after):
        raise ConflictError(f"job {job.guid} is running ({job.status}); delete it once it has "
                            "finished")


# --- job identity ---------------------------------------------------------------------------


def upload_key(guid: str, filename: str) -> str:
    """Source key of an upload made through POST /media/uploads."""
    return f"{UPLOADS_PREFIX}/{guid}/{filename}"


def guid_from_upload_key(key: str) -> str | None:
    """The guid an ``uploads/{guid}/{name}`` key carries (canonical form), else None."""
    match = _UPLOAD_KEY.match(key)
    if not match:
        return None
    try:
        return str(uuid.UUID(match.group(1)))
    except ValueError:
        return None


def derived_guid(bucket: str, key: str, version: str) -> str:
    """A deterministic guid for one version of one object: every notification of the same
    object (duplicates, multipart's two events) maps to the same job."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"s3://{bucket}/{key}#{version}"))


def namespace_of(user_id: str) -> str:
    """The submitter's folder of the output bucket: a hash of their id, never the id itself
    (with a job's random guid under it, playback URLs cannot be guessed)."""
    digest = hashlib.sha256(f"regatta-media-namespace\0{user_id}".encode()).hexdigest()
    return f"u-{digest[:32]}"


def output_root(job: MediaJob) -> str:
    """The key prefix every output of ``job`` lives under (no trailing slash):
    ``{namespace}/{output_prefix or guid}`` (records made before namespaces: no namespace)."""
    folder = job.options.outputs_prefix(job.guid)
    return f"{job.namespace}/{folder}" if job.namespace else folder


def is_reserved_prefix(prefix: str) -> bool:
    """Whether a custom output prefix starts like a job's own ``{guid}/`` prefix."""
    return bool(_GUID_LIKE.match(prefix))


def may_read(job: MediaJob, user: User) -> bool:
    """Whether ``user`` may see ``job``: its submitter, or an admin."""
    return user.is_admin or (job.submitted_by is not None and job.submitted_by.id == user.id)


def is_guid(value: str) -> bool:
    """Whether ``value`` is a guid in canonical form (what job ids always are)."""
    return is_uuid(value)


# --- queue messages -------------------------------------------------------------------------


class ObjectCreated(BaseModel):
    """One S3 ObjectCreated notification record, key decoded."""

    bucket: str
    key: str
    etag: str | None = None
    sequencer: str | None = None
    size: int | None = None
    event_name: str = ""

    @property
    def kind(self) -> KeyKind:
        return classify_key(self.key)

    @property
    def version(self) -> str:
        """What tells this object apart from earlier objects under the same key."""
        return self.etag or self.sequencer or ""

    def guid(self) -> str:
        """The job this object starts: an upload's own guid, else derived from the object."""
        if self.kind is KeyKind.VIDEO and (guid := guid_from_upload_key(self.key)):
            return guid
        return derived_guid(self.bucket, self.key, self.version)

    def location(self) -> S3Location:
        return S3Location(bucket=self.bucket, key=self.key, etag=self.etag, size=self.size)


class S3Notification(BaseModel):
    """An S3 event message (usually one record)."""

    kind: Literal["s3"] = "s3"
    records: list[ObjectCreated]


class S3TestEvent(BaseModel):
    """What S3 sends once when a notification is configured: nothing to do."""

    kind: Literal["s3-test"] = "s3-test"
    bucket: str | None = None


class RetryCommand(BaseModel):
    """Run ``attempt`` of the job: a ``media.job.retry.requested`` event (an admin's retry) or
    this model's JSON, sent straight to the queue (a job the DLQ consumer puts back)."""

    kind: Literal["retry"] = "retry"
    guid: str
    attempt: int

    def to_json(self) -> str:
        return self.model_dump_json()


UploadMessage = S3Notification | S3TestEvent | RetryCommand


class UnknownMessageError(InvalidInputError):
    """A queue message that is neither an S3 notification nor a retry command."""


def parse_message(body: str | bytes) -> UploadMessage:
    """A message of the uploads queue; UnknownMessageError for anything else."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise UnknownMessageError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UnknownMessageError("not a JSON object")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return parse_message(document["Message"])  # through SNS without raw delivery
    try:
        if document.get("Event") == "s3:TestEvent":
            return S3TestEvent(bucket=document.get("Bucket"))
        if document.get("kind") == "retry":
            return RetryCommand.model_validate(document)
        if document.get("specversion") and document.get("type") == RETRY_REQUESTED:
            data = document["data"]
            return RetryCommand(guid=data["guid"], attempt=data["attempt"])
        if isinstance(document.get("Records"), list):
            return S3Notification(records=[
                _object_created(r) for r in document["Records"]
                if str(r.get("eventName", "")).startswith("ObjectCreated")
            ])
    except (ValidationError, KeyError, TypeError, AttributeError) as exc:
        raise UnknownMessageError(f"malformed message: {exc}") from None
    raise UnknownMessageError("neither an S3 notification nor a retry command")


def _object_created(record: Mapping[str, Any]) -> ObjectCreated:
    s3 = record["s3"]
    obj = s3["object"]
    return ObjectCreated(
        bucket=s3["bucket"]["name"],
        key=decode_key(obj["key"]),
        etag=(obj.get("eTag") or obj.get("etag") or "").strip('"') or None,
        sequencer=obj.get("sequencer"),
        size=obj.get("size"),
        event_name=record.get("eventName", ""),
    )


# --- jobs -----------------------------------------------------------------------------------


def new_job(
    guid: str, *, trigger: Trigger, options: JobOptions, source: S3Location | None = None,
    metadata: S3Location | None = None, now: datetime | None = None,
) -> MediaJob:
    """A job started from the source bucket (no submitter: the shared namespace), now at the
    ingest stage."""
    now = now or datetime.now(UTC)
    return MediaJob(guid=guid, status=JobStatus.INGEST, trigger=trigger, source=source,
                    metadata=metadata, options=options, namespace=SHARED_NAMESPACE,
                    created_at=now, updated_at=now, started_at=now)


def pending_upload(
    body: UploadCreate, user: User, *, bucket: str, defaults: JobOptions, expires_in: int,
    guid: str | None = None, now: datetime | None = None,
) -> MediaJob:
    """The record of an upload about to happen; the job starts when the object arrives.
    ``guid`` defaults to a random one."""
    now = now or datetime.now(UTC)
    guid = guid or str(uuid.uuid4())
    options = body.options or defaults
    if options.output_prefix and is_reserved_prefix(options.output_prefix):
        raise UnprocessableError("options.output_prefix must not start with a job guid")
    return MediaJob(
        guid=guid,
        status=JobStatus.PENDING,
        source=S3Location(bucket=bucket, key=upload_key(guid, body.filename), size=body.size),
        options=options,
        submitted_by=Submitter(id=user.id, username=user.username),
        namespace=namespace_of(user.id),
        created_at=now,
        updated_at=now,
        upload_expires_at=now + timedelta(seconds=expires_in),
        upload_size=body.size,
    )


def check_upload_size(body: UploadCreate, *, max_bytes: int) -> None:
    """UnprocessableError when the declared size is above the service's cap."""
    if body.size > max_bytes:
        raise UnprocessableError(f"size {body.size} exceeds the limit of {max_bytes} bytes",
                                 errors=[{"field": "size", "in": "body",
                                          "message": f"must be at most {max_bytes}",
                                          "type": "less_than_equal"}])


def upload_content_type(body: UploadCreate) -> str:
    """The Content-Type the upload is signed with: the client's, or guessed from the name."""
    return body.content_type or mimetypes.guess_type(body.filename)[0] or (
        "application/octet-stream")


def multipart_parts(size: int, part_bytes: int) -> tuple[int, int]:
    """(part size, part count) for a multipart upload of ``size`` bytes; the part size grows
    when S3's 10,000-part limit would otherwise be exceeded."""
    part = max(part_bytes, math.ceil(size / S3_MAX_PARTS))
    return part, max(1, math.ceil(size / part))


# --- outputs and events ---------------------------------------------------------------------


def public_url(base_url: str, key: str) -> str:
    """The URL a browser fetches an output key from (CloudFront, or the local pass-through)."""
    return f"{base_url.rstrip('/')}/{quote(key)}"


def playback_outputs(job: MediaJob, base_url: str) -> JobOutputs:
    """The job's playback URLs, from what its encode stage wrote."""
    if job.encode is None:
        raise ValueError(f"job {job.guid} has no encode summary")
    prefix = output_root(job)

    def url(path: str) -> str:
        return public_url(base_url, f"{prefix}/{path}")

    return JobOutputs(
        prefix=prefix,
        hls_url=url(HLS_MASTER),
        dash_url=url(DASH_MANIFEST),
        thumbnails=[url(p) for p in job.encode.thumbnails],
        poster=url(job.encode.poster) if job.encode.poster else None,
    )


def completed_event(job: MediaJob) -> dict[str, Any]:
    """Data of media.job.completed: where to play it, what it is, how long it took."""
    assert job.outputs is not None and job.source is not None
    return {
        "guid": job.guid,
        "trigger": job.trigger,
        "attempt": job.attempt,
        "source": {"bucket": job.source.bucket, "key": job.source.key},
        "hls_url": job.outputs.hls_url,
        "dash_url": job.outputs.dash_url,
        "thumbnails": job.outputs.thumbnails,
        "poster": job.outputs.poster,
        "renditions": [r.model_dump(mode="json") for r in job.renditions],
        "duration": job.mediainfo.duration if job.mediainfo else None,
        "stage_seconds": {str(stage): run.seconds for stage, run in job.stages.items()
                          if run.seconds is not None},
        "elapsed_seconds": _elapsed(job),
        "custom": job.custom,
    }


def failed_event(job: MediaJob) -> dict[str, Any]:
    """Data of media.job.failed: which stage, and why."""
    assert job.error is not None
    return {
        "guid": job.guid,
        "trigger": job.trigger,
        "attempt": job.attempt,
        "source": job.source.model_dump(include={"bucket", "key"}) if job.source else None,
        "metadata": job.metadata.model_dump(include={"bucket", "key"}) if job.metadata else None,
        "stage": job.error.stage,
        "reason": job.error.message,
        "elapsed_seconds": _elapsed(job),
    }


def _elapsed(job: MediaJob) -> float | None:
    if job.started_at is None or job.ended_at is None:
        return None
    return round((job.ended_at - job.started_at).total_seconds(), 3)
