"""DynamoDB access for meetings and for the conversations that request them."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError
from cachetools import LRUCache
from pydantic import ValidationError

from services.meetings import logic, mail_cap
from services.meetings.dialog import Session
from services.meetings.events import MEETING_EVENTS
from services.meetings.models import CalendarLink, Meeting, MeetingStatus, utc_text
from shared.dynamo import (
    all_items,
    cancellation_reasons,
    condition_failed,
    from_item,
    id_key,
    query_page,
    start_key,
    to_item,
    to_value,
)
from shared.errors import ConflictError, NotFoundError, RetryableError
from shared.logging import get_logger
from shared.outbox import Outbox

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import (
        PutTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

log = get_logger("meetings.store")

# The event each admin decision commits with it.
DECIDED = {
    MeetingStatus.approved: "meeting.approved",
    MeetingStatus.rejected: "meeting.rejected",
    MeetingStatus.cancelled: "meeting.cancelled",
}

STATUS_INDEX = "by-status"
INDEX_KEYS = {"id", "status", "start"}
# One item beside the meetings, outside the status index (it has no status), that every
# approval bumps; see MeetingStore.approve.
APPROVALS_GUARD = {"id": {"S": "approvals-guard"}}
APPROVE_ATTEMPTS = 5
# "status" and "end" are DynamoDB reserved words.
NAMES = {"#status": "status", "#start": "start", "#end": "end"}


def _meeting_item(meeting: Meeting) -> dict[str, Any]:
    return to_item(meeting.model_dump(mode="json"))


def _meeting(item: dict[str, Any]) -> Meeting:
    return Meeting.model_validate(from_item(item))


def _key(meeting_id: str) -> dict[str, Any]:
    return id_key(meeting_id, "meeting")


class MeetingStore:
    """Meeting requests, in the service's meetings table and its by-status index; every
    decision commits its ``meeting.*`` event with it (the outbox)."""

    def __init__(self, dynamodb: DynamoDBClient, *, meetings_table: str, outbox: Outbox) -> None:
        self.dynamodb = dynamodb
        self.meetings_table = meetings_table
        self.outbox = outbox

    async def get(self, meeting_id: str) -> Meeting:
        """The meeting, or NotFoundError."""
        response = await self.dynamodb.get_item(
            TableName=self.meetings_table, Key=_key(meeting_id), ConsistentRead=True
        )
        if "Item" not in response:
            raise NotFoundError(f"meeting {meeting_id} does not exist")
        return _meeting(response["Item"])

    async def page(
        self, status: MeetingStatus, *, since: datetime | None, until: datetime | None,
        limit: int, after: dict[str, Any] | None,
    ) -> tuple[list[Meeting], dict[str, Any] | None]:
        """One page of the meetings in ``status`` starting in [since, until), in start order."""
        key = start_key(after, INDEX_KEYS, partition={"status": status.value})
        request = self._range_query(status, since, until)
        request["Limit"] = limit
        items, last_key = await query_page(self.dynamodb, request, key)
        return [_meeting(i) for i in items], last_key

    async def all_in(
        self, status: MeetingStatus, *, since: datetime | None, until: datetime | None
    ) -> list[Meeting]:
        """Every meeting in ``status`` starting in [since, until), in start order."""
        items = await all_items(self.dynamodb.query, self._range_query(status, since, until))
        return [_meeting(i) for i in items]

    async def approved_times(
        self, since: datetime, until: datetime
    ) -> list[tuple[datetime, datetime]]:
        """(start, end) of the approved meetings starting in [since, until): the chat's busy
        lookup, so only the two attributes travel."""
        request = self._range_query(MeetingStatus.approved, since, until,
                                    projection="#start, #end")
        return [(datetime.fromisoformat(i["start"]["S"]), datetime.fromisoformat(i["end"]["S"]))
                for i in await all_items(self.dynamodb.query, request)]

    def _range_query(
        self, status: MeetingStatus, since: datetime | None, until: datetime | None,
        *, projection: str | None = None,
    ) -> dict[str, Any]:
        condition = "#status = :status"
        values = {":status": {"S": status.value}}
        # Starts are stored to the second, so "before until" is "at most until - 1 s".
        last = utc_text(logic.shifted(until, -timedelta(seconds=1))) if until else None
        if since and last:
            condition += " AND #start BETWEEN :since AND :last"
            values |= {":since": {"S": utc_text(since)}, ":last": {"S": last}}
        elif since:
            condition += " AND #start >= :since"
            values[":since"] = {"S": utc_text(since)}
        elif last:
            condition += " AND #start <= :last"
            values[":last"] = {"S": last}
        request: dict[str, Any] = {
            "TableName": self.meetings_table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if projection:
            request["ProjectionExpression"] = projection
        # DynamoDB refuses names that no expression uses.
        used = f"{condition} {projection or ''}"
        request["ExpressionAttributeNames"] = {k: v for k, v in NAMES.items() if k in used}
        return request

    async def move(self, meeting: Meeting, target: MeetingStatus, *, now: datetime) -> Meeting:
        """Move a meeting to ``target`` if it is still in the status it was read in; its
        ``meeting.<target>`` event commits with the move.

        Never creates a record: an id that does not exist is NotFoundError. A meeting that
        moved meanwhile is ConflictError with the moves allowed from where it is now.
        """
        changed = logic.moved(meeting, target, now=now)
        update = self._move(meeting, changed)
        try:
            decided = MEETING_EVENTS.event(DECIDED[target], changed, subject=changed.id)
            await self.outbox.commit([update], [decided], fault="meetings.decide.committed")
        except ClientError as exc:
            if condition_failed(exc, 0):
                await self._explain_refusal(meeting.id, target)
            raise
        # Statuses never return to an earlier one, so the status condition also means nothing
        # else moved since the read: `changed` is what the table now holds.
        return changed

    async def approve(
        self, meeting: Meeting, *, now: datetime, lookback: timedelta,
        ensure_free: Callable[[Meeting, list[Meeting]], None],
    ) -> Meeting:
        """Approve a pending meeting unless ``ensure_free`` refuses the approved ones near it.

        Two approvals racing for the same time must not both pass, so each one is a
        transaction that also bumps a single guard item, conditional on the guard's value
        read before the overlap check::

            read guard (g) ──► query approved starting in [start - lookback, end) ──► clash? 409
            TransactWrite  [0] meeting  status := approved   IF status = pending
                           [1] guard    version := g + 1     IF version = g
                           [2] outbox   meeting.approved
            [1] refused: an approval landed after our check: read and check again
            [0] refused: the meeting itself moved or vanished: 404 / 409 as for any move

        ``lookback`` is the longest a meeting can last: an earlier start cannot overlap.
        """
        approved = logic.moved(meeting, MeetingStatus.approved, now=now)
        for _ in range(APPROVE_ATTEMPTS):
            guard = await self._guard_version()
            near = await self.all_in(MeetingStatus.approved,
                                     since=logic.shifted(meeting.start, -lookback),
                                     until=meeting.end)
            ensure_free(meeting, near)
            bump: UpdateTypeDef = {
                "TableName": self.meetings_table,
                "Key": APPROVALS_GUARD,
                "UpdateExpression": "SET version = :next",
                "ConditionExpression": "version = :seen" if guard
                else "attribute_not_exists(version)",
                "ExpressionAttributeValues": {":next": to_value(guard + 1)}
                | ({":seen": to_value(guard)} if guard else {}),
            }
            try:
                await self.outbox.commit([
                    self._move(meeting, approved),
                    {"Update": bump},
                ], [MEETING_EVENTS.event(DECIDED[MeetingStatus.approved], approved,
                                         subject=approved.id)],
                    fault="meetings.decide.committed")
            except ClientError as exc:
                if condition_failed(exc, 0):
                    await self._explain_refusal(meeting.id, MeetingStatus.approved)
                if condition_failed(exc, 1):
                    continue
                raise
            return approved
        raise ConflictError("many approvals are happening at once; try again",
                            headers={"Retry-After": "1"})

    async def _guard_version(self) -> int:
        response = await self.dynamodb.get_item(
            TableName=self.meetings_table, Key=APPROVALS_GUARD, ConsistentRead=True
        )
        return int(from_item(response.get("Item", {})).get("version", 0))

    def _move(self, current: Meeting, changed: Meeting) -> TransactWriteItemTypeDef:
        return {"Update": {
            "TableName": self.meetings_table,
            "Key": _key(current.id),
            "UpdateExpression": "SET #status = :to, version = :version, updated_at = :now",
            "ConditionExpression": "attribute_exists(id) AND #status = :from",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":to": to_value(changed.status.value),
                ":from": to_value(current.status.value),
                ":version": to_value(changed.version),
                ":now": to_value(utc_text(changed.updated_at)),
            },
        }}

    async def _explain_refusal(self, meeting_id: str, target: MeetingStatus) -> None:
        """Raise the 404 or 409 a refused conditional move means."""
        current = await self.get(meeting_id)
        logic.ensure_transition(current, target)
        raise ConflictError("the meeting changed meanwhile; fetch it again")


@dataclass(frozen=True)
class Conversation:
    """One chat's stored state; ``version`` 0 means it is not stored yet. ``remembered``: read
    from this process's memory rather than the table (see ConversationStore)."""

    id: str
    session: Session
    timezone: str
    version: int = 0
    remembered: bool = False


