"""HTTP routes of the media-jobs service (prefix /media)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from services.media_jobs import logic
from services.media_jobs.container import MediaJobsContainer
from services.media_jobs.models import (
    JobStatus,
    MediaJob,
    MediaJobPage,
    MultipartUpload,
    SingleUpload,
    UploadCreate,
    UploadTicket,
)
from services.media_jobs.passthrough import open_output
from services.media_jobs.settings import MediaJobsSettings
from services.media_jobs.store.errors import JobSupersededError, PrefixTakenError
from services.media_jobs.store.jobs import JobStore
from services.media_jobs.store.outputs import OutputBucket
from services.media_jobs.store.sources import SourceBucket
from shared.auth import AdminUser, CurrentUser
from shared.dynamo import CursorError, decode_cursor, encode_cursor
from shared.errors import ConflictError, ForbiddenError, NotFoundError
from shared.http import Responses, from_container, settings_of
from shared.idempotency_keys import IDEMPOTENT_CREATE, IdempotentRoute, NewId
from shared.ratelimit import UserRateLimited

router = APIRouter(prefix="/media", tags=["media"], route_class=IdempotentRoute)
outputs_router = APIRouter(prefix="/media", tags=["outputs"])


Store = Annotated[JobStore, Depends(from_container(MediaJobsContainer, lambda c: c.jobs))]
Source = Annotated[SourceBucket, Depends(from_container(MediaJobsContainer, lambda c: c.source))]
Outputs = Annotated[OutputBucket,
                    Depends(from_container(MediaJobsContainer, lambda c: c.outputs))]
Settings = Annotated[MediaJobsSettings, Depends(settings_of(MediaJobsSettings))]
Guid = Annotated[str, Path(description="The job's guid", max_length=64)]

NOT_FOUND: Responses = {
    404: {"description": "No job has this guid (or it is not the caller's)"}}
ADMIN: Responses = {403: {"description": "Not an admin"}, **NOT_FOUND,
                    409: {"description": "The job is not in a state that allows this"}}
# Outputs are public (CloudFront serves them in AWS); players on any origin may fetch them.
CORS = {"Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "Content-Length, Content-Range, ETag, Accept-Ranges"}


@router.post("/uploads", status_code=status.HTTP_201_CREATED,
             summary="Get a presigned upload for a video (the job starts when it arrives)",
             responses={**IDEMPOTENT_CREATE,
                        409: {"description": "options.output_prefix is, contains or is "
                                             "inside the prefix of another of the caller's "
                                             "jobs"},
                        422: {"description": "Not a video name, too large, or bad options; or "
                                             "an Idempotency-Key used with another request"}})
async def create_upload(body: UploadCreate, user: CurrentUser, store: Store, source: Source,
                        settings: Settings, response: Response, guid: NewId,
                        _limited: UserRateLimited) -> UploadTicket:
    logic.check_upload_size(body, max_bytes=settings.media_upload_max_bytes)
    expires = settings.media_upload_url_seconds
    job = logic.pending_upload(body, user, bucket=source.bucket, guid=guid,
                               defaults=settings.default_options, expires_in=expires)
    assert job.source is not None and job.upload_expires_at is not None
    content_type = logic.upload_content_type(body)
    upload: SingleUpload | MultipartUpload
    if body.size > settings.media_multipart_threshold_bytes:
        upload = await source.multipart_plan(
            job.source.key, content_type, size=body.size,
            part_bytes=settings.media_multipart_part_bytes, expires=expires)
    else:
        url = await source.presigned_put(job.source.key, content_type, size=body.size,
                                         expires=expires)
        upload = SingleUpload(url=url, headers={"Content-Type": content_type},
                              content_length=body.size)
    # False when a retry of this request (same Idempotency-Key, hence the same guid) finds the
    # job its first run made: the answer names that job again, with freshly signed URLs.
    try:
        await store.create(job)
    except PrefixTakenError as exc:
        raise ConflictError(str(exc)) from None
    response.headers["Location"] = f"/media/jobs/{job.guid}"
    return UploadTicket(guid=job.guid, key=job.source.key, bucket=source.bucket,
                        upload=upload, expires_at=job.upload_expires_at)


@router.get("/jobs", summary="The caller's jobs (admins: everyone's), newest first",
            responses={403: {"description": "submitted_by names another user (not an admin)"}})
async def list_jobs(
    user: CurrentUser,
    store: Store,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    submitted_by: Annotated[str | None, Query(
        max_length=128, description="A submitter's user id (admins; others: their own)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> MediaJobPage:
    if not user.is_admin and submitted_by not in (None, user.id):
        raise ForbiddenError("only admins list other users' jobs")
    submitter = submitted_by if user.is_admin else user.id
    position = decode_cursor(cursor)
    if position is not None and (set(position) != {"key"} or not isinstance(position["key"],
                                                                           dict)):
        raise CursorError("cursor is not valid for this listing")
    after = position["key"] if position else None
    items, last_key = await store.list_page(status_, limit=limit, after=after,
                                            submitter=submitter)
    return MediaJobPage(items=items, next_cursor=encode_cursor(last_key and {"key": last_key}))


@router.get("/jobs/{guid}", summary="One job: status, progress, mediainfo, outputs, error "
            "(its submitter and admins)", responses=NOT_FOUND)
async def get_job(guid: Guid, user: CurrentUser, store: Store) -> MediaJob:
    job = await store.get(guid)
    if not logic.may_read(job, user):
        # The same answer as for no job at all: another user's guid is not confirmed.
        raise NotFoundError(f"job {guid} does not exist")
    return job


@router.post("/jobs/{guid}/retry", status_code=status.HTTP_202_ACCEPTED,
             summary="Run a failed (or stuck) job again from its failed stage (admins)",
             responses=ADMIN)
async def retry_job(guid: Guid, admin: AdminUser, store: Store,
                    settings: Settings) -> MediaJob:
    job = await store.get(guid)
    stage = logic.retry_stage(job, now=datetime.now(UTC),
                              stuck_after=timedelta(seconds=settings.media_stuck_after_seconds))
    try:
        # The next attempt and media.job.retry.requested (which the worker's queue receives)
        # commit together: no retry is lost between the write and the message.
        job = await store.request_retry(job, stage, now=datetime.now(UTC))
    except JobSupersededError:
        raise ConflictError(f"job {guid} changed meanwhile; read it and try again") from None
    return job


@router.delete("/jobs/{guid}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a job's outputs and record (admins)", responses=ADMIN)
async def delete_job(guid: Guid, admin: AdminUser, store: Store, outputs: Outputs,
                     settings: Settings) -> Response:
    job = await store.find(guid)
    if job is None:
        raise NotFoundError(f"job {guid} does not exist")
    logic.ensure_deletable(job, now=datetime.now(UTC),
                           stuck_after=timedelta(seconds=settings.media_stuck_after_seconds))
    if job.status is not JobStatus.PENDING:
        await outputs.delete_outputs(logic.output_root(job))
    await store.delete(job)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


OutputPath = Annotated[str, Path(description="Key in the output bucket, e.g. "
                                 "{guid}/hls/master.m3u8", max_length=1024)]


@outputs_router.get("/outputs/{path:path}",
                    summary="Read an output file (local stand-in for the CDN, with CORS)",
                    responses={206: {"description": "The requested byte range"}, **NOT_FOUND,
                               416: {"description": "Range outside the file"}})
async def read_output(path: OutputPath, outputs: Outputs,
                      range_: Annotated[str | None, Header(alias="range")] = None,
                      ) -> StreamingResponse:
    found = await open_output(outputs, path, head=False, byte_range=range_)
    return StreamingResponse(found.chunks(), status_code=found.status,
                             headers=found.headers | CORS, media_type=found.headers["Content-Type"])


@outputs_router.head("/outputs/{path:path}", summary="Size and type of an output file",
                     responses=NOT_FOUND)
async def head_output(path: OutputPath, outputs: Outputs) -> Response:
    found = await open_output(outputs, path, head=True, byte_range=None)
    return Response(status_code=found.status, headers=found.headers | CORS)


@outputs_router.options("/outputs/{path:path}", include_in_schema=False)
async def preflight_output(path: OutputPath) -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=CORS | {
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "Range",
        "Access-Control-Max-Age": "3600",
    })
