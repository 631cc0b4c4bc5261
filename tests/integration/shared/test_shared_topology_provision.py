"""``devkit.provision`` against the emulator: idempotent, and the wiring works."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from devkit.provision import provision
from shared.aws import AwsClients
from shared.events import CloudEvent, EventPublisher
from shared.topology import Resources, Topology, dlq_name, load_topology

pytestmark = pytest.mark.integration

WANTED = "dev.regatta.contract.order.placed.v1"
UNWANTED = "dev.regatta.contract.order.viewed.v1"
TICK = "dev.regatta.contract.tick.recorded.v1"


async def snapshot(aws: AwsClients) -> dict[str, Any]:
    """Everything provisioning could create or change, in comparable form."""
    sns, sqs = await aws.client("sns"), await aws.client("sqs")
    dynamodb, s3 = await aws.client("dynamodb"), await aws.client("s3")
    topics = sorted(t["TopicArn"] for page in await _pages(sns.get_paginator("list_topics"))
                    for t in page["Topics"])
    subscriptions = {}
    for page in await _pages(sns.get_paginator("list_subscriptions")):
        for sub in page["Subscriptions"]:
            attributes = (await sns.get_subscription_attributes(
                SubscriptionArn=sub["SubscriptionArn"]))["Attributes"]
            subscriptions[sub["SubscriptionArn"]] = (
                sub["TopicArn"], sub["Endpoint"], attributes.get("FilterPolicy"),
                attributes.get("RawMessageDelivery"))
    queues = {}
    for url in (await sqs.list_queues(MaxResults=1000)).get("QueueUrls", []):
        attributes = (await sqs.get_queue_attributes(QueueUrl=url,
                                                     AttributeNames=["All"]))["Attributes"]
        queues[url] = {k: v for k, v in attributes.items() if k in {
            "VisibilityTimeout", "RedrivePolicy", "Policy", "FifoQueue",
            "ContentBasedDeduplication", "MessageRetentionPeriod"}}
    tables = sorted(t for page in await _pages(dynamodb.get_paginator("list_tables"))
                    for t in page["TableNames"])
    buckets = {}
    for bucket in (await s3.list_buckets())["Buckets"]:
        notifications = await s3.get_bucket_notification_configuration(Bucket=bucket["Name"])
        notifications.pop("ResponseMetadata", None)
        buckets[bucket["Name"]] = {**notifications,
                                   "CORSRules": await _cors_rules(s3, bucket["Name"])}
    return {"topics": topics, "subscriptions": subscriptions, "queues": queues,
            "tables": tables, "buckets": buckets}


async def _pages(paginator: Any) -> list[dict[str, Any]]:
    return [page async for page in paginator.paginate()]


async def _cors_rules(s3: Any, bucket: str) -> list[dict[str, Any]] | None:
    """The bucket's CORS rules, None when it has none."""
    try:
        return list((await s3.get_bucket_cors(Bucket=bucket))["CORSRules"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchCORSConfiguration":
            raise
        return None


def contract_topology(prefix: str, inbox_types: list[str]) -> Topology:
    """A small topology of its own: a standard and a FIFO pipe, a table."""
    return Topology.model_validate({
        "topics": {f"{prefix}-orders": {"owner": "contract"},
                   f"{prefix}-ticks.fifo": {"owner": "contract", "fifo": True}},
        "queues": {
            f"{prefix}-inbox": {"owner": "contract", "visibility_timeout": 7,
                                "max_receive_count": 3, "subscriptions": [
                                    {"topic": f"{prefix}-orders", "event_types": inbox_types}]},
            f"{prefix}-ticks.fifo": {"owner": "contract", "fifo": True, "subscriptions": [
                {"topic": f"{prefix}-ticks.fifo", "event_types": [TICK]}]},
        },
        "tables": {f"{prefix}-ledger": {"owner": "contract", "hash_key": {"name": "id"},
                                        "ttl": "expires_at"}},
    })


@dataclass
class Provisioned:
    prefix: str
    topology: Topology
    resources: Resources
    before_second_run: dict[str, Any]
    after_second_run: dict[str, Any]


@pytest_asyncio.fixture(scope="module")
async def provisioned(aws: AwsClients) -> AsyncIterator[Provisioned]:
    """A contract topology provisioned twice, with snapshots around the second run."""
    prefix = f"contract-{uuid.uuid4().hex[:8]}"
    topology = contract_topology(prefix, [WANTED])
    await provision(aws, topology)
    before = await snapshot(aws)
    resources = await provision(aws, topology)
    after = await snapshot(aws)
    yield Provisioned(prefix, topology, resources, before, after)
    sqs, sns = await aws.client("sqs"), await aws.client("sns")
    for name in topology.queues:
        for queue in (name, dlq_name(name)):
            await sqs.delete_queue(QueueUrl=await resources.queue_url(aws, queue))
    for name in topology.topics:
        await sns.delete_topic(TopicArn=resources.topic_arn(name))


async def test_provisioning_the_platform_topology_again_changes_nothing(aws, stack) -> None:
    """Re-running provision on the provisioned stack fails nothing and changes nothing."""
    # Earlier tests in the session may have tuned a queue (and the run converges it back), so
    # the comparison is between two consecutive runs.
    await provision(aws)
    before = await snapshot(aws)

    await provision(aws)

    assert await snapshot(aws) == before
    assert stack.resources.table("recipes") in before["tables"]


async def test_bucket_cors_is_the_topologys(aws, stack) -> None:
    """Every declared CORS rule is on its bucket with the declared origins, methods and
    exposed headers: browsers may read the ETag of each part they PUT to the media source
    (a multipart upload completes only with them), and nothing else is exposed anywhere."""
    s3 = await aws.client("s3")
    declared = {name: b.cors for name, b in load_topology().buckets.items()}
    assert declared["media-source"] is not None
    assert declared["media-source"].expose_headers == ["ETag"]

    for name, cors in declared.items():
        rules = await _cors_rules(s3, stack.resources.bucket(name))
        if cors is None:
            assert rules is None, name
            continue
        assert rules is not None and len(rules) == 1, name
        assert sorted(rules[0]["AllowedOrigins"]) == sorted(cors.allowed_origins), name
        assert sorted(rules[0]["AllowedMethods"]) == sorted(cors.allowed_methods), name
        assert rules[0].get("ExposeHeaders", []) == cors.expose_headers, name


def test_provisioning_a_topology_twice_changes_nothing(provisioned: Provisioned) -> None:
    """The second run of a custom topology leaves topics, subscriptions (and their filter
    policies), queues, tables and buckets exactly as the first run made them."""
    assert provisioned.after_second_run == provisioned.before_second_run
    ours = [t for t in provisioned.after_second_run["topics"] if provisioned.prefix in t]
    assert len(ours) == 2


def test_every_queue_has_its_dlq_and_redrive_policy(provisioned: Provisioned) -> None:
    """Each queue sends to its own DLQ after the declared maxReceiveCount."""
    queues = provisioned.after_second_run["queues"]
    res = provisioned.resources
    for name, declared in provisioned.topology.queues.items():
        url = next(u for u in queues if u.endswith(f"/{res.settings.resource_name(name)}"))
        redrive = json.loads(queues[url]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == res.queue_arn(dlq_name(name))
        assert int(redrive["maxReceiveCount"]) == declared.max_receive_count
        assert queues[url]["VisibilityTimeout"] == str(declared.visibility_timeout)
        assert any(u.endswith(f"/{res.settings.resource_name(dlq_name(name))}") for u in queues)


async def test_fifo_topic_and_queue_are_fifo_without_content_dedup(
    aws, provisioned: Provisioned
) -> None:
    """FIFO resources are FIFO and dedupe by explicit id (the event's), not by content."""
    sns, sqs = await aws.client("sns"), await aws.client("sqs")
    res, prefix = provisioned.resources, provisioned.prefix

    topic = (await sns.get_topic_attributes(
        TopicArn=res.topic_arn(f"{prefix}-ticks.fifo")))["Attributes"]
    queue_url = await res.queue_url(aws, f"{prefix}-ticks.fifo")
    queue = (await sqs.get_queue_attributes(QueueUrl=queue_url,
                                            AttributeNames=["All"]))["Attributes"]
    dlq = (await sqs.get_queue_attributes(
        QueueUrl=await res.queue_url(aws, f"{prefix}-ticks-dlq.fifo"),
        AttributeNames=["All"]))["Attributes"]

    assert topic["FifoTopic"] == "true"
    assert topic["ContentBasedDeduplication"] == "false"
    assert queue["FifoQueue"] == "true"
    assert queue["ContentBasedDeduplication"] == "false"
    assert dlq["FifoQueue"] == "true"
    standard = (await sqs.get_queue_attributes(
        QueueUrl=await res.queue_url(aws, f"{prefix}-inbox"),
        AttributeNames=["All"]))["Attributes"]
    assert "FifoQueue" not in standard or standard["FifoQueue"] == "false"


def test_subscriptions_are_raw_and_filtered_by_type(provisioned: Provisioned) -> None:
    """Each subscription delivers raw CloudEvents JSON, filtered on the type attribute."""
    res, prefix = provisioned.resources, provisioned.prefix
    subscriptions = provisioned.after_second_run["subscriptions"].values()
    inbox = [s for s in subscriptions if s[1] == res.queue_arn(f"{prefix}-inbox")]

    assert len(inbox) == 1
    topic_arn, _, filter_policy, raw = inbox[0]
    assert topic_arn == res.topic_arn(f"{prefix}-orders")
    assert json.loads(filter_policy) == {"type": [WANTED]}
    assert raw == "true"


async def test_subscription_delivers_matching_types_only(
    aws, provisioned: Provisioned, queues
) -> None:
    """An event of a subscribed type reaches the queue; another type is filtered out."""
    res, prefix = provisioned.resources, provisioned.prefix
    wanted = CloudEvent(source="/contract-tests", type=WANTED, data={"n": 1})
    unwanted = CloudEvent(source="/contract-tests", type=UNWANTED, data={"n": 2})

    await EventPublisher(await aws.client("sns"), res.topic_arn(f"{prefix}-orders")).publish(
        [unwanted, wanted, unwanted.model_copy(update={"id": "another"})])

    bodies = await queues.drain(await res.queue_url(aws, f"{prefix}-inbox"))
    assert [CloudEvent.model_validate_json(b) for b in bodies] == [wanted]


async def test_changed_filter_policy_converges_in_place(aws, provisioned: Provisioned) -> None:
    """Provisioning an edited topology updates the filter policy of the existing subscription
    instead of adding a second one."""
    prefix = provisioned.prefix
    sns = await aws.client("sns")
    topic_arn = provisioned.resources.topic_arn(f"{prefix}-orders")

    await provision(aws, contract_topology(prefix, [WANTED, UNWANTED]))

    subscriptions = (await sns.list_subscriptions_by_topic(TopicArn=topic_arn))["Subscriptions"]
    assert len(subscriptions) == 1
    attributes = (await sns.get_subscription_attributes(
        SubscriptionArn=subscriptions[0]["SubscriptionArn"]))["Attributes"]
    assert json.loads(attributes["FilterPolicy"]) == {"type": sorted([WANTED, UNWANTED])}
    await provision(aws, provisioned.topology)  # back to the module's topology
