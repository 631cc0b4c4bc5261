"""DynamoDB and S3 access for media jobs: job records, job leases, source and output buckets."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from services.media_jobs import logic
from services.media_jobs.encode import CMAF_DIR, DASH_DIR, HLS_DIR, THUMBNAILS_DIR, content_type
from services.media_jobs.models import (
    JobError,
    JobStatus,
    MediaJob,
    MultipartUpload,
    PresignedRequest,
    S3Location,
    Stage,
    StageRun,
    UploadPart,
)
from services.media_jobs.options import ArchiveClass
from shared.dynamo import CursorError, from_item, query_page, start_key, to_item, to_value
from shared.errors import NotFoundError, ProblemError

LISTING = "job"  # the single partition of the by-created index
INDEX_KEYS = {  # key attribute -> DynamoDB type, per index
    "by-created": {"guid": "S", "listing": "S", "created_at": "S"},
    "by-status": {"guid": "S", "status": "S", "created_at": "S"},
}
ARCHIVE_TAG = "archive"
OUTPUT_DIRS = (CMAF_DIR, HLS_DIR, DASH_DIR, THUMBNAILS_DIR)
CHUNK_BYTES = 1024 * 1024


class JobSupersededError(Exception):
    """The job record changed under a running workflow (retried, deleted or finished)."""


class SourceTooLargeError(ValueError):
    """An object is larger than the service accepts."""


def _condition_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in (
        "ConditionalCheckFailedException", "TransactionCanceledException")


def _not_found(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _job_item(job: MediaJob) -> dict[str, Any]:
    document = job.model_dump(mode="json") | {"listing": LISTING}
    if job.upload_expires_at is not None:
        # TTL of a pending record (lazy in AWS, ignored by the emulator; code checks too).
        expiry = job.upload_expires_at + logic.PENDING_GRACE
        document["expires_at"] = int(expiry.timestamp())
    return to_item(document)


def _job(item: dict[str, Any]) -> MediaJob:
    return MediaJob.model_validate(from_item(item))


def _key(guid: str) -> dict[str, Any]:
    # Guids are canonical UUIDs; anything else names no job (and might not be a valid key).
    if not logic.is_guid(guid):
        raise NotFoundError(f"job {guid[:64]} does not exist")
    return {"guid": {"S": guid}}


class JobStore:
    """Job records in the media-jobs table, keyed by guid.

    Every write a workflow makes is conditional on the attempt it runs for, so a job retried
    or deleted meanwhile is never overwritten by a stale worker (JobSupersededError).
    """

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    async def get(self, guid: str) -> MediaJob:
        """The job, or NotFoundError (also for a pending upload whose URL expired)."""
        job = await self.find(guid)
        if job is None or (job.upload_expires_at and job.status is JobStatus.PENDING
                           and job.upload_expires_at + logic.PENDING_GRACE < datetime.now(UTC)):
            raise NotFoundError(f"job {guid} does not exist")
        return job

    async def find(self, guid: str, *, consistent: bool = True) -> MediaJob | None:
        response = await self.dynamodb.get_item(TableName=self.table, Key=_key(guid),
                                                ConsistentRead=consistent)
        return _job(response["Item"]) if "Item" in response else None

    async def create(self, job: MediaJob) -> bool:
        """Store a new job; False when the guid is taken."""
        try:
            await self.dynamodb.put_item(TableName=self.table, Item=_job_item(job),
                                         ConditionExpression="attribute_not_exists(guid)")
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    async def adopt_upload(self, guid: str, source: S3Location, *, now: datetime) -> bool:
        """Start the pending job whose upload just arrived; False if it is not pending for
        exactly this key (already started, or someone else's object)."""
        try:
            await self._update(
                guid,
                sets={"status": JobStatus.INGEST, "trigger": "video",
                      "source": source.model_dump(mode="json"), "started_at": _stamp(now),
                      "updated_at": _stamp(now), "heartbeat_at": _stamp(now)},
                remove=("expires_at", "upload_expires_at"),
                condition="#status = :pending AND #source.#key = :key",
                names={"#key": "key"},
                values={":pending": JobStatus.PENDING, ":key": source.key},
            )
        except JobSupersededError:
            return False
        return True

    async def begin_stage(self, job: MediaJob, stage: Stage, *, now: datetime) -> MediaJob:
        """Record that ``stage`` starts (again); the job's status becomes the stage."""
        previous = job.stages.get(stage) or StageRun()
        run = StageRun(started_at=now, runs=previous.runs + 1)
        return await self._update(
            job.guid,
            sets={"status": stage, f"stages.{stage}": run.model_dump(mode="json"),
                  "progress": logic.overall_progress(stage), "updated_at": _stamp(now),
                  "heartbeat_at": _stamp(now)},
            condition=self._running(job),
            values=self._attempt(job),
        )

    async def finish_stage(self, job: MediaJob, stage: Stage, fields: dict[str, Any], *,
                           now: datetime) -> MediaJob:
        """Record ``stage`` as done with what it found (``fields``), once: a stage that is
        already recorded as done makes this raise JobSupersededError."""
        run = job.stages.get(stage) or StageRun(started_at=now, runs=1)
        seconds = round((now - (run.started_at or now)).total_seconds(), 3)
        following = logic.next_stage(stage)
        sets: dict[str, Any] = {
            f"stages.{stage}.completed_at": _stamp(now),
            f"stages.{stage}.seconds": seconds,
            "updated_at": _stamp(now),
        }
        if following is None:
            sets |= {"status": JobStatus.COMPLETE, "progress": 100, "ended_at": _stamp(now)}
        else:
            sets |= {"status": following, "progress": logic.overall_progress(following)}
        sets |= fields
        return await self._update(
            job.guid, sets=sets,
            condition=f"{self._running(job)} AND attribute_not_exists(#stages.#s.completed_at)",
            names={"#stages": "stages", "#s": str(stage)},
            values=self._attempt(job),
        )

    async def set_progress(self, job: MediaJob, progress: int, *, now: datetime) -> None:
        await self._update(
            job.guid, sets={"progress": progress, "updated_at": _stamp(now),
                            "heartbeat_at": _stamp(now)},
            condition=self._running(job), values=self._attempt(job), returns="NONE")

    async def heartbeat(self, job: MediaJob, *, now: datetime) -> None:
        await self._update(job.guid, sets={"heartbeat_at": _stamp(now)},
                           condition=self._running(job), values=self._attempt(job),
                           returns="NONE")

    async def fail(self, job: MediaJob, stage: Stage, message: str, *,
                   now: datetime) -> MediaJob:
        """Record the job as failed at ``stage``."""
        error = JobError(stage=stage, message=message[:2000], at=now)
        return await self._update(
            job.guid,
            sets={"status": JobStatus.ERROR, "error": error.model_dump(mode="json"),
                  "ended_at": _stamp(now), "updated_at": _stamp(now)},
            condition=self._running(job), values=self._attempt(job))

    async def request_retry(self, job: MediaJob, stage: Stage, *, now: datetime) -> MediaJob:
        """Make ``job`` (as read) run again from ``stage`` as its next attempt."""
        return await self._update(
            job.guid,
            sets={"status": stage, "attempt": job.attempt + 1, "updated_at": _stamp(now),
                  "heartbeat_at": _stamp(now), "progress": logic.overall_progress(stage)},
            remove=("error", "ended_at"),
            condition="#attempt = :attempt AND #status = :seen",
            values={**self._attempt(job), ":seen": job.status},
        )

    async def delete(self, job: MediaJob) -> None:
        """Delete a job record as read (NotFoundError if gone, ConflictError-free: a record
        changed meanwhile is deleted only if its attempt is the same)."""
        try:
            await self.dynamodb.delete_item(
                TableName=self.table, Key=_key(job.guid),
                ConditionExpression="attribute_exists(guid) AND #attempt = :attempt",
                ExpressionAttributeNames={"#attempt": "attempt"},
                ExpressionAttributeValues={":attempt": to_value(job.attempt)})
        except ClientError as exc:
            if _condition_failed(exc):
                raise NotFoundError(f"job {job.guid} does not exist") from None
            raise

    async def list_page(
        self, status: JobStatus | None, *, limit: int, after: dict[str, Any] | None
    ) -> tuple[list[MediaJob], dict[str, Any] | None]:
        """One page of jobs, newest first, from an index (no scan)."""
        index = "by-status" if status else "by-created"
        key = start_key(after, set(INDEX_KEYS[index]))
        if key and any(set(key[name]) != {kind} for name, kind in INDEX_KEYS[index].items()):
            raise CursorError("cursor is not valid for this listing")
        if key and status and key["status"] != {"S": str(status)}:
            raise CursorError("cursor is not valid for this listing")
        partition, value = ("#status", status) if status else ("listing", LISTING)
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{partition} = :partition",
            # Pending uploads whose URL expired are gone for clients (TTL deletes lazily).
            "FilterExpression": "attribute_not_exists(expires_at) OR expires_at > :now",
            "ExpressionAttributeValues": {":partition": to_value(str(value)),
                                          ":now": to_value(int(time.time()))},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status:
            request["ExpressionAttributeNames"] = {"#status": "status"}
        items, last_key = await query_page(self.dynamodb, request, key)
        return [_job(i) for i in items], last_key

    @staticmethod
    def _running(job: MediaJob) -> str:
        del job
        return "#attempt = :attempt AND NOT (#status IN (:complete, :error, :pending))"

    @staticmethod
    def _attempt(job: MediaJob) -> dict[str, Any]:
        return {":attempt": job.attempt, ":complete": JobStatus.COMPLETE,
                ":error": JobStatus.ERROR, ":pending": JobStatus.PENDING}

    async def _update(
        self, guid: str, *, sets: dict[str, Any], condition: str,
        values: dict[str, Any], names: dict[str, str] | None = None,
        remove: Sequence[str] = (), returns: str = "ALL_NEW",
    ) -> MediaJob:
        aliases = {"#status": "status", "#attempt": "attempt", "#source": "source",
                   **(names or {})}
        bound = dict(values)
        assignments = []
        for i, (path, value) in enumerate(sets.items()):
            parts = []
            for part in path.split("."):
                aliases[f"#{part.replace('_', '')}"] = part
                parts.append(f"#{part.replace('_', '')}")
            bound[f":v{i}"] = value
            assignments.append(f"{'.'.join(parts)} = :v{i}")
        expression = "SET " + ", ".join(assignments)
        if remove:
            aliases |= {f"#{n.replace('_', '')}": n for n in remove}
            expression += " REMOVE " + ", ".join(f"#{n.replace('_', '')}" for n in remove)
        condition = f"attribute_exists(guid) AND ({condition})"
        # DynamoDB refuses names and values the expressions do not use.
        used = set(re.findall(r"[#:]\w+", f"{expression} {condition}"))
        try:
            response = await self.dynamodb.update_item(
                TableName=self.table, Key=_key(guid), UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in aliases.items() if k in used},
                ExpressionAttributeValues={k: to_value(str(v) if isinstance(v, StrEnum) else v)
                                           for k, v in bound.items() if k in used},
                ReturnValues=returns)
        except ClientError as exc:
            if _condition_failed(exc):
                raise JobSupersededError(f"job {guid} changed under the workflow") from None
            raise
        return _job(response["Attributes"]) if returns == "ALL_NEW" else None  # type: ignore[return-value]


