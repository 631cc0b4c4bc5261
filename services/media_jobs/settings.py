"""Settings of the media-jobs service (API and worker)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator

from services.media_jobs.encode import EncodeSettings, available_cpus
from services.media_jobs.ladder import LADDERS
from services.media_jobs.options import ArchiveClass, JobOptions
from services.media_jobs.probe import SourceLimits
from shared.settings import PlatformSettings

MiB = 1024 * 1024
GiB = 1024 * MiB
S3_MIN_PART_BYTES = 5 * MiB  # every part of a multipart upload but the last
S3_MAX_PART_BYTES = 5 * GiB
S3_MAX_PUT_BYTES = 5 * GiB  # one PUT
S3_MAX_OBJECT_BYTES = 5 * 1024 * GiB


class MediaJobsSettings(PlatformSettings):
    """Environment of the media-jobs processes; see PlatformSettings for the shared fields."""

    # Uploads (POST /media/uploads).
    media_upload_max_bytes: int = Field(10 * GiB, ge=1, le=S3_MAX_OBJECT_BYTES)
    # Above this size the client gets a presigned multipart plan instead of one PUT.
    media_multipart_threshold_bytes: int = Field(100 * MiB, ge=1, le=S3_MAX_PUT_BYTES)
    media_multipart_part_bytes: int = Field(64 * MiB, ge=S3_MIN_PART_BYTES, le=S3_MAX_PART_BYTES)
    media_upload_url_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
    media_metadata_max_bytes: int = Field(64 * 1024, ge=1, le=16 * MiB)

    # Playback URLs are this base + "/" + the output key: CloudFront in AWS (Terraform passes
    # it); locally, by default, the API's read-only pass-through route on its own port.
    media_public_base_url: str = ""
    media_jobs_port: int = Field(8005, ge=1, le=65535)

    # Job defaults; a metadata file or the upload request overrides them per video.
    media_default_ladder: str = "default"
    media_frame_capture: bool = True
    media_archive_source: ArchiveClass = ArchiveClass.DISABLED

    media_encode_preset: str = "veryfast"
    # Scale each rung from the next larger one (half the scaling work; see EncodeSettings).
    media_encode_cascade: bool = True
    # libx264 threads per rung. Unset: the encode's thread plan sizes them, the decoder's and
    # the filter graph's (a thread per half CPU of each one's share of the work: on 2 CPUs 2
    # for the 1080p rung, 1 for everything else). 0: every codec's own default (x264: 1.5x
    # the CPUs per rung; more CPU and memory). N: N per rung.
    media_encoder_threads: int | None = Field(None, ge=0, le=64)
    media_work_dir: Path = Path(tempfile.gettempdir()) / "regatta-media"
    # Encodes one worker runs at once (each is a whole-ladder ffmpeg: size it to the CPUs).
    media_worker_concurrency: int = Field(1, ge=1, le=10)
    # The encode stage writes its progress at most this often (the issue asks for <= 5 s).
    media_progress_interval_seconds: float = Field(2.0, gt=0, le=5)
    # Bounds of an (untrusted) source: beyond one, the job fails at probe with the reason.
    # Coded picture size, duration and stream count; wall time of the probe's reads.
    media_source_max_width: int = Field(4096, ge=16, le=16384)
    media_source_max_height: int = Field(4096, ge=16, le=16384)
    media_source_max_duration_seconds: float = Field(4 * 3600, gt=0, le=7 * 24 * 3600)
    media_source_max_streams: int = Field(32, ge=1, le=1024)
    media_probe_max_seconds: float = Field(60, gt=0, le=3600)
    # The encode fails (ffmpeg is stopped) after 300 s plus this many times the source's
    # duration (a 1080p ladder takes about 1x on 2 vCPUs, a 2160p one several times that).
    media_encode_time_limit_factor: float = Field(20, gt=0, le=1000)
    # A running job without a heartbeat for this long is stuck: an admin may retry or delete it.
    media_stuck_after_seconds: int = Field(300, ge=30, le=7 * 24 * 3600)
    # A run renews its job lease this often; a run that finds it taken over stops its encode.
    media_lease_check_seconds: float = Field(5.0, gt=0, le=40)
    # Drains (SIGTERM) that a job may go through before the DLQ consumer stops putting it back.
    media_max_interruptions: int = Field(20, ge=0, le=1000)

    @field_validator("media_default_ladder")
    @classmethod
    def _known_ladder(cls, value: str) -> str:
        if value not in LADDERS:
            raise ValueError(f"unknown ladder {value!r}; known: {', '.join(sorted(LADDERS))}")
        return value

    @model_validator(mode="after")
    def _derive_public_base_url(self) -> Self:
        if not self.media_public_base_url:
            local = f"http://127.0.0.1:{self.media_jobs_port}/media/outputs"
            object.__setattr__(self, "media_public_base_url", local)
        object.__setattr__(self, "media_public_base_url", self.media_public_base_url.rstrip("/"))
        return self

    @property
    def default_options(self) -> JobOptions:
        """The options of a job nobody gave overrides for."""
        return JobOptions(frame_capture=self.media_frame_capture,
                          archive_source=self.media_archive_source,
                          ladder=self.media_default_ladder)

    @property
    def source_limits(self) -> SourceLimits:
        """What the probe accepts as a source."""
        return SourceLimits(max_width=self.media_source_max_width,
                            max_height=self.media_source_max_height,
                            max_duration=self.media_source_max_duration_seconds,
                            max_streams=self.media_source_max_streams,
                            max_probe_seconds=self.media_probe_max_seconds)

    @property
    def encode_settings(self) -> EncodeSettings:
        """The encoder settings; concurrent encodes of one worker split its CPUs between them."""
        cpus = max(1, available_cpus() // self.media_worker_concurrency)
        return EncodeSettings(preset=self.media_encode_preset,
                              cascade_scaling=self.media_encode_cascade,
                              encoder_threads=self.media_encoder_threads,
                              cpus=cpus,
                              time_limit_factor=self.media_encode_time_limit_factor)
