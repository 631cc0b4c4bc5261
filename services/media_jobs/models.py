"""Request, response and domain models of the media-jobs service."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

from services.media_jobs.ladder import LadderRung
from services.media_jobs.options import VIDEO_EXTENSIONS, ArchiveClass, JobOptions, extension
from services.media_jobs.probe import MediaInfo


def _fixed_width(at: datetime) -> str:
    # Always microseconds and Z: created_at is a GSI sort key, compared as a string.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Timestamp = Annotated[datetime, PlainSerializer(_fixed_width, return_type=str, when_used="json")]


class Stage(StrEnum):
    """The workflow's stages, in order."""

    INGEST = "ingest"  # the source (or the metadata file and its video) is there and usable
    PROBE = "probe"  # mediainfo read and stored
    PROFILE = "profile"  # renditions chosen, never upscaling
    ENCODE = "encode"  # one ffmpeg: CMAF + HLS + DASH + thumbnails, uploaded to the output bucket
    VALIDATE = "validate"  # the output bucket's files checked against the HLS authoring bar
    ARCHIVE = "archive"  # the source tagged for Glacier / Deep Archive (never fails the job)
    PUBLISH = "publish"  # playback URLs recorded, media.job.completed published


class JobStatus(StrEnum):
    """Where a job is: waiting for its upload, in a stage, or finished."""

    PENDING = "pending"  # an upload URL was issued; the object has not arrived yet
    INGEST = "ingest"
    PROBE = "probe"
    PROFILE = "profile"
    ENCODE = "encode"
    VALIDATE = "validate"
    ARCHIVE = "archive"
    PUBLISH = "publish"
    COMPLETE = "complete"
    ERROR = "error"


class Trigger(StrEnum):
    """What started the job (the reference's workflowTrigger)."""

    VIDEO = "video"
    METADATA = "metadata"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


