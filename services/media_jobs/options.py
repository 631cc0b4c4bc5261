"""Job options, the metadata-file overrides, and S3 notification key handling.

A job starts either from a video upload (options = the service defaults) or from a metadata
JSON file naming an already uploaded video (`srcVideo`) plus per-video overrides, spelled as the
original solution spelled them (`frameCapture`, `archiveSource`, `jobTemplate`, `inputRotate`),
first letter in either case (`FrameCapture` works too, as it did there).
"""

from __future__ import annotations

import json
import posixpath
import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.media_jobs.ladder import LADDERS
from shared.errors import InvalidInputError

# Case-insensitive: the original's suffix filter was case-sensitive, so `.MOV` never started
# a job (aws-video-on-demand #93).
VIDEO_EXTENSIONS = frozenset({
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "flv",
    "mpg", "mpeg", "m2ts", "mts", "ts", "3gp", "mxf",
})  # fmt: skip
METADATA_EXTENSION = "json"

InputRotate = Literal[0, 90, 180, 270, "auto"]

# MediaConvert's spellings, which metadata files written for the original carry.
_ROTATE_ALIASES: dict[str, InputRotate] = {
    "auto": "auto",
    "degree_0": 0,
    "degrees_0": 0,
    "degrees_90": 90,
    "degrees_180": 180,
    "degrees_270": 270,
}
_METADATA_ALIASES = {
    "srcVideo": "src_video",
    "frameCapture": "frame_capture",
    "archiveSource": "archive_source",
    "jobTemplate": "ladder",
    "ladder": "ladder",
    "inputRotate": "input_rotate",
    "outputPrefix": "output_prefix",
}
_PREFIX_PART = re.compile(r"^[A-Za-z0-9!_.*'()\- ]+$")
# A submitter's folder in the output bucket: "u-" and 32 hex digits of a hash of their id.
NAMESPACE = re.compile(r"^u-[0-9a-f]{32}$", re.IGNORECASE)
MAX_PREFIX_DEPTH = 8
MAX_PREFIX_LENGTH = 256


class ArchiveClass(StrEnum):
    """Where the source goes after a successful job."""

    GLACIER = "GLACIER"
    DEEP_ARCHIVE = "DEEP_ARCHIVE"
    DISABLED = "DISABLED"


class KeyKind(StrEnum):
    """What an uploaded object key means to the service."""

    VIDEO = "video"
    METADATA = "metadata"
    IGNORED = "ignored"


class InvalidMetadataError(InvalidInputError):
    """A metadata file is not valid JSON or carries invalid overrides."""


class JobOptions(BaseModel):
    """How to process one video; the service settings provide the defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frame_capture: bool = True
    archive_source: ArchiveClass = ArchiveClass.DISABLED
    ladder: str = "default"
    input_rotate: InputRotate = "auto"
    output_prefix: str | None = None
    """Replaces the `{guid}` prefix of the outputs; None keeps it."""

    @field_validator("archive_source", mode="before")
    @classmethod
    def _archive_upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("ladder")
    @classmethod
    def _known_ladder(cls, value: str) -> str:
        if value not in LADDERS:
            raise ValueError(f"unknown ladder {value!r}; known: {', '.join(sorted(LADDERS))}")
        return value

    @field_validator("input_rotate", mode="before")
    @classmethod
    def _rotate_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _ROTATE_ALIASES:
                return _ROTATE_ALIASES[text]
            if text.isdigit():
                return int(text)
        return value

    @field_validator("output_prefix")
    @classmethod
    def _safe_prefix(cls, value: str | None) -> str | None:
        # Relative to the submitter's namespace, and already in its one spelling: no leading
        # or doubled '/', no '.' or '..' parts, safe characters only. Refused, never rewritten,
        # so two spellings cannot name one folder.
        if value is None:
            return None
        parts = value.split("/")
        if not all(part and part not in (".", "..") and _PREFIX_PART.match(part) for part in parts):
            raise ValueError("must be a relative key prefix of safe characters: no leading, "
                             "trailing or doubled '/', no '.' or '..' parts")
        if len(parts) > MAX_PREFIX_DEPTH or len(value) > MAX_PREFIX_LENGTH:
            raise ValueError(f"must have at most {MAX_PREFIX_DEPTH} parts and "
                             f"{MAX_PREFIX_LENGTH} characters")
        if NAMESPACE.match(parts[0]):
            raise ValueError("must not start with a namespace: it is relative to yours")
        return value

    @property
    def rotation_override(self) -> int | None:
        """Clockwise degrees forced on the source, None to trust its display matrix."""
        return None if self.input_rotate == "auto" else self.input_rotate

    def outputs_prefix(self, guid: str) -> str:
        """The job's folder in its namespace (no trailing slash): see `logic.output_root`."""
        return self.output_prefix or guid


