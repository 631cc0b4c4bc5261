"""Platform events reach raw/platform through real SNS -> SQS and the insights worker; the
day's salt is created once and changes with the day."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from devkit.testing import LocalStack, eventually
from services.insights.store.salts import DailySalts, end_of_day
from shared.aws import AwsClients
from shared.events import CloudEvent, EventPublisher, event_type
from tests.support.insights import lake_rows


async def test_platform_events_land_in_raw_platform(
    insights_api: str, aws: AwsClients, stack: LocalStack
) -> None:
    run = uuid.uuid4().hex[:8]
    sns = await aws.client("sns")
    sent = [
        ("recipes-events", CloudEvent(id=f"{run}-1", source="regatta/recipes",
                                      type=event_type("recipes", "recipe.created"),
                                      subject="r1", data={"id": "r1", "title": "Soup"})),
        ("recipes-events", CloudEvent(id=f"{run}-2", source="regatta/recipes",
                                      type=event_type("recipes", "recipe.liked"),
                                      subject="r1", data={"likes": 1})),
        ("meetings-events", CloudEvent(id=f"{run}-3", source="regatta/meetings",
                                       type=event_type("meetings", "meeting.approved"),
                                       data={"id": "m1"})),
        ("media-events", CloudEvent(id=f"{run}-4", source="regatta/media-jobs",
                                    type=event_type("media-jobs", "media.job.failed"),
                                    data={"guid": "g1"})),
    ]
    for topic, event in sent:
        await EventPublisher(sns, stack.resources.topic_arn(topic)).publish([event])

    async def landed() -> list[dict[str, object]] | None:
        rows = [r for r in await lake_rows(aws, stack, "platform")
                if str(r["id"]).startswith(run)]
        return rows if len(rows) >= 4 else None

    rows = await eventually(landed, timeout=20)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {f"{run}-{i}" for i in range(1, 5)}
    created = by_id[f"{run}-1"]
    assert created["source"] == "regatta/recipes" and created["subject"] == "r1"
    assert created["type"] == "dev.regatta.recipes.recipe.created.v1"
    assert created["data"] == {"id": "r1", "title": "Soup"}
    assert str(created["time"]).endswith("Z") and str(created["received_at"]).endswith("Z")
    assert by_id[f"{run}-3"]["subject"] is None


async def test_the_salt_is_made_once_a_day_and_shared(aws: AwsClients,
                                                      stack: LocalStack) -> None:
    dynamodb = await aws.client("dynamodb")
    table = stack.resources.table("insights-salts")
    now = [datetime(2031, 3, 1, 23, 59, tzinfo=UTC)]
    first = DailySalts(dynamodb, table, clock=lambda: now[0])
    second = DailySalts(dynamodb, table, clock=lambda: now[0])
    day, salt = await first.today()
    assert len(salt) == 32
    assert (await second.today()) == (day, salt)  # every process uses the same salt
    calls = first.calls
    assert (await first.today()) == (day, salt) and first.calls == calls  # from memory
    item = await dynamodb.get_item(TableName=table, Key={"day": {"S": "2031-03-01"}})
    assert int(item["Item"]["expires_at"]["N"]) == int(end_of_day(day).timestamp())
    now[0] += timedelta(minutes=2)  # the next day: a new salt
    next_day, next_salt = await first.today()
    assert next_day.isoformat() == "2031-03-02" and next_salt != salt
    assert (await second.today())[1] == next_salt


async def test_the_lake_ages_raw_objects_and_the_tables_expire_items(
    aws: AwsClients, stack: LocalStack
) -> None:
    s3 = await aws.client("s3")
    rules = (await s3.get_bucket_lifecycle_configuration(
        Bucket=stack.resources.bucket("insights-lake")))["Rules"]
    assert sorted((r["Filter"]["Prefix"], t["Days"], t["StorageClass"])
                  for r in rules for t in r["Transitions"]) == [
        ("raw/", 30, "STANDARD_IA"), ("raw/", 90, "GLACIER")]
    dynamodb = await aws.client("dynamodb")
    for table in ("insights-hits", "insights-salts"):
        ttl = await dynamodb.describe_time_to_live(TableName=stack.resources.table(table))
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
        assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
