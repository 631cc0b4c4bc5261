"""The workflow of one job: seven stages in order, resumable from the last completed one.

    ingest -> probe -> profile -> encode -> validate -> archive -> publish -> complete
                                                                         \\-> error (any stage)

Each stage is recorded on the job record when it starts and, with what it found, when it ends;
the end is a conditional write, so a stage is recorded as done once. A redelivered job resumes
at the first stage not recorded as done, using only the record and the buckets: no local state
outlives a run. The encode stage uploads its outputs before it is recorded as done.

Failures: a bad source, bad metadata or failed output check ends the job in ``error`` with the
stage and reason, and ``media.job.failed`` commits with it; anything else (AWS unreachable, a
bug) is retried by redelivery, and recorded as the job's error on the queue's last delivery.

Events commit with the change they announce (the outbox, see `JobStore`), and only while the
run still holds the job's lease: a run whose lease was taken over stops and commits nothing.
A run stopped by the worker's drain records the interruption; it is not a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from services.media_jobs import logic
from services.media_jobs.checks import validate_outputs
from services.media_jobs.encode import encode
from services.media_jobs.events import job_event
from services.media_jobs.ladder import UnknownLadderError, choose_rungs, get_ladder
from services.media_jobs.models import (
    ArchiveResult,
    EncodeSummary,
    EncodingProfile,
    JobError,
    JobStatus,
    MediaJob,
    Rendition,
    Stage,
    Trigger,
)
from services.media_jobs.options import (
    ArchiveClass,
    InvalidMetadataError,
    KeyKind,
    classify_key,
    extension,
    parse_metadata,
)
from services.media_jobs.probe import MediaError, MediaInfo, probe
from services.media_jobs.settings import MediaJobsSettings
from services.media_jobs.store.errors import (
    JobSupersededError,
    LeaseLostError,
    PrefixTakenError,
    SourceTooLargeError,
)
from services.media_jobs.store.jobs import JobStore
from services.media_jobs.store.leases import JobLeases
from services.media_jobs.store.outputs import OutputBucket
from services.media_jobs.store.sources import SourceBucket
from shared import telemetry
from shared.aws import CALL_ERRORS
from shared.errors import RegattaError, RetryableError
from shared.events import CloudEvent
from shared.logging import bound_contextvars, get_logger

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef

_NOT_RECORDED: tuple[type[Exception], ...] = (JobSupersededError, *CALL_ERRORS)

log = get_logger("media_jobs.workflow")


class JobFailedError(RegattaError):
    """The job cannot succeed as it stands (its source or metadata is unusable)."""


class JobLeasedError(RetryableError):
    """Another delivery holds the job's lease (it runs the job, or did until it died)."""


@dataclass(frozen=True)
class Lease:
    """The lease one run holds on its job: the delivery (owner) and the run's token."""

    guid: str
    owner: str
    run: str


# Failures that another delivery would meet again: they end the job instead of retrying it.
TERMINAL_ERRORS: tuple[type[Exception], ...] = (
    MediaError, InvalidMetadataError, UnknownLadderError, SourceTooLargeError, JobFailedError)

StageStep = Callable[[MediaJob, "Workspace"], Awaitable[dict[str, Any]]]


def _now() -> datetime:
    return datetime.now(UTC)