class JobLeases:
    """One workflow run per job at a time, in the service's idempotency table.

    A lease belongs to the SQS message that runs the job and lasts ``seconds`` unless renewed.
    The same message, redelivered after its worker died, takes its lease back at once;
    another message (a duplicate notification) waits until the lease has expired::

        acquire   put if  no lease | lease expired | owner = this message
        renew     owner = this message   -> lease_until := now + seconds
        release   delete if owner = this message
    """

    def __init__(self, dynamodb: Any, table: str, *, seconds: int) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.seconds = seconds

    @staticmethod
    def _id(guid: str) -> dict[str, Any]:
        return {"S": f"media-job-lease:{guid}"}

    async def acquire(self, guid: str, owner: str) -> bool:
        """Take the job's lease for ``owner``; False while another owner holds it."""
        now = int(time.time())
        try:
            await self.dynamodb.put_item(
                TableName=self.table,
                Item={"id": self._id(guid), "owner": {"S": owner},
                      "lease_until": {"N": str(now + self.seconds)},
                      "expires_at": {"N": str(now + 7 * 24 * 3600)}},
                ConditionExpression="attribute_not_exists(id) OR lease_until < :now"
                                    " OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":owner": {"S": owner}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    async def renew(self, guid: str, owner: str) -> bool:
        """Extend ``owner``'s lease; False if it is no longer theirs."""
        try:
            await self.dynamodb.update_item(
                TableName=self.table, Key={"id": self._id(guid)},
                UpdateExpression="SET lease_until = :until",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":until": {"N": str(int(time.time()) + self.seconds)},
                                           ":owner": {"S": owner}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    async def release(self, guid: str, owner: str) -> None:
        """Give the lease up (if it is still ``owner``'s)."""
        try:
            await self.dynamodb.delete_item(
                TableName=self.table, Key={"id": self._id(guid)},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise


class SourceBucket:
    """The bucket videos and metadata files are uploaded to."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    async def head(self, key: str) -> S3Location | None:
        """The object's location with ETag and size, None if it does not exist."""
        try:
            head = await self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return S3Location(bucket=self.bucket, key=key, etag=head.get("ETag", "").strip('"'),
                          size=head.get("ContentLength"))

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        """A small object's bytes; None if it does not exist; SourceTooLargeError if big."""
        try:
            response = await self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        async with response["Body"] as body:
            if response.get("ContentLength", 0) > max_bytes:
                raise SourceTooLargeError(f"{key} is larger than {max_bytes} bytes")
            return bytes(await body.read())

    async def download(self, key: str, target: Path) -> int:
        """Stream an object to a local file; returns its size."""
        response = await self.s3.get_object(Bucket=self.bucket, Key=key)
        size = 0
        async with response["Body"] as body:
            with target.open("wb") as out:
                async for chunk in body.iter_chunks(CHUNK_BYTES):
                    await asyncio.to_thread(out.write, chunk)
                    size += len(chunk)
        return size

    async def tag_for_archive(self, key: str, storage_class: ArchiveClass) -> None:
        """Tag the object so the bucket's lifecycle rule moves it to ``storage_class``."""
        tags = (await self.s3.get_object_tagging(Bucket=self.bucket, Key=key))["TagSet"]
        tags = [t for t in tags if t["Key"] != ARCHIVE_TAG]
        tags.append({"Key": ARCHIVE_TAG, "Value": str(storage_class)})
        await self.s3.put_object_tagging(Bucket=self.bucket, Key=key, Tagging={"TagSet": tags})

    async def presigned_put(self, key: str, content_type: str, *, size: int,
                            expires: int) -> str:
        """A PUT URL signed (SigV4) with the Content-Type and a Content-Length of ``size``:
        S3 refuses a body of any other size."""
        return str(await self.s3.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type,
                                  "ContentLength": size},
            ExpiresIn=expires))

    async def multipart_plan(self, key: str, content_type: str, *, size: int, part_bytes: int,
                             expires: int) -> MultipartUpload:
        """Start a multipart upload and presign every request the client needs: one PUT per
        part, each signed with its exact Content-Length, so the parts add up to ``size``."""
        started = await self.s3.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                        ContentType=content_type)
        upload_id = started["UploadId"]
        part_size, count = logic.multipart_parts(size, part_bytes)
        target = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}

        async def sign(operation: str, **params: Any) -> str:
            return str(await self.s3.generate_presigned_url(
                operation, Params=target | params, ExpiresIn=expires))

        lengths = [min(part_size, size - (n - 1) * part_size) for n in range(1, count + 1)]
        parts = [UploadPart(method="PUT", part_number=n, content_length=length,
                            url=await sign("upload_part", PartNumber=n, ContentLength=length))
                 for n, length in enumerate(lengths, start=1)]
        return MultipartUpload(
            upload_id=upload_id, part_size=part_size, parts=parts,
            complete=PresignedRequest(method="POST",
                                      url=await sign("complete_multipart_upload"),
                                      headers={"Content-Type": "application/xml"}),
            abort=PresignedRequest(method="DELETE", url=await sign("abort_multipart_upload")),
        )