ContentType = Annotated[str, StringConstraints(
    strip_whitespace=True, max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")]


class UploadCreate(_Input):
    """Body of POST /media/uploads: the video the client is about to upload."""

    filename: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The file's name; its extension must be a video one (any case).",
        examples=["Holiday clip.MOV"])
    size: int = Field(ge=1, description="Size in bytes (the service's cap applies).")
    content_type: ContentType | None = Field(
        default=None, description="Sent as Content-Type with the upload; guessed when absent.")
    options: JobOptions | None = Field(
        default=None, description="Per-video overrides of the service's defaults.")

    @field_validator("filename")
    @classmethod
    def _plain_video_name(cls, value: str) -> str:
        if any(c in value for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must be a file name, without path separators or control characters")
        if value.strip() in ("", ".", ".."):
            raise ValueError("must be a file name")
        if extension(value) not in VIDEO_EXTENSIONS:
            allowed = ", ".join(sorted(VIDEO_EXTENSIONS))
            raise ValueError(f"must have a video extension ({allowed}); any case")
        return value


class PresignedRequest(BaseModel):
    """One HTTP request the client makes as is (the URL carries the signature)."""

    method: Literal["PUT", "POST", "DELETE"]
    url: str
    headers: dict[str, str] = {}


class UploadPart(PresignedRequest):
    part_number: int
    content_length: int = Field(description="The part's exact size: its URL is signed with it")


class SingleUpload(PresignedRequest):
    """Upload the whole file with one PUT (the response's ETag is all S3 needs)."""

    method: Literal["PUT"] = "PUT"
    content_length: int = Field(
        description="The file's exact size (the declared one): the URL is signed with it")


class MultipartUpload(BaseModel):
    """Upload ``part_size`` byte slices with each part's PUT (any order, in parallel), then POST
    ``complete`` with the parts' ETags as S3's CompleteMultipartUpload XML; ``abort`` gives up."""

    method: Literal["MULTIPART"] = "MULTIPART"
    upload_id: str
    part_size: int
    parts: list[UploadPart]
    complete: PresignedRequest
    abort: PresignedRequest


class UploadTicket(BaseModel):
    """Where and how to upload; the job with this guid starts when the object arrives."""

    guid: str
    key: str
    bucket: str
    upload: SingleUpload | MultipartUpload = Field(discriminator="method")
    expires_at: Timestamp


class S3Location(BaseModel):
    """An object in a bucket."""

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None


class Submitter(BaseModel):
    id: str
    username: str


class StageRun(BaseModel):
    """When a stage ran; ``runs`` > 1 means it was started again after an interruption."""

    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    seconds: float | None = None
    runs: int = 0


class EncodingProfile(BaseModel):
    """The ladder the profiler chose from and the renditions it picked (the reference's
    encodingProfile)."""

    ladder: str
    rotation: int
    deinterlace: bool
    rungs: list[LadderRung]


class Rendition(BaseModel):
    """One encoded video rendition; bitrates are measured, audio included."""

    name: str
    width: int
    height: int
    bitrate: int = Field(description="Peak bits/s (HLS BANDWIDTH)")
    average_bitrate: int = Field(description="Average bits/s (HLS AVERAGE-BANDWIDTH)")
    codecs: str
    frame_rate: float


class EncodeSummary(BaseModel):
    """What the encode stage wrote under the output prefix (paths relative to it)."""

    thumbnails: list[str] = []
    poster: str | None = None
    audio_bitrate: int | None = None
    files: int
    bytes: int
    seconds: float
    speed: float = Field(description="Seconds of media encoded per second of wall time")


class ValidationSummary(BaseModel):
    """What the validate stage checked on the output bucket's files."""

    checks: list[str]
    renditions: int
    segments_checked: int


class JobOutputs(BaseModel):
    """Playback URLs, set by the publish stage."""

    prefix: str
    hls_url: str
    dash_url: str
    thumbnails: list[str] = []
    poster: str | None = None


class ArchiveResult(BaseModel):
    """The archive stage's outcome: a failure is recorded here, the job still completes."""

    storage_class: ArchiveClass
    tagged: bool
    error: str | None = None


class JobError(BaseModel):
    """Why the job failed (the reference's errorMessage and workflowErrorAt)."""

    stage: Stage
    message: str
    at: Timestamp


class MediaJob(BaseModel):
    """A media job as stored and as returned, keyed by guid."""

    guid: str
    status: JobStatus
    progress: int = Field(0, ge=0, le=100, description="Whole-job percentage")
    trigger: Trigger | None = None
    source: S3Location | None = Field(
        None, description="The video (for a metadata job: known once ingested)")
    metadata: S3Location | None = Field(None, description="The JSON file of a metadata job")
    options: JobOptions
    custom: dict[str, Any] = Field(
        default_factory=dict, description="Metadata-file keys the service does not know")
    mediainfo: MediaInfo | None = None
    encoding_profile: EncodingProfile | None = None
    renditions: list[Rendition] = []
    encode: EncodeSummary | None = None
    validation: ValidationSummary | None = None
    outputs: JobOutputs | None = None
    archive: ArchiveResult | None = None
    error: JobError | None = None
    stages: dict[Stage, StageRun] = {}
    attempt: int = Field(1, description="1, then +1 per retry")
    interruptions: int = Field(
        0, description="Runs a worker's drain stopped (deploy, scale-in, Spot reclaim); "
                       "they never fail the job")
    interrupted_at: Timestamp | None = Field(
        None, description="When a drain stopped the last run (cleared when a run starts a "
                          "stage)")
    submitted_by: Submitter | None = None
    namespace: str | None = Field(
        None, description="The job's folder of the output bucket: a hash of the submitter's id "
        "(`shared` for jobs started from the source bucket); the outputs are under "
        "`{namespace}/{output_prefix or guid}/`. None on records made before namespaces")
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    heartbeat_at: Timestamp | None = Field(
        None, description="Last sign of life of the worker running the job")
    upload_expires_at: Timestamp | None = Field(
        None, description="Pending jobs: when the upload URL expires")
    upload_size: int | None = Field(
        None, description="Jobs of POST /media/uploads: the declared size, the most the "
        "uploaded object may be")


class MediaJobPage(BaseModel):
    """One page of jobs, newest first; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[MediaJob]
    next_cursor: str | None = None