def reason(exc: BaseException) -> str:
    """One line saying why, for the job record and the failed event."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    notes = [" ".join(n.split()) for n in getattr(exc, "__notes__", [])]
    return "; ".join([text, *notes])


class ProgressWriter:
    """Passes the encoder's progress reports (about two a second) on to ``write`` at most once
    per ``interval`` seconds, and the final 100% always."""

    def __init__(self, write: Callable[[float], Awaitable[None]], interval: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.interval = interval
        self.clock = clock
        self.last = clock()

    async def __call__(self, percent: float) -> None:
        if percent >= 100 or self.clock() - self.last >= self.interval:
            self.last = self.clock()
            await self.write(percent)


class Workspace:
    """The local files of one run: the downloaded source and the encoder's output tree."""

    def __init__(self, root: Path, source: SourceBucket) -> None:
        self.root = root
        self.bucket = source
        self._source: Path | None = None
        # Events the running stage announces: they commit with the stage's end.
        self.events: list[CloudEvent] = []

    async def source_file(self, job: MediaJob) -> Path:
        """The job's source video on local disk, downloaded on first use in this run."""
        if self._source is None:
            assert job.source is not None
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
            # Named after the object: probe errors name the file they are about.
            name = PurePosixPath(job.source.key).name
            target = self.root / (name if len(name.encode()) <= 200
                                  else f"source.{extension(name) or 'bin'}")
            await self.bucket.download(job.source.key, target)
            self._source = target
        return self._source

    async def fresh_dir(self, name: str) -> Path:
        path = self.root / name
        await asyncio.to_thread(shutil.rmtree, path, True)
        return path

    def clean(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.root.parent.rmdir()  # the job's folder, once no run uses it


class Workflow:
    """Runs jobs to completion; one run per job at a time (see `JobLeases`)."""

    def __init__(self, *, jobs: JobStore, leases: JobLeases, source: SourceBucket,
                 outputs: OutputBucket, settings: MediaJobsSettings) -> None:
        self.jobs = jobs
        self.leases = leases
        self.source = source
        self.outputs = outputs
        self.settings = settings
        self.steps: dict[Stage, StageStep] = {
            Stage.INGEST: self.ingest,
            Stage.PROBE: self.probe,
            Stage.PROFILE: self.profile,
            Stage.ENCODE: self.encode,
            Stage.VALIDATE: self.validate,
            Stage.ARCHIVE: self.archive,
            Stage.PUBLISH: self.publish,
        }

    async def run(self, guid: str, *, owner: str, attempt: int | None = None,
                  last_delivery: bool = False) -> None:
        """Run the job from its first unfinished stage to the end.

        ``owner`` names the delivery (its SQS message id); ``attempt``, when given, must be
        the job's current attempt (a retry command for an older one is stale). With
        ``last_delivery``, an unexpected failure is recorded as the job's error before it
        is raised (the message then goes to the DLQ).

        A run whose lease another run takes over stops at once (its ffmpeg too) and returns:
        the other run has the job. A run cancelled by the worker's drain (SIGTERM) stops its
        ffmpeg, records the interruption on the job and lets the cancellation through: the
        worker releases its message for another worker to resume the job.
        """
        with bound_contextvars(guid=guid), contextlib.suppress(JobLeasedError):
            async with self._leased(guid, owner, attempt) as held:
                if held is None:
                    return
                job, lease = held
                # A folder per run: a run taken over may still be stopping beside its successor.
                workspace = Workspace(self.settings.media_work_dir / guid / lease.run,
                                      self.source)
                try:
                    await self._supervised(job, lease, workspace, last_delivery=last_delivery)
                finally:
                    await asyncio.to_thread(workspace.clean)

    async def _supervised(self, job: MediaJob, lease: Lease, workspace: Workspace, *,
                          last_delivery: bool) -> None:
        """`_run` in a task of its own, stopped when the lease is lost."""
        run = asyncio.create_task(self._run(job, workspace, lease, last_delivery=last_delivery))
        lost = asyncio.Event()

        def stop() -> None:
            lost.set()
            run.cancel()

        async with self._heartbeat(job, lease, on_lost=stop):
            try:
                await run
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if lost.is_set() and not (current and current.cancelling()):
                    log.warning("job.stopped_lease_lost")
                    return
                await self._interrupted(job)
                raise

    async def _interrupted(self, job: MediaJob) -> None:
        log.info("job.interrupted")
        try:
            await self.jobs.record_interruption(job, now=_now())
        except _NOT_RECORDED as exc:
            log.warning("job.interruption_not_recorded", error=str(exc))

    async def give_up(self, guid: str, *, owner: str, why: str,
                      attempt: int | None = None) -> None:
        """Record a job whose message failed every delivery as failed at the stage it was in.

        Only a worker that died on the last delivery leaves a job running with its message in
        the DLQ (any other failure was recorded then); ``media.job.failed`` goes out and an
        admin's retry runs the job again. A job that ended is left be; while a run holds its
        lease (a retry already running it, or a dead worker's lease not expired yet),
        `JobLeasedError` says to come back later.
        """
        with bound_contextvars(guid=guid):
            async with self._leased(guid, owner, attempt) as held:
                if held is not None:
                    job, lease = held
                    await self._fail(job, Stage(job.status), why, lease)

    @contextlib.asynccontextmanager
    async def _leased(self, guid: str, owner: str, attempt: int | None,
                      ) -> AsyncIterator[tuple[MediaJob, Lease] | None]:
        """The job and the lease of this run for the block, or None when it has nothing to
        run: gone, waiting for its upload, ended, or not at ``attempt`` any more (a stale
        retry command). `JobLeasedError` when another delivery holds the lease."""
        run = await self.leases.acquire(guid, owner)
        if run is None:
            log.info("job.running_elsewhere")
            raise JobLeasedError(f"job {guid} is leased to another delivery")
        lease = Lease(guid, owner, run)
        try:
            job = await self.jobs.find(guid)
            if job is None or job.status in logic.TERMINAL or job.status is JobStatus.PENDING:
                log.info("job.nothing_to_do", status=job.status if job else None)
                job = None
            elif attempt is not None and attempt != job.attempt:
                log.info("job.stale_retry", attempt=attempt, current=job.attempt)
                job = None
            yield (job, lease) if job is not None else None
        finally:
            with contextlib.suppress(*CALL_ERRORS):
                await self.leases.release(guid, owner, run)

    def _fence(self, lease: Lease) -> TransactWriteItemTypeDef:
        return self.leases.fence(lease.guid, lease.owner, lease.run)

    async def _run(self, job: MediaJob, workspace: Workspace, lease: Lease, *,
                   last_delivery: bool) -> None:
        stage = logic.resume_stage(job)
        log.info("job.run", attempt=job.attempt, stage=stage)
        try:
            while stage is not None:
                job = await self.jobs.begin_stage(job, stage, now=_now())
                started = time.perf_counter()
                with bound_contextvars(stage=str(stage)), telemetry.stage(str(stage)):
                    workspace.events = []
                    fields = await self.steps[stage](job, workspace)
                    job = await self.jobs.finish_stage(
                        job, stage, fields, now=_now(), events=workspace.events,
                        fence=self._fence(lease) if workspace.events else None)
                    log.info("job.stage_done", runs=job.stages[stage].runs,
                             seconds=round(time.perf_counter() - started, 3))
                stage = logic.next_stage(stage)
            log.info("job.complete", hls_url=job.outputs.hls_url if job.outputs else None)
        except LeaseLostError:
            log.warning("job.lease_lost", stage=stage)
        except JobSupersededError:
            log.info("job.superseded", stage=stage)
        except TERMINAL_ERRORS as exc:
            assert stage is not None
            await self._fail(job, stage, reason(exc), lease)
        except Exception as exc:
            if last_delivery and stage is not None:
                await self._fail(job, stage, f"gave up after the last delivery: {reason(exc)}",
                                 lease)
            raise

    async def _fail(self, job: MediaJob, stage: Stage, message: str, lease: Lease) -> None:
        now = _now()
        log.warning("job.failed", stage=stage, reason=message)
        failed = job.model_copy(update={
            "status": JobStatus.ERROR, "error": JobError(stage=stage, message=message, at=now),
            "ended_at": now})
        # The event commits with the failure, and only while this run holds the lease.
        with contextlib.suppress(JobSupersededError):
            await self.jobs.fail(
                job, stage, message, now=now, fence=self._fence(lease),
                events=[job_event(failed, "media.job.failed", logic.failed_event(failed))])

    @contextlib.asynccontextmanager
    async def _heartbeat(self, job: MediaJob, lease: Lease,
                         on_lost: Callable[[], None]) -> AsyncIterator[None]:
        """Renew the lease (every ``media_lease_check_seconds``) and the record's heartbeat
        (every third of a lease) while the run goes on; ``on_lost`` when another run took the
        lease over."""
        interval = max(1.0, self.leases.seconds / 3)
        check = min(interval, self.settings.media_lease_check_seconds)

        async def beat() -> None:
            last_beat = time.monotonic()
            while True:
                await asyncio.sleep(check)
                try:
                    if not await self.leases.renew(job.guid, lease.owner, lease.run):
                        log.warning("job.lease_lost")
                        on_lost()
                        return
                    if time.monotonic() - last_beat >= interval:
                        last_beat = time.monotonic()
                        await self.jobs.heartbeat(job, now=_now())
                except JobSupersededError:
                    return
                except CALL_ERRORS as exc:
                    log.warning("job.heartbeat_failed", error=str(exc))

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the stages: each returns the fields it records on the job --------------------------

    async def ingest(self, job: MediaJob, workspace: Workspace) -> dict[str, Any]:
        """The source exists, is a video by its name, and is not too large; for a metadata
        job, the JSON is valid and names a video that exists."""
        fields: dict[str, Any] = {}
        if job.trigger is Trigger.METADATA:
            assert job.metadata is not None
            raw = await self.source.read(job.metadata.key,
                                         max_bytes=self.settings.media_metadata_max_bytes)
            if raw is None:
                raise JobFailedError(f"metadata file {job.metadata.key} no longer exists")
            request = parse_metadata(raw, self.settings.default_options)
            video = await self.source.head(request.src_video)
            if video is None:
                raise InvalidMetadataError(
                    f"srcVideo {request.src_video} does not exist in {self.source.bucket}")
            fields |= {"options": request.options.model_dump(mode="json"),
                       "custom": request.custom}
            options = request.options
        else:
            assert job.source is not None
            if classify_key(job.source.key) is not KeyKind.VIDEO:
                raise JobFailedError(f"{job.source.key} does not have a video extension")
            video = await self.source.head(job.source.key)
            if video is None:
                raise JobFailedError(f"source {job.source.key} no longer exists")
            options = job.options
        if options.output_prefix and logic.is_reserved_prefix(options.output_prefix):
            raise InvalidMetadataError("outputPrefix must not start with a job guid")
        try:
            # An upload's job claimed it when it was created (a no-op again); a metadata file's
            # job learns its prefix here. Another live job's folder is never written into.
            await self.jobs.claim_prefix(job.model_copy(update={"options": options}))
        except PrefixTakenError as exc:
            raise JobFailedError(str(exc)) from None
        if not video.size:
            raise JobFailedError(f"source {video.key} is empty")
        if video.size > self.settings.media_upload_max_bytes:
            raise JobFailedError(f"source {video.key} is {video.size} bytes, more than the "
                                 f"limit of {self.settings.media_upload_max_bytes}")
        if job.upload_size is not None and video.size > job.upload_size:
            raise JobFailedError(f"source {video.key} is {video.size} bytes, more than the "
                                 f"{job.upload_size} bytes its upload declared")
        return fields | {"source": video.model_dump(mode="json")}

    async def probe(self, job: MediaJob, workspace: Workspace) -> dict[str, Any]:
        """Technical facts of the source (PyAV, in a thread)."""
        info = await asyncio.to_thread(probe, await workspace.source_file(job),
                                       self.settings.source_limits)
        return {"mediainfo": info.model_dump(mode="json")}

    async def profile(self, job: MediaJob, workspace: Workspace) -> dict[str, Any]:
        """The renditions the source deserves: its upright size, never upscaled."""
        info = self._mediainfo(job)
        video, options = info.video, job.options
        # 0 is a real override ("ignore the phone's rotation"), not "unset".
        rotation = (options.rotation_override if options.rotation_override is not None
                    else video.rotation)
        try:
            rungs = choose_rungs(video.display_width, video.display_height, rotation=rotation,
                                 ladder=get_ladder(options.ladder))
        except ValueError as exc:
            raise JobFailedError(f"cannot profile the source: {exc}") from exc
        profile = EncodingProfile(ladder=options.ladder, rotation=rotation,
                                  deinterlace=video.scan_type == "interlaced", rungs=rungs)
        return {"encoding_profile": profile.model_dump(mode="json")}

    async def encode(self, job: MediaJob, workspace: Workspace) -> dict[str, Any]:
        """One ffmpeg for the whole ladder, then every file uploaded to the output bucket."""
        info, profile, options = self._mediainfo(job), job.encoding_profile, job.options
        assert profile is not None
        source = await workspace.source_file(job)
        out = await workspace.fresh_dir("out")

        async def write(percent: float) -> None:
            await self.jobs.set_progress(job, logic.overall_progress(Stage.ENCODE, percent),
                                         now=_now())

        result = await encode(
            source, out, profile.rungs, has_audio=info.has_audio, duration=info.duration,
            frame_capture=options.frame_capture,
            on_progress=ProgressWriter(write, self.settings.media_progress_interval_seconds),
            frame_rate=info.video.frame_rate, input_rotate=options.rotation_override,
            deinterlace=profile.deinterlace, settings=self.settings.encode_settings,
            input_format=info.container,
        )
        sent = await self.outputs.upload(out, logic.output_root(job), result.files)
        summary = EncodeSummary(
            thumbnails=result.thumbnails, poster=result.poster,
            audio_bitrate=result.audio_bandwidth, files=len(result.files), bytes=sent,
            seconds=result.elapsed_seconds, speed=result.speed)
        renditions = [Rendition(name=r.name, width=r.width, height=r.height, bitrate=r.bandwidth,
                                average_bitrate=r.average_bandwidth, codecs=r.codecs,
                                frame_rate=r.frame_rate) for r in result.renditions]
        return {"encode": summary.model_dump(mode="json"),
                "renditions": [r.model_dump(mode="json") for r in renditions]}

    async def validate(self, job: MediaJob, workspace: Workspace) -> dict[str, Any]:
        """Every output check, run against the output bucket (not the local files)."""
        info, profile = self._mediainfo(job), job.encoding_profile
        assert profile is not None
        report = await validate_outputs(
            self.outputs.outputs(logic.output_root(job)),
            source_duration=info.duration,
            expect_audio=info.has_audio,
            expect_thumbnails=job.options.frame_capture,
            expected_renditions=len(profile.rungs),
            segment_target=self.settings.encode_settings.segment_seconds,
        )
        report.raise_for_failures()
        return {"validation": {"checks": sorted(report.checks), "renditions": report.renditions,
                               "segments_checked": report.segments_checked}}

    async def archive(self, job: MediaJob, workspace: Workspace) -> dict[str, Any]:
        """Tag the source for the bucket's Glacier / Deep Archive rule; a failure is recorded
        on the job but does not fail it (as in the reference)."""
        storage = job.options.archive_source
        result = ArchiveResult(storage_class=storage, tagged=False)
        if storage is not ArchiveClass.DISABLED:
            assert job.source is not None
            try:
                await self.source.tag_for_archive(job.source.key, storage)
                result = ArchiveResult(storage_class=storage, tagged=True)
            except CALL_ERRORS as exc:
                log.warning("job.archive_failed", error=str(exc))
                result = ArchiveResult(storage_class=storage, tagged=False, error=reason(exc))
        return {"archive": result.model_dump(mode="json")}

    async def publish(self, job: MediaJob, workspace: Workspace) -> dict[str, Any]:
        """Playback URLs on the record, and media.job.completed for everyone else."""
        now = _now()
        outputs = logic.playback_outputs(job, self.settings.media_public_base_url)
        done = job.model_copy(update={"outputs": outputs, "status": JobStatus.COMPLETE,
                                      "ended_at": now, "progress": 100})
        # Committed with the stage's end (the job's completion), in one transaction.
        workspace.events.append(
            job_event(done, "media.job.completed", logic.completed_event(done)))
        return {"outputs": outputs.model_dump(mode="json"),
                "ended_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    @staticmethod
    def _mediainfo(job: MediaJob) -> MediaInfo:
        if job.mediainfo is None:
            raise JobFailedError("the job has no mediainfo (probe did not run)")
        return job.mediainfo