@dataclass
class OutputObject:
    """An output file opened for streaming."""

    status: int
    headers: dict[str, str]
    body: Any | None

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.body is None:
            return
        async with self.body as body:
            async for chunk in body.iter_chunks(64 * 1024):
                yield chunk


class S3Outputs:
    """`checks.OutputStore` over one job's prefix in the output bucket (HEAD and GET)."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}"

    async def size(self, path: str) -> int | None:
        """Size in bytes, None when the file does not exist."""
        try:
            head = await self.s3.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def read(self, path: str) -> bytes:
        """The whole file."""
        response = await self.s3.get_object(Bucket=self.bucket, Key=self._key(path))
        async with response["Body"] as body:
            return bytes(await body.read())


class OutputBucket:
    """The bucket encoded outputs are published from (through CloudFront in AWS)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def outputs(self, prefix: str) -> S3Outputs:
        return S3Outputs(self.s3, self.bucket, prefix)

    async def upload(self, root: Path, prefix: str, files: Sequence[str], *,
                     concurrency: int = 8) -> int:
        """Upload ``files`` (relative to ``root``) under ``prefix``; returns the bytes sent."""
        limit = asyncio.Semaphore(concurrency)

        async def one(path: str) -> int:
            async with limit:
                data = await asyncio.to_thread((root / path).read_bytes)
                await self.s3.put_object(Bucket=self.bucket, Key=f"{prefix}/{path}", Body=data,
                                         ContentType=content_type(path))
                return len(data)

        # Manifests last: a player never finds a playlist whose segments are still missing.
        manifests = [f for f in files if f.endswith((".m3u8", ".mpd"))]
        media = [f for f in files if f not in manifests]
        sent = sum(await asyncio.gather(*(one(p) for p in media)))
        return sent + sum(await asyncio.gather(*(one(p) for p in manifests)))

    async def delete_outputs(self, prefix: str) -> int:
        """Delete what a job writes under ``prefix`` (its layout's folders only); returns the
        number of objects deleted."""
        paginator = self.s3.get_paginator("list_objects_v2")
        deleted = 0
        for folder in OUTPUT_DIRS:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{prefix}/{folder}/"):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    await self.s3.delete_objects(Bucket=self.bucket,
                                                 Delete={"Objects": keys, "Quiet": True})
                    deleted += len(keys)
        return deleted

    async def open(self, key: str, *, head: bool, byte_range: str | None) -> OutputObject:
        """An output file for the pass-through route; NotFoundError if there is none."""
        if not key.strip("/"):
            raise NotFoundError("no output here")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if byte_range and not head:
            params["Range"] = byte_range
        try:
            response = await (self.s3.head_object(**params) if head
                              else self.s3.get_object(**params))
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if _not_found(exc) or code in ("KeyTooLongError", "InvalidArgument", "400"):
                raise NotFoundError(f"no output {key[:200]}") from None
            if code == "InvalidRange":
                raise RangeNotSatisfiableError("the range is outside the file") from None
            raise
        headers = {
            "Content-Type": response.get("ContentType") or content_type(key),
            "Content-Length": str(response["ContentLength"]),
            "Accept-Ranges": "bytes",
        }
        if response.get("ETag"):
            headers["ETag"] = response["ETag"]
        if response.get("ContentRange"):
            headers["Content-Range"] = response["ContentRange"]
        status = 206 if response.get("ContentRange") else 200
        return OutputObject(status, headers, None if head else response["Body"])


class RangeNotSatisfiableError(ProblemError):
    """The Range header names bytes the file does not have (HTTP 416)."""

    status = 416
    title = "Range Not Satisfiable"


class RetryQueue:
    """Sends retry commands to the uploads queue, where the worker picks them up."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    async def send(self, command: logic.RetryCommand) -> None:
        await self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=command.to_json())
