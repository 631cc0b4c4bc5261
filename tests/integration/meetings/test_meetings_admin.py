"""Administration over HTTP: the approval state machine, clashes, listings, the ICS feed, auth."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from icalendar import Calendar
from meetings_http import approved, book, fresh_workday, set_status

from devkit.testing import LocalStack
from shared.aws import AwsClients

ADMIN_ROUTES = [
    ("GET", "/meetings"),
    ("GET", "/meetings/pending"),
    ("GET", "/meetings/calendar.ics"),
    ("GET", "/meetings/{id}"),
    ("PATCH", "/meetings/{id}"),
]
EXPECTED = {"anonymous": 401, "alice": 403, "bob": 403, "admin": 200}


@pytest.mark.parametrize("actor", list(EXPECTED))
@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_are_for_admins_only(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], method: str, path: str,
    actor: str,
) -> None:
    """Anonymous 401, a signed-in user 403, an admin 200; a refused PATCH changes nothing."""
    meeting = await book(client, fresh_workday())
    url = path.replace("{id}", meeting["id"])
    body = {"json": {"status": "rejected"}} if method == "PATCH" else {}

    response = await client.request(method, url, headers=headers[actor], **body)

    assert response.status_code == EXPECTED[actor], response.text
    if EXPECTED[actor] >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        after = await client.get(f"/meetings/{meeting['id']}", headers=headers["admin"])
        assert after.json()["status"] == "pending"


@pytest.mark.parametrize("actor", list(EXPECTED))
async def test_anyone_may_chat(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], actor: str
) -> None:
    """The conversation route is public: every caller, signed in or not, gets a reply."""
    response = await client.post("/meetings/chat", json={"text": "hello"}, headers=headers[actor])
    assert response.status_code == 200


async def test_the_approval_flow(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """pending -> approved -> cancelled, each step visible in the listings; versions count up."""
    admin = headers["admin"]
    day = fresh_workday()
    meeting = await book(client, day, "2pm")
    pending = (await client.get("/meetings/pending", params={"limit": 100},
                                headers=admin)).json()["items"]
    assert meeting["id"] in [m["id"] for m in pending]

    response = await set_status(client, admin, meeting["id"], "approved")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["version"]) == ("approved", 2)
    listing = await client.get("/meetings", params={"from": str(day), "to": str(day)},
                               headers=admin)
    assert [m["id"] for m in listing.json()["items"]] == [meeting["id"]]
    pending = (await client.get("/meetings/pending", params={"limit": 100},
                                headers=admin)).json()["items"]
    assert meeting["id"] not in [m["id"] for m in pending]

    response = await set_status(client, admin, meeting["id"], "cancelled")
    assert (response.json()["status"], response.json()["version"]) == ("cancelled", 3)
    listing = await client.get("/meetings", params={"from": str(day), "to": str(day),
                                                    "status": "cancelled"}, headers=admin)
    assert [m["id"] for m in listing.json()["items"]] == [meeting["id"]]


@pytest.mark.parametrize(
    ("path", "target", "allowed"),
    [
        ([], "cancelled", ["approved", "rejected"]),
        ([], "pending", ["approved", "rejected"]),
        (["approved"], "approved", ["cancelled"]),
        (["approved"], "rejected", ["cancelled"]),
        (["approved"], "pending", ["cancelled"]),
        (["rejected"], "approved", []),
        (["rejected"], "cancelled", []),
        (["approved", "cancelled"], "approved", []),
        (["approved", "cancelled"], "pending", []),
    ],
)
async def test_moves_outside_the_state_machine_are_409_with_the_allowed_moves(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], path: list[str], target: str,
    allowed: list[str],
) -> None:
    """Each refused move is a 409 problem naming the current status and the allowed moves."""
    meeting = await book(client, fresh_workday())
    for status in path:
        assert (await set_status(client, headers["admin"], meeting["id"], status)).status_code \
            == 200

    response = await set_status(client, headers["admin"], meeting["id"], target)

    assert response.status_code == 409
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert (problem["current"], problem["allowed"]) == ((path or ["pending"])[-1], allowed)
    stored = await client.get(f"/meetings/{meeting['id']}", headers=headers["admin"])
    assert stored.json()["version"] == 1 + len(path)


async def test_approving_a_clash_is_409_naming_the_other_meeting(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Two requests for 10:00-11:00: the first approval passes, the second is a 409."""
    admin, day = headers["admin"], fresh_workday()
    first = await book(client, day, "10am", minutes=60)
    second = await book(client, day, "10:30am", minutes=60)
    touching = await book(client, day, "11am", minutes=30)

    assert (await set_status(client, admin, first["id"], "approved")).status_code == 200
    clash = await set_status(client, admin, second["id"], "approved")
    back_to_back = await set_status(client, admin, touching["id"], "approved")

    assert clash.status_code == 409
    assert clash.json()["conflicts"] == [first["id"]]
    assert back_to_back.status_code == 200, "a meeting starting as another ends does not clash"
    stored = await client.get(f"/meetings/{second['id']}", headers=admin)
    assert stored.json()["status"] == "pending"
    assert (await set_status(client, admin, second["id"], "rejected")).status_code == 200


