"""Job records in the media-jobs table (and the output-prefix claims kept with them), and the
service's events, committed with the job changes they announce."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, overload

from botocore.exceptions import ClientError

from services.media_jobs import logic
from services.media_jobs.events import job_event
from services.media_jobs.models import JobError, JobStatus, MediaJob, S3Location, Stage, StageRun
from services.media_jobs.store.errors import (
    JobSupersededError,
    LeaseLostError,
    PrefixTakenError,
)
from shared.dynamo import (
    cancellation_reasons,
    condition_failed,
    from_item,
    query_page,
    start_key,
    to_item,
    to_value,
)
from shared.errors import NotFoundError, RegattaError
from shared.events import CloudEvent
from shared.outbox import Outbox

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import (
        DeleteTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

# The service's events: committed with the job change they announce (shared.outbox), published
# to media-events by the relay in the worker process.

LISTING = "job"  # the single partition of the by-created index
INDEX_KEYS = {  # key attribute -> DynamoDB type, per index
    "by-created": {"guid": "S", "listing": "S", "created_at": "S"},
    "by-status": {"guid": "S", "status": "S", "created_at": "S"},
    "by-submitter": {"guid": "S", "submitter_id": "S", "created_at": "S"},
}
# Items of the jobs table that reserve an output folder (their key is never a guid).
CLAIM = "prefix#"
# Commits that lose a race with another transaction on the job (TransactionConflict) go again.
COMMIT_ATTEMPTS = 3


class _JobExistsError(RegattaError):
    """The guid of a job being created is taken."""


def _conflicted(exc: ClientError) -> bool:
    # Cancelled by another transaction on the same items: worth trying again at once.
    return "TransactionConflict" in (cancellation_reasons(exc) or [])


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _job_item(job: MediaJob) -> dict[str, Any]:
    document = job.model_dump(mode="json") | {"listing": LISTING}
    if job.submitted_by is not None:
        document["submitter_id"] = job.submitted_by.id  # the by-submitter index's key
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
    or deleted meanwhile is never overwritten by a stale worker (JobSupersededError). A write
    that announces something (retry requested, completed, failed) commits its event with it
    through the ``outbox``, and can be fenced by the run's lease (`JobLeases.fence`).
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str, *,
                 outbox: Outbox | None = None) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.outbox = outbox

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
        """Store a new job; False when the guid is taken. A job with a custom output prefix
        claims it in the same transaction (PrefixTakenError: see `claim_prefix`)."""
        put: PutTypeDef = {"TableName": self.table, "Item": _job_item(job),
                           "ConditionExpression": "attribute_not_exists(guid)"}
        if job.options.output_prefix is None or job.namespace is None:
            try:
                await self.dynamodb.put_item(**put)
            except ClientError as exc:
                if condition_failed(exc):
                    return False
                raise
            return True
        try:
            await self._claim(job.guid, job.namespace, job.options.output_prefix,
                              with_writes=[{"Put": put}])
        except _JobExistsError:
            return False
        return True

    # --- output prefix claims ---------------------------------------------------------------
    #
    # A custom prefix P (in namespace N) is claimed by job G with one transaction over items
    # keyed "prefix#N/..." in this table: the item of P itself gets claimed_by = G (only if no
    # job claims P and none claims a folder below it: `nested` empty), and the item of each
    # folder above P gets "G|P" added to its `nested` set (only if no job claims that folder).
    # So two live jobs never share a folder, nor nest one's inside the other's; the claim goes
    # with the job's record (`delete`). A job's default folder (its guid) needs no claim:
    # guids are unique and custom prefixes cannot start with one.

    async def claim_prefix(self, job: MediaJob) -> None:
        """Claim ``job``'s custom output prefix (again: claiming one's own claim is a no-op);
        PrefixTakenError when another live job's prefix is, contains or lies inside it."""
        if job.options.output_prefix is not None and job.namespace is not None:
            await self._claim(job.guid, job.namespace, job.options.output_prefix)

    @staticmethod
    def _folders(namespace: str, prefix: str) -> tuple[str, list[str]]:
        """The claim item ids of ``prefix`` and of each folder above it."""
        parts = prefix.split("/")
        above = [f"{CLAIM}{namespace}/{'/'.join(parts[:n])}" for n in range(1, len(parts))]
        return f"{CLAIM}{namespace}/{prefix}", above

    def _claim_writes(self, guid: str, namespace: str,
                      prefix: str) -> list[TransactWriteItemTypeDef]:
        own, above = self._folders(namespace, prefix)
        entry = f"{guid}|{prefix}"
        writes: list[TransactWriteItemTypeDef] = [{"Update": {
            "TableName": self.table, "Key": {"guid": {"S": own}},
            "UpdateExpression": "SET claimed_by = :guid, #path = :path",
            "ConditionExpression": "(attribute_not_exists(claimed_by) OR claimed_by = :guid)"
                                   " AND attribute_not_exists(nested)",
            "ExpressionAttributeNames": {"#path": "path"},
            "ExpressionAttributeValues": {":guid": {"S": guid}, ":path": {"S": prefix}}}}]
        writes += [{"Update": {
            "TableName": self.table, "Key": {"guid": {"S": folder}},
            "UpdateExpression": "ADD nested :entry",
            "ConditionExpression": "attribute_not_exists(claimed_by)",
            "ExpressionAttributeValues": {":entry": {"SS": [entry]}}}} for folder in above]
        return writes

    async def _claim(self, guid: str, namespace: str, prefix: str, *,
                     with_writes: Sequence[TransactWriteItemTypeDef] = ()) -> None:
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            writes = [*with_writes, *self._claim_writes(guid, namespace, prefix)]
            try:
                await self.dynamodb.transact_write_items(TransactItems=writes)
                return
            except ClientError as exc:
                if with_writes and condition_failed(exc, 0):
                    raise _JobExistsError(guid) from None
                if not condition_failed(exc):
                    if attempt == COMMIT_ATTEMPTS or not _conflicted(exc):
                        raise
                    await asyncio.sleep(0.05 * attempt)
                    continue
            holders = await self._holders(guid, namespace, prefix)
            if not holders or not await self._free_stale(namespace, holders) \
                    or attempt == COMMIT_ATTEMPTS:
                raise PrefixTakenError(
                    f"output_prefix {prefix!r} is, contains or is inside the output prefix of "
                    f"job {sorted(holders)[0] if holders else 'another job'}")

    async def _holders(self, guid: str, namespace: str, prefix: str) -> dict[str, str]:
        """The other jobs (guid -> prefix) whose claims stand in the way of ``prefix``."""
        own, above = self._folders(namespace, prefix)
        found: dict[str, str] = {}
        for folder in [own, *above]:
            response = await self.dynamodb.get_item(TableName=self.table,
                                                    Key={"guid": {"S": folder}},
                                                    ConsistentRead=True)
            item = response.get("Item", {})
            if "claimed_by" in item:
                found[item["claimed_by"]["S"]] = item["path"]["S"]
            if folder == own:
                for entry in item.get("nested", {}).get("SS", []):
                    holder, _, path = entry.partition("|")
                    found[holder] = path
        found.pop(guid, None)
        return found

    async def _free_stale(self, namespace: str, holders: dict[str, str]) -> bool:
        """Release the claims of ``holders`` whose job is gone (a pending upload that expired
        and that TTL deleted, or is about to); True if every holder was such a job."""
        for holder, path in holders.items():
            job = await self.find(holder)
            expired = job is not None and job.status is JobStatus.PENDING and (
                job.upload_expires_at is not None
                and job.upload_expires_at + logic.PENDING_GRACE < datetime.now(UTC))
            if job is not None and not expired:
                return False
            writes = await self._release_writes(holder, namespace, path)
            if expired:
                writes.append({"Delete": {"TableName": self.table, "Key": _key(holder),
                                          "ConditionExpression": "#status = :pending",
                                          "ExpressionAttributeNames": {"#status": "status"},
                                          "ExpressionAttributeValues": {
                                              ":pending": {"S": str(JobStatus.PENDING)}}}})
            if writes:
                with contextlib.suppress(ClientError):  # someone else freed it meanwhile
                    await self.dynamodb.transact_write_items(TransactItems=writes)
        return True

    async def _release_writes(self, guid: str, namespace: str,
                              prefix: str) -> list[TransactWriteItemTypeDef]:
        """The writes that give up ``guid``'s claim of ``prefix`` (none if it holds none)."""
        own, above = self._folders(namespace, prefix)
        response = await self.dynamodb.get_item(TableName=self.table, Key={"guid": {"S": own}},
                                                ConsistentRead=True)
        if response.get("Item", {}).get("claimed_by") != {"S": guid}:
            return []
        entry = {"SS": [f"{guid}|{prefix}"]}
        nested: list[TransactWriteItemTypeDef] = [
            {"Update": {"TableName": self.table, "Key": {"guid": {"S": folder}},
                        "UpdateExpression": "DELETE nested :entry",
                        "ConditionExpression": "attribute_exists(guid)",
                        "ExpressionAttributeValues": {":entry": entry}}}
            for folder in above]
        return [{"Delete": {"TableName": self.table, "Key": {"guid": {"S": own}},
                            "ConditionExpression": "claimed_by = :guid",
                            "ExpressionAttributeValues": {":guid": {"S": guid}}}},
                *nested]

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
        """Record that ``stage`` starts (again); the job's status becomes the stage. A run that
        starts a stage was not interrupted (yet): ``interrupted_at`` goes."""
        previous = job.stages.get(stage) or StageRun()
        run = StageRun(started_at=now, runs=previous.runs + 1)
        return await self._update(
            job.guid,
            sets={"status": stage, f"stages.{stage}": run.model_dump(mode="json"),
                  "progress": logic.overall_progress(stage), "updated_at": _stamp(now),
                  "heartbeat_at": _stamp(now)},
            remove=("interrupted_at",),
            condition=self._running(job),
            values=self._attempt(job),
        )

    async def finish_stage(self, job: MediaJob, stage: Stage, fields: dict[str, Any], *,
                           now: datetime, events: Sequence[CloudEvent] = (),
                           fence: TransactWriteItemTypeDef | None = None) -> MediaJob:
        """Record ``stage`` as done with what it found (``fields``), once: a stage that is
        already recorded as done makes this raise JobSupersededError. ``events`` commit with
        it (the outbox), only while ``fence`` (the run's lease) holds."""
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
            values=self._attempt(job), events=events, fence=fence,
            fault=f"media.{stage}.committed",
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

    async def fail(self, job: MediaJob, stage: Stage, message: str, *, now: datetime,
                   events: Sequence[CloudEvent] = (),
                   fence: TransactWriteItemTypeDef | None = None) -> MediaJob:
        """Record the job as failed at ``stage``; ``events`` commit with it (see
        `finish_stage`)."""
        error = JobError(stage=stage, message=message[:2000], at=now)
        return await self._update(
            job.guid,
            sets={"status": JobStatus.ERROR, "error": error.model_dump(mode="json"),
                  "ended_at": _stamp(now), "updated_at": _stamp(now)},
            condition=self._running(job), values=self._attempt(job),
            events=events, fence=fence, fault="media.failed.committed")

    async def request_retry(self, job: MediaJob, stage: Stage, *, now: datetime) -> MediaJob:
        """Make ``job`` (as read) run again from ``stage`` as its next attempt.

        ``media.job.retry.requested`` commits with the change: the uploads queue subscribes to
        it, so the worker runs the attempt even if this process dies right after the commit.
        """
        attempt = job.attempt + 1
        event = job_event(
            job.model_copy(update={"attempt": attempt}), "media.job.retry.requested",
            {"guid": job.guid, "attempt": attempt, "stage": str(stage)})
        return await self._update(
            job.guid,
            sets={"status": stage, "attempt": attempt, "updated_at": _stamp(now),
                  "heartbeat_at": _stamp(now), "progress": logic.overall_progress(stage)},
            remove=("error", "ended_at", "interrupted_at"),
            condition="#attempt = :attempt AND #status = :seen",
            values={**self._attempt(job), ":seen": job.status},
            events=[event], fault="media.retry.committed",
        )

    async def record_interruption(self, job: MediaJob, *, now: datetime) -> None:
        """Count a run of ``job`` that a worker's drain stopped (SIGTERM: deploy, scale-in,
        Spot reclaim); ``interrupted_at`` stays until the next run starts a stage, so the
        DLQ consumer can tell a message whose last delivery was interrupted from a crash."""
        try:
            await self.dynamodb.update_item(
                TableName=self.table, Key=_key(job.guid),
                UpdateExpression="SET interruptions = if_not_exists(interruptions, :zero) + :one,"
                                 " interrupted_at = :now, updated_at = :now",
                ConditionExpression=f"attribute_exists(guid) AND ({self._running(job)})",
                ExpressionAttributeNames={"#attempt": "attempt", "#status": "status"},
                ExpressionAttributeValues={
                    ":zero": to_value(0), ":one": to_value(1), ":now": to_value(_stamp(now)),
                    **{k: to_value(str(v)) if isinstance(v, StrEnum) else to_value(v)
                       for k, v in self._attempt(job).items()}})
        except ClientError as exc:
            if condition_failed(exc):
                raise JobSupersededError(f"job {job.guid} changed under the workflow") from None
            raise

    async def delete(self, job: MediaJob) -> None:
        """Delete a job record as read (NotFoundError if gone, ConflictError-free: a record
        changed meanwhile is deleted only if its attempt is the same), and with it, in one
        transaction, its claim of its output prefix."""
        delete: DeleteTypeDef = {"TableName": self.table, "Key": _key(job.guid),
                  "ConditionExpression": "attribute_exists(guid) AND #attempt = :attempt",
                  "ExpressionAttributeNames": {"#attempt": "attempt"},
                  "ExpressionAttributeValues": {":attempt": to_value(job.attempt)}}
        release: list[TransactWriteItemTypeDef] = []
        if job.options.output_prefix is not None and job.namespace is not None:
            release = await self._release_writes(job.guid, job.namespace,
                                                 job.options.output_prefix)
        try:
            if release:
                await self.dynamodb.transact_write_items(
                    TransactItems=[{"Delete": delete}, *release])
            else:
                await self.dynamodb.delete_item(**delete)
        except ClientError as exc:
            if condition_failed(exc):
                raise NotFoundError(f"job {job.guid} does not exist") from None
            raise

    async def list_page(
        self, status: JobStatus | None, *, limit: int, after: dict[str, Any] | None,
        submitter: str | None = None,
    ) -> tuple[list[MediaJob], dict[str, Any] | None]:
        """One page of jobs, newest first, from an index (no scan): one submitter's
        (``submitter``, their user id) or everyone's."""
        index = "by-submitter" if submitter else "by-status" if status else "by-created"
        known = ({"submitter_id": submitter} if submitter
                 else {"status": str(status)} if status else {})
        key = start_key(after, INDEX_KEYS[index], partition=known)
        partition, value = (("submitter_id", submitter) if submitter
                            else ("#status", status) if status else ("listing", LISTING))
        # Pending uploads whose URL expired are gone for clients (TTL deletes lazily).
        filters = "(attribute_not_exists(expires_at) OR expires_at > :now)"
        values = {":partition": to_value(str(value)), ":now": to_value(int(time.time()))}
        if submitter and status:
            filters += " AND #status = :status"
            values[":status"] = to_value(str(status))
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{partition} = :partition",
            "FilterExpression": filters,
            "ExpressionAttributeValues": values,
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

    @overload
    async def _update(
        self, guid: str, *, sets: dict[str, Any], condition: str,
        values: dict[str, Any], names: dict[str, str] | None = None,
        remove: Sequence[str] = (), returns: Literal["ALL_NEW"] = "ALL_NEW",
        events: Sequence[CloudEvent] = (), fence: TransactWriteItemTypeDef | None = None,
        fault: str | None = None,
    ) -> MediaJob: ...
    @overload
    async def _update(
        self, guid: str, *, sets: dict[str, Any], condition: str,
        values: dict[str, Any], names: dict[str, str] | None = None,
        remove: Sequence[str] = (), returns: Literal["NONE"],
        events: Sequence[CloudEvent] = (), fence: TransactWriteItemTypeDef | None = None,
        fault: str | None = None,
    ) -> None: ...
    async def _update(
        self, guid: str, *, sets: dict[str, Any], condition: str,
        values: dict[str, Any], names: dict[str, str] | None = None,
        remove: Sequence[str] = (), returns: Literal["ALL_NEW", "NONE"] = "ALL_NEW",
        events: Sequence[CloudEvent] = (), fence: TransactWriteItemTypeDef | None = None,
        fault: str | None = None,
    ) -> MediaJob | None:
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
        update: UpdateTypeDef = {
            "TableName": self.table, "Key": _key(guid), "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {k: v for k, v in aliases.items() if k in used},
            "ExpressionAttributeValues": {k: to_value(str(v) if isinstance(v, StrEnum) else v)
                                          for k, v in bound.items() if k in used}}
        if events or fence:
            await self._commit(guid, update, events, fence, fault)
            found = await self.find(guid) if returns == "ALL_NEW" else None
            if returns == "ALL_NEW" and found is None:
                raise JobSupersededError(f"job {guid} is gone")
            return found
        try:
            response = await self.dynamodb.update_item(**update, ReturnValues=returns)
        except ClientError as exc:
            if condition_failed(exc):
                raise JobSupersededError(f"job {guid} changed under the workflow") from None
            raise
        return _job(response["Attributes"]) if returns == "ALL_NEW" else None

    async def _commit(self, guid: str, update: UpdateTypeDef, events: Sequence[CloudEvent],
                      fence: TransactWriteItemTypeDef | None, fault: str | None) -> None:
        """The update, the lease check and the events in one transaction (the outbox)."""
        if self.outbox is None:
            raise RuntimeError("this JobStore has no outbox: it cannot commit events")
        writes: list[TransactWriteItemTypeDef] = [{"Update": update}, *([fence] if fence else [])]
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                await self.outbox.commit(writes, events, fault=fault)
                return
            except ClientError as exc:
                if fence and condition_failed(exc, 1):
                    raise LeaseLostError(f"job {guid}: the run lost its lease") from None
                if condition_failed(exc):
                    raise JobSupersededError(f"job {guid} changed under the workflow") from None
                if attempt == COMMIT_ATTEMPTS or not _conflicted(exc):
                    raise
                await asyncio.sleep(0.05 * attempt)