class StaleConversationError(RetryableError):
    """A remembered conversation was saved meanwhile by another process or message: run the
    turn again from the table."""


def _conversation_key(conversation_id: str) -> dict[str, Any]:
    # The table keeps a hash of the id, never the id itself: whoever can read the table
    # still cannot take over somebody's conversation.
    return {"id": {"S": hashlib.sha256(conversation_id.encode()).hexdigest()}}


class ConversationStore:
    """Chat sessions with an idle expiry (TTL attribute ``expires_at``, also checked here).

    The last state this process saved of each conversation is kept in memory (up to
    ``remember`` conversations, least recently used first out), so a conversation whose next
    message comes back to this process is not read again: one DynamoDB read less per turn.
    The save stays conditional on the version, so when another process (or another message of
    the conversation) saved meanwhile, the save raises StaleConversationError and the caller runs
    the turn again from the table. A remembered state is taken out while its turn runs and
    put back only once the new state is saved, so a failed turn never leaves a changed
    session behind.
    """

    def __init__(self, dynamodb: DynamoDBClient, *, sessions_table: str, meetings_table: str,
                 outbox: Outbox, remember: int = 10_000) -> None:
        self.dynamodb = dynamodb
        self.sessions_table = sessions_table
        self.meetings_table = meetings_table
        self.outbox = outbox
        self._remembered: LRUCache[str, tuple[Conversation, int]] | None = (
            LRUCache(maxsize=remember) if remember else None)

    async def load(self, conversation_id: str, *, now: datetime,
                   fresh: bool = False) -> Conversation | None:
        """The conversation, or None when there is none (or it expired) under this id;
        ``fresh`` reads the table even when this process remembers the conversation."""
        if self._remembered is not None:
            remembered = self._remembered.pop(conversation_id, None)
            if remembered and not fresh:
                conversation, expires_at = remembered
                return conversation if expires_at > now.timestamp() else None
        response = await self.dynamodb.get_item(
            TableName=self.sessions_table, Key=_conversation_key(conversation_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        # DynamoDB's TTL deletes lazily (up to days late), so expiry is checked here too.
        if item is None or int(item["expires_at"]["N"]) <= now.timestamp():
            return None
        try:
            session = Session.model_validate_json(item["session"]["S"])
        except ValidationError:
            # Written by a release whose dialog state had another shape: start over rather
            # than fail every message of the conversation until it expires.
            log.warning("conversation.unreadable", version=item["version"]["N"])
            return None
        return Conversation(id=conversation_id, session=session,
                            timezone=item["timezone"]["S"], version=int(item["version"]["N"]))

    async def save(
        self, conversation: Conversation, *, expires_at: datetime, request: Meeting | None = None
    ) -> None:
        """Store the conversation's new state, and the meeting it requested if any with its
        ``meeting.requested`` event, atomically.

        Conditional on the version it was loaded at: of two turns of one conversation
        handled at once, the second to finish is refused with ConflictError.
        """
        item = {
            **_conversation_key(conversation.id),
            "session": {"S": conversation.session.model_dump_json()},
            "timezone": {"S": conversation.timezone},
            "version": to_value(conversation.version + 1),
            "expires_at": to_value(int(expires_at.timestamp())),
        }
        put: PutTypeDef = {"TableName": self.sessions_table, "Item": item}
        if conversation.version:
            put["ConditionExpression"] = "version = :loaded"
            put["ExpressionAttributeValues"] = {":loaded": to_value(conversation.version)}
        else:
            put["ConditionExpression"] = "attribute_not_exists(id)"
        try:
            if request is None:
                await self.dynamodb.put_item(**put)
            else:
                await self.outbox.commit([
                    {"Put": put},
                    {"Put": {"TableName": self.meetings_table, "Item": _meeting_item(request),
                             "ConditionExpression": "attribute_not_exists(id)"}},
                ], [MEETING_EVENTS.event("meeting.requested", request, subject=request.id)],
                    fault="meetings.request.committed")
        except ClientError as exc:
            # A transaction cancelled for any reason (a conflicting one, too) means another turn
            # of this conversation is being saved.
            if condition_failed(exc) or cancellation_reasons(exc) is not None:
                refused = StaleConversationError if conversation.remembered else ConflictError
                raise refused(
                    "another message of this conversation was handled at the same time; "
                    "send yours again"
                ) from None
            raise
        if self._remembered is not None:
            self._remembered[conversation.id] = (
                replace(conversation, version=conversation.version + 1, remembered=True),
                int(expires_at.timestamp()))


_LINK_ID = re.compile(r"[0-9a-f]{32}")


class CalendarLinks:
    """Calendar feed links, for calendar apps, which subscribe to a URL and send no token.

    A link's key is ``{id}.{secret}``. The item (in the meetings table, outside the status
    index, like the approvals guard) keeps the id and the secret's SHA-256, never the secret:
    the table's contents open no feed. Revoking a link deletes its item.

    A create names its link (the id derived from the request's Idempotency-Key, so a retry
    names the same one). A retry that finds the link its creator made before dying (the
    answer never reached them) gives it a new secret: the key nobody received stops opening
    the feed, so no link is left live and unknown.
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    async def create(self, link_id: str, *, created_by: str,
                     now: datetime) -> tuple[CalendarLink, str]:
        """Link ``link_id`` (32 hex digits) and its key: a new link, or the same creator's link
        of that id with a new secret. ConflictError if another admin's link has the id."""
        secret = secrets.token_urlsafe(32)
        try:
            item = (await self.dynamodb.update_item(
                TableName=self.table, Key=self._key(link_id),
                UpdateExpression="SET secret_sha256 = :secret, created_by = :by, "
                                 "created_at = if_not_exists(created_at, :at)",
                ConditionExpression="attribute_not_exists(id) OR created_by = :by",
                ExpressionAttributeValues={":secret": {"S": _sha256(secret)},
                                           ":by": {"S": created_by}, ":at": {"S": utc_text(now)}},
                ReturnValues="ALL_NEW"))["Attributes"]
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            raise ConflictError(f"calendar link {link_id} belongs to another admin") from None
        link = CalendarLink(id=link_id, created_by=created_by,
                            created_at=datetime.fromisoformat(item["created_at"]["S"]))
        return link, f"{link_id}.{secret}"

    async def opens_the_feed(self, key: str) -> bool:
        """Whether ``key`` is the key of a link that exists (compared in constant time)."""
        link_id, _, secret = key.partition(".")
        if not _LINK_ID.fullmatch(link_id) or not secret:
            return False
        response = await self.dynamodb.get_item(TableName=self.table, Key=self._key(link_id),
                                                ConsistentRead=True)
        stored = response.get("Item", {}).get("secret_sha256", {}).get("S", "")
        return hmac.compare_digest(stored, _sha256(secret)) if stored else False

    async def revoke(self, link_id: str) -> None:
        """Delete a link; NotFoundError if there is none with this id."""
        if not _LINK_ID.fullmatch(link_id):
            raise NotFoundError(f"calendar link {link_id[:64]} does not exist")
        try:
            await self.dynamodb.delete_item(TableName=self.table, Key=self._key(link_id),
                                            ConditionExpression="attribute_exists(id)")
        except ClientError as exc:
            if condition_failed(exc):
                raise NotFoundError(f"calendar link {link_id} does not exist") from None
            raise

    @staticmethod
    def _key(link_id: str) -> dict[str, Any]:
        return {"id": {"S": f"calendar-link#{link_id}"}}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# The admin-mail ledger's items (table meetings-admin-mail, keys pk/sk):
#   head    / head            the current window: {window, end}
#   window#W / window         a window: {window, end, mailed, closed?, digest_claim?, digest_sent?}
#   window#W / request#T#E    a request held for W's digest: {event_id, meeting (JSON)}
#   due     / W               W holds requests and its digest is not sent yet: {window, end}
#   event#E / decision        what became of event E's mail: {route, window, mailed_at?}
HEAD = {"pk": {"S": "head"}, "sk": {"S": "head"}}
ROUTE_ATTEMPTS = 8
# How long after its window's end the ledger keeps a window's items (DynamoDB TTL). Due
# markers never expire: a digest is not given up because every worker was down a while.
LEDGER_KEEP = timedelta(days=30)


def _window_key(window: mail_cap.Window) -> dict[str, Any]:
    return {"pk": {"S": f"window#{window.key}"}, "sk": {"S": "window"}}


def _decision_key(event_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"event#{event_id}"}, "sk": {"S": "decision"}}


def _due_key(window: mail_cap.Window) -> dict[str, Any]:
    return {"pk": {"S": "due"}, "sk": {"S": window.key}}


def _expiry(window: mail_cap.Window) -> dict[str, Any]:
    return {"N": str(int((window.end + LEDGER_KEEP).timestamp()))}


class MailLedger(Protocol):
    """What the consumers need of the admin mail ledger: `AdminMailLedger`, or a test's
    double."""

    cap: mail_cap.MailCap

    async def route(self, event_id: str, meeting: Meeting, *,
                    now: datetime) -> tuple[mail_cap.Route, str]: ...

    async def mark_sent(self, event_id: str, *, now: datetime) -> None: ...

    async def due(self, *, now: datetime) -> list[mail_cap.Window]: ...

    async def claim_digest(self, window: mail_cap.Window, *,
                           now: datetime) -> list[tuple[str, Meeting]] | None: ...

    async def mailed_in(self, window: mail_cap.Window) -> int: ...

    async def digest_sent(self, window: mail_cap.Window, *, now: datetime) -> None: ...


class AdminMailLedger:
    """Which ``meeting.requested`` events the admins get an e-mail of, and which wait for a
    digest: the cap per window across every worker process (see ``mail_cap``).

    Each decision is one transaction that also records it under the event's id, conditional
    on there being none yet, so a redelivered event (a worker killed after deciding) finds its
    decision instead of being counted again::

        mail:   [0] window  mailed := mailed + 1  IF open AND mailed < cap
                [1] event   route := mail         IF no decision yet
        digest: [0] window  (check)               IF open
                [1] request the meeting, held for W's digest
                [2] due     W's digest is owed
                [3] event   route := digest       IF no decision yet

    A flusher closes a window before it reads the window's requests (``claim_digest``), and a
    digest decision checks the window is open in the same transaction, so a request is either
    in the digest that is read or moves on to the next window: none is left behind.

    A decision is one call in the steady state: the transaction's own conditions find a
    decision made already (read only then), the current window is remembered until its end
    (a window closed early by a flusher fails the transaction, which reads the head again),
    and so is a window whose cap is used up (``mailed`` only grows while it is open).
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str, cap: mail_cap.MailCap, *,
                 claim_seconds: float = 120.0) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.cap = cap
        self.claim_seconds = claim_seconds
        self._head: mail_cap.Window | None = None  # the current window, as last read
        self._full: mail_cap.Window | None = None  # a window found with its cap used up

    async def route(self, event_id: str, meeting: Meeting, *, now: datetime) -> tuple[
            mail_cap.Route, str]:
        """Decide (once per event) whether ``meeting``'s request is mailed on its own or
        digested; returns the route and the window's key."""
        current = self._head
        if current is None or not current.is_open(now):
            current = await self._current()
        for _ in range(ROUTE_ATTEMPTS):
            window = self.cap.window_at(now, current)
            if window != current:
                current = await self._open(window, current)
                if current != window:
                    continue  # another worker opened a window first: use it
            self._head = current
            try:
                return await self._decide(event_id, meeting, window, now=now), window.key
            except _WindowClosedError:
                now = max(now, window.end)
                current = self._head = await self._current()
            except _AlreadyDecidedError:
                decided = await self._decision(event_id)
                if decided is not None:
                    return decided
        raise ConflictError("the admin-mail ledger is too busy; try again")

    async def mark_sent(self, event_id: str, *, now: datetime) -> None:
        """Record that SES accepted the request's own e-mail (a later delivery sends none)."""
        await self.dynamodb.update_item(
            TableName=self.table, Key=_decision_key(event_id),
            UpdateExpression="SET mailed_at = :now",
            ExpressionAttributeValues={":now": {"S": utc_text(now)}})

    async def due(self, *, now: datetime) -> list[mail_cap.Window]:
        """Closed windows whose digest is owed, oldest first."""
        request: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :due",
            "ExpressionAttributeValues": {":due": {"S": "due"}},
        }
        markers = [from_item(i) for i in await all_items(self.dynamodb.query, request)]
        return mail_cap.due_windows(markers, now)

    async def claim_digest(self, window: mail_cap.Window, *,
                           now: datetime) -> list[tuple[str, Meeting]] | None:
        """Close ``window`` and claim its digest for ``claim_seconds``; the requests it holds
        (event id, meeting), in the order they came. None when another worker holds the
        claim, or the digest was sent already (its marker is then cleared)."""
        try:
            await self.dynamodb.update_item(
                TableName=self.table, Key=_window_key(window),
                UpdateExpression="SET closed = :yes, digest_claim = :until",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(digest_sent)"
                                    " AND (attribute_not_exists(digest_claim)"
                                    " OR digest_claim < :now)",
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True}, ":now": {"S": mail_cap.stamp(now)},
                    ":until": {"S": mail_cap.stamp(
                        now + timedelta(seconds=self.claim_seconds))}})
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            item = await self._window(window)
            if item is None or "digest_sent" in item:
                # Sent by a flusher that died before clearing the marker (or nothing to send).
                await self.dynamodb.delete_item(TableName=self.table, Key=_due_key(window))
            return None
        request: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :window AND begins_with(sk, :request)",
            "ExpressionAttributeValues": {":window": _window_key(window)["pk"],
                                          ":request": {"S": "request#"}},
        }
        return [(i["event_id"]["S"], Meeting.model_validate_json(i["meeting"]["S"]))
                for i in await all_items(self.dynamodb.query, request)]

    async def mailed_in(self, window: mail_cap.Window) -> int:
        """How many of ``window``'s requests were mailed one by one."""
        item = await self._window(window)
        return int(item.get("mailed", 0)) if item else 0

    async def digest_sent(self, window: mail_cap.Window, *, now: datetime) -> None:
        """Record that ``window``'s digest left: no flusher sends it again."""
        await self.dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": self.table, "Key": _window_key(window),
                        "UpdateExpression": "SET digest_sent = :now REMOVE digest_claim",
                        "ExpressionAttributeValues": {":now": {"S": utc_text(now)}}}},
            {"Delete": {"TableName": self.table, "Key": _due_key(window)}},
        ])

    async def _decision(self, event_id: str) -> tuple[mail_cap.Route, str] | None:
        response = await self.dynamodb.get_item(TableName=self.table,
                                                Key=_decision_key(event_id), ConsistentRead=True)
        item = from_item(response["Item"]) if "Item" in response else None
        route = mail_cap.route_of(item)
        return None if route is None or item is None else (route, str(item["window"]))

    async def _current(self) -> mail_cap.Window | None:
        response = await self.dynamodb.get_item(TableName=self.table, Key=HEAD,
                                                ConsistentRead=True)
        item = response.get("Item")
        return mail_cap.Window.of(item["window"]["S"], item["end"]["S"]) if item else None

    async def _window(self, window: mail_cap.Window) -> dict[str, Any] | None:
        response = await self.dynamodb.get_item(TableName=self.table, Key=_window_key(window),
                                                ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    async def _open(self, window: mail_cap.Window,
                    current: mail_cap.Window | None) -> mail_cap.Window | None:
        """Make ``window`` the current one unless another worker moved the head since we read
        it; returns the head as it is now."""
        bounds = {"window": {"S": window.key}, "end": {"S": mail_cap.stamp(window.end)}}
        head: PutTypeDef = {"TableName": self.table, "Item": {**HEAD, **bounds},
                            "ConditionExpression": "attribute_not_exists(pk)"}
        if current:
            head["ConditionExpression"] = "#window = :seen"
            head["ExpressionAttributeNames"] = {"#window": "window"}
            head["ExpressionAttributeValues"] = {":seen": {"S": current.key}}
        try:
            await self.dynamodb.transact_write_items(TransactItems=[
                {"Put": head},
                {"Put": {"TableName": self.table,
                         "Item": {**_window_key(window), **bounds, "mailed": {"N": "0"},
                                  "expires_at": _expiry(window)},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        except ClientError as exc:
            if cancellation_reasons(exc) is None:
                raise
            return await self._current()
        return window

    async def _decide(self, event_id: str, meeting: Meeting, window: mail_cap.Window, *,
                      now: datetime) -> mail_cap.Route:
        decision = {**_decision_key(event_id), "window": {"S": window.key},
                    "expires_at": _expiry(window)}
        routed: dict[str, Any] = {**decision, "route": {"S": mail_cap.Route.MAIL.value}}
        record: TransactWriteItemTypeDef = {"Put": {
            "TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
            "Item": routed}}
        if window != self._full:
            try:
                await self.dynamodb.transact_write_items(TransactItems=[
                    {"Update": {"TableName": self.table, "Key": _window_key(window),
                                "UpdateExpression": "ADD mailed :one",
                                "ConditionExpression": "attribute_exists(pk) AND attribute_not_"
                                                       "exists(closed) AND mailed < :cap",
                                "ExpressionAttributeValues": {":one": {"N": "1"},
                                                              ":cap": {"N": str(self.cap.cap)}}}},
                    record,
                ])
                return mail_cap.Route.MAIL
            except ClientError as exc:
                if condition_failed(exc, 1):
                    raise _AlreadyDecidedError from None
                if not condition_failed(exc, 0):
                    raise
            # The window refused: closed, or its cap is used up.
            item = await self._window(window)
            if item is None or item.get("closed"):
                raise _WindowClosedError
            self._full = window
        routed["route"] = {"S": mail_cap.Route.DIGEST.value}
        held = {**_window_key(window),
                "sk": {"S": f"request#{mail_cap.stamp(meeting.created_at)}#{event_id}"},
                "event_id": {"S": event_id}, "meeting": {"S": meeting.model_dump_json()},
                "expires_at": _expiry(window)}
        try:
            await self.dynamodb.transact_write_items(TransactItems=[
                {"ConditionCheck": {"TableName": self.table, "Key": _window_key(window),
                                    "ConditionExpression": "attribute_exists(pk) AND "
                                                           "attribute_not_exists(closed)"}},
                {"Put": {"TableName": self.table, "Item": held}},
                {"Put": {"TableName": self.table,
                         "Item": {**_due_key(window), "window": {"S": window.key},
                                  "end": {"S": mail_cap.stamp(window.end)}}}},
                record,
            ])
        except ClientError as exc:
            if condition_failed(exc, 3):
                raise _AlreadyDecidedError from None
            if condition_failed(exc, 0):
                raise _WindowClosedError from None
            raise
        log.info("mail.held_for_digest", window=window.key, meeting_id=meeting.id)
        return mail_cap.Route.DIGEST


class _WindowClosedError(RetryableError):
    """A flusher closed the window (its clock ahead of ours): the request takes the next."""


class _AlreadyDecidedError(RetryableError):
    """Another delivery of the event decided first: follow its decision."""