async def test_racing_approvals_of_overlapping_meetings_let_only_one_through(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """Six overlapping requests approved at once: exactly one becomes approved."""
    day = fresh_workday()
    meetings = [await book(client, day, f"1:{10 * n:02d}pm", minutes=60) for n in range(6)]

    responses = await asyncio.gather(
        *(set_status(client, headers["admin"], m["id"], "approved") for m in meetings))

    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    listing = await client.get("/meetings", params={"from": str(day), "to": str(day)},
                               headers=headers["admin"])
    assert len(listing.json()["items"]) == 1


@pytest.mark.parametrize("meeting_id", [None, "not-a-uuid", "0" * 2000])
async def test_an_unknown_id_is_404_and_creates_nothing(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack, meeting_id: str | None,
) -> None:
    """PATCH or GET of an id naming no meeting is 404, creating nothing (the original upserted)."""
    meeting_id = meeting_id or str(uuid.uuid4())

    patched = await set_status(client, headers["admin"], meeting_id, "approved")
    fetched = await client.get(f"/meetings/{meeting_id}", headers=headers["admin"])

    assert (patched.status_code, fetched.status_code) == (404, 404)
    assert patched.headers["content-type"] == "application/problem+json"
    if len(meeting_id) < 100:
        dynamodb = await aws.client("dynamodb")
        item = await dynamodb.get_item(TableName=stack.resources.table("meetings"),
                                       Key={"id": {"S": meeting_id}}, ConsistentRead=True)
        assert "Item" not in item


async def test_listings_are_inclusive_date_ranges_in_start_order(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """from/to include both days, in the zone asked for, exclude the next; pages keep order."""
    admin, zone = headers["admin"], "Pacific/Kiritimati"  # UTC+14: 9 AM is the day before in UTC
    fresh_workday()  # left empty: in that zone, the evening before `first` is in the range
    first, last, after = fresh_workday(), fresh_workday(), fresh_workday()
    early = await approved(client, admin, first, "9am", timezone=zone)
    late = await approved(client, admin, last, "5pm", timezone=zone)
    await approved(client, admin, after, "9am", timezone=zone)

    ids: list[str] = []
    cursor = None
    while True:
        params = {"from": str(first), "to": str(last), "timezone": zone, "limit": 1}
        response = await client.get("/meetings", headers=admin,
                                    params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        ids += [m["id"] for m in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if not cursor:
            break
    in_utc = await client.get("/meetings", params={"from": str(first), "to": str(last)},
                              headers=admin)

    assert ids == [early["id"], late["id"]]
    utc_ids = [m["id"] for m in in_utc.json()["items"]]
    assert late["id"] in utc_ids and early["id"] not in utc_ids


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2030-01-02", "to": "2030-01-01"}, 400),
        ({"cursor": "not-a-cursor"}, 400),
        ({"cursor": "eyJmb28iOiAxfQ"}, 400),
        ({"status": "maybe"}, 422),
        ({"timezone": "Nowhere/Land"}, 422),
        ({"limit": 0}, 422),
        ({"limit": 101}, 422),
        ({"from": "yesterday"}, 422),
    ],
)
async def test_bad_listing_parameters_are_client_errors(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], params: dict[str, object],
    status: int,
) -> None:
    """Reversed ranges, forged cursors and malformed values are 400/422 problems, never 500."""
    response = await client.get("/meetings", params=params, headers=headers["admin"])

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_cursor_from_another_listing_is_refused(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """A pending-list cursor replayed on the approved listing is a 400, not a silent restart."""
    admin = headers["admin"]
    await book(client, fresh_workday())
    await book(client, fresh_workday())
    page = (await client.get("/meetings/pending", params={"limit": 1}, headers=admin)).json()
    assert page["next_cursor"]

    response = await client.get("/meetings", params={"cursor": page["next_cursor"]},
                                headers=admin)

    assert response.status_code == 400


async def test_the_calendar_feed_holds_the_approved_meetings(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """GET /meetings/calendar.ics parses with icalendar; approved meetings only, UTC times."""
    admin, day = headers["admin"], fresh_workday()
    meeting = await approved(client, admin, day, "3pm", minutes=45, name="Ana Lima")
    pending = await book(client, day, "9am")
    cancelled = await approved(client, admin, day, "11am")
    await set_status(client, admin, cancelled["id"], "cancelled")

    response = await client.get("/meetings/calendar.ics", params={"from": str(day),
                                                                  "to": str(day)},
                                headers=admin)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert calendar["method"] == "PUBLISH"
    (event,) = calendar.events
    assert event.uid == f"{meeting['id']}@meetings.regatta"
    assert event.start.isoformat() == meeting["start"].replace("Z", "+00:00")
    assert event.end - event.start == timedelta(minutes=45)
    assert str(event["summary"]) == "Meeting with Ana Lima"
    everything = Calendar.from_ical(
        (await client.get("/meetings/calendar.ics", headers=admin)).content)
    uids = {e.uid for e in everything.events}
    assert event.uid in uids
    assert not {f"{pending['id']}@meetings.regatta", f"{cancelled['id']}@meetings.regatta"} & uids


async def test_a_calendar_link_opens_the_feed_without_a_token_until_revoked(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack,
) -> None:
    """An admin's calendar link serves the feed to a caller with no token (a calendar app); a
    wrong key and a revoked link are 401; only admins create and revoke links; the table keeps
    a hash of the key, not the key."""
    admin, day = headers["admin"], fresh_workday()
    meeting = await approved(client, admin, day, "2pm", name="Rui Costa")

    created = await client.post("/meetings/calendar/links", headers=admin)

    assert created.status_code == 201, created.text
    link = created.json()
    assert link["url"].endswith(f"/meetings/calendar.ics?key={link['key']}")
    feed = await client.get(link["url"])
    assert feed.status_code == 200, feed.text
    assert f"{meeting['id']}@meetings.regatta" in {
        e.uid for e in Calendar.from_ical(feed.content).events}
    secret = link["key"].partition(".")[2]
    item = await (await aws.client("dynamodb")).get_item(
        TableName=stack.resources.table("meetings"),
        Key={"id": {"S": f"calendar-link#{link['id']}"}})
    assert item["Item"] and not any(secret in str(v) for v in item["Item"].values())

    wrong = link["key"][:-1] + ("B" if link["key"].endswith("A") else "A")
    for key in (wrong, link["id"], f"{link['id']}.", "not a key"):
        refused = await client.get("/meetings/calendar.ics", params={"key": key})
        assert refused.status_code == 401, key
        assert refused.headers["content-type"] == "application/problem+json"
    for actor, code in (("anonymous", 401), ("alice", 403)):
        assert (await client.post("/meetings/calendar/links", headers=headers[actor])
                ).status_code == code
        assert (await client.delete(f"/meetings/calendar/links/{link['id']}",
                                    headers=headers[actor])).status_code == code

    revoked = await client.delete(f"/meetings/calendar/links/{link['id']}", headers=admin)
    assert revoked.status_code == 204
    assert (await client.get(link["url"])).status_code == 401
    assert (await client.delete(f"/meetings/calendar/links/{link['id']}", headers=admin)
            ).status_code == 404
    assert (await client.delete("/meetings/calendar/links/nope", headers=admin)
            ).status_code == 404


async def test_docs_are_served_under_the_prefix(client: httpx.AsyncClient) -> None:
    """OpenAPI docs live at /meetings/docs and the schema at /meetings/openapi.json."""
    docs = await client.get("/meetings/docs")
    schema = await client.get("/meetings/openapi.json")

    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert set(schema.json()["paths"]) >= {
        "/meetings/chat", "/meetings", "/meetings/pending", "/meetings/calendar.ics",
        "/meetings/{meeting_id}"}


async def test_a_retried_calendar_link_create_replays_the_same_link_sealed_at_rest(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], aws: AwsClients,
    stack: LocalStack,
) -> None:
    """POST /meetings/calendar/links with an Idempotency-Key: the retry returns the same link
    and key (one link exists), and the idempotency table, which keeps that answer for the
    replay, holds neither the key's secret nor the Idempotency-Key in the clear."""
    idempotency_key = f"link-{uuid.uuid4()}"
    h = {**headers["admin"], "Idempotency-Key": idempotency_key}
    first = await client.post("/meetings/calendar/links", headers=h)
    second = await client.post("/meetings/calendar/links", headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    secret = first.json()["key"].partition(".")[2]
    dynamodb = await aws.client("dynamodb")
    items = (await dynamodb.scan(TableName=stack.resources.table("meetings-idempotency"))
             )["Items"]
    stored = [i for i in items if i["id"]["S"].startswith("request#")]
    assert stored, "the answer was not kept for replays"
    text = str(stored).encode()
    assert secret.encode() not in text and idempotency_key.encode() not in text
    assert first.json()["id"].encode() not in text  # the whole answer is sealed