class VideoRequest(BaseModel):
    """A video to process and the options to process it with."""

    model_config = ConfigDict(frozen=True)

    src_video: Annotated[str, Field(min_length=1)]
    options: JobOptions
    custom: dict[str, Any] = {}
    """Metadata keys the service does not know, kept verbatim for the job record."""


def decode_key(raw_key: str) -> str:
    """An S3 event notification key as stored: `%2F` -> `/`, `+` -> space."""
    return unquote_plus(raw_key)


def extension(key: str) -> str:
    """Lower-cased extension of a key, without the dot ('' when none)."""
    _, ext = posixpath.splitext(posixpath.basename(key))
    return ext[1:].lower()


def classify_key(key: str) -> KeyKind:
    """Whether an uploaded (already decoded) key is a video, a metadata file or neither."""
    if not key or key.endswith("/"):
        return KeyKind.IGNORED
    ext = extension(key)
    if ext in VIDEO_EXTENSIONS:
        return KeyKind.VIDEO
    if ext == METADATA_EXTENSION:
        return KeyKind.METADATA
    return KeyKind.IGNORED


def request_for_video(key: str, defaults: JobOptions) -> VideoRequest:
    """A video-triggered job: the uploaded video with the default options."""
    return VideoRequest(src_video=key, options=defaults)


def parse_metadata(document: str | bytes | dict[str, Any], defaults: JobOptions) -> VideoRequest:
    """Merge a metadata file's per-video overrides over `defaults`."""
    if not isinstance(document, dict):
        try:
            document = json.loads(document)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMetadataError(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidMetadataError("metadata must be a JSON object")
    known: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in document.items():
        normalised = key[:1].lower() + key[1:]
        if normalised in _METADATA_ALIASES:
            known[_METADATA_ALIASES[normalised]] = value
        else:
            custom[normalised] = value
    if isinstance(known.get("output_prefix"), str):
        # Files written for the original spell folders "/shows/ep1/": the outer slashes go
        # (the API takes the canonical spelling only).
        known["output_prefix"] = known["output_prefix"].strip("/")
    src_video = known.pop("src_video", None)
    if not isinstance(src_video, str) or not src_video.strip():
        raise InvalidMetadataError("srcVideo is required")
    src_video = src_video.strip().lstrip("/")
    if classify_key(src_video) is not KeyKind.VIDEO:
        raise InvalidMetadataError(f"srcVideo {src_video!r} does not have a video extension")
    try:
        options = JobOptions.model_validate(defaults.model_dump() | known)
    except ValidationError as exc:
        raise InvalidMetadataError(_one_line(exc)) from exc
    return VideoRequest(src_video=src_video, options=options, custom=custom)


def _one_line(exc: ValidationError) -> str:
    spelled = {v: k for k, v in _METADATA_ALIASES.items() if k != "ladder"}
    return "; ".join(
        f"{spelled.get(str(err['loc'][0]), err['loc'][0]) if err['loc'] else ''}: {err['msg']}"
        for err in exc.errors()
    )
