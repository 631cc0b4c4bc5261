"""Provision ``infra/topology.yaml`` against an endpoint (the emulator), idempotently.

In AWS, Terraform creates these resources from the same file; here `regatta up`, compose's
provisioner and the tests converge the emulator to them. Provisioning twice changes nothing
and fails nothing.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from shared.aws import AwsClients
from shared.logging import get_logger
from shared.topology import (
    Key,
    LifecycleRule,
    Queue,
    Resources,
    Topology,
    dlq_name,
    load_topology,
)

log = get_logger("devkit.provision")


async def provision(aws: AwsClients, topology: Topology | None = None) -> Resources:
    """Create or converge every resource of the topology; safe to run any number of times."""
    topology = topology or load_topology()
    # Names are checked against the topology being provisioned, not always the file's.
    resources = await Resources.discover(aws, topology)
    await _provision_topics(aws, resources, topology)
    await _provision_queues(aws, resources, topology)
    await _provision_tables(aws, resources, topology)
    await _provision_buckets(aws, resources, topology)
    await _provision_email_identities(aws, topology)
    log.info(
        "topology.provisioned",
        topics=len(topology.topics),
        queues=len(topology.queues),
        tables=len(topology.tables),
        buckets=len(topology.buckets),
    )
    return resources


async def _provision_topics(aws: AwsClients, res: Resources, topology: Topology) -> None:
    sns = await aws.client("sns")
    for name, topic in topology.topics.items():
        attributes = (
            {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if topic.fifo else {}
        )
        await sns.create_topic(Name=res.settings.resource_name(name), Attributes=attributes)


def _queue_attributes(queue: Queue, fifo: bool) -> dict[str, str]:
    attributes = {"VisibilityTimeout": str(queue.visibility_timeout)}
    if fifo:
        attributes |= {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    return attributes


async def _provision_queues(aws: AwsClients, res: Resources, topology: Topology) -> None:
    sqs = await aws.client("sqs")
    sns = await aws.client("sns")
    for name, queue in topology.queues.items():
        dlq_attributes = {"MessageRetentionPeriod": "1209600"}
        if queue.fifo:
            dlq_attributes |= {"FifoQueue": "true"}
        await sqs.create_queue(QueueName=res.settings.resource_name(dlq_name(name)),
                               Attributes=dlq_attributes)
        url = (await sqs.create_queue(QueueName=res.settings.resource_name(name),
                                      Attributes=_queue_attributes(queue, queue.fifo)))["QueueUrl"]
        redrive = {"deadLetterTargetArn": res.queue_arn(dlq_name(name)),
                   "maxReceiveCount": str(queue.max_receive_count)}
        senders = [res.topic_arn(s.topic) for s in queue.subscriptions] + [
            f"arn:aws:s3:::{res.bucket(s.bucket)}" for s in queue.sources
        ]
        await sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes=_queue_attributes(queue, False) | {
                "RedrivePolicy": json.dumps(redrive),
                "Policy": json.dumps(_queue_policy(res.queue_arn(name), senders)),
            },
        )
        for sub in queue.subscriptions:
            await _subscribe(sns, res.topic_arn(sub.topic), res.queue_arn(name), sub.event_types)


def _queue_policy(queue_arn: str, senders: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["sns.amazonaws.com", "s3.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": senders}},
            }
        ],
    }


async def _subscribe(sns: Any, topic_arn: str, queue_arn: str, event_types: list[str]) -> None:
    filter_policy = json.dumps({"type": sorted(event_types)})
    existing = await sns.list_subscriptions_by_topic(TopicArn=topic_arn)
    for sub in existing.get("Subscriptions", []):
        if sub["Endpoint"] == queue_arn:
            await sns.set_subscription_attributes(
                SubscriptionArn=sub["SubscriptionArn"],
                AttributeName="FilterPolicy",
                AttributeValue=filter_policy,
            )
            return
    await sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": filter_policy},
    )


def _key_schema(hash_key: Key, range_key: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return schema


async def _provision_tables(aws: AwsClients, res: Resources, topology: Topology) -> None:
    dynamodb = await aws.client("dynamodb")
    for name, table in topology.tables.items():
        keys = [table.hash_key, table.range_key] + [
            k for ix in table.indexes.values() for k in (ix.hash_key, ix.range_key)
        ]
        definitions = {k.name: k.type for k in keys if k is not None}
        request: dict[str, Any] = {
            "TableName": res.table(name),
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": _key_schema(table.hash_key, table.range_key),
            "AttributeDefinitions": [
                {"AttributeName": n, "AttributeType": t} for n, t in definitions.items()
            ],
        }
        if table.indexes:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index_name,
                    "KeySchema": _key_schema(ix.hash_key, ix.range_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index_name, ix in table.indexes.items()
            ]
        try:
            await dynamodb.create_table(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
        if table.ttl:
            ttl = await dynamodb.describe_time_to_live(TableName=res.table(name))
            if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") != "ENABLED":
                await dynamodb.update_time_to_live(
                    TableName=res.table(name),
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl},
                )


async def _provision_buckets(aws: AwsClients, res: Resources, topology: Topology) -> None:
    s3 = await aws.client("s3")
    for name, bucket in topology.buckets.items():
        physical = res.bucket(name)
        try:
            request: dict[str, Any] = {"Bucket": physical}
            if res.settings.aws_region != "us-east-1":
                request["CreateBucketConfiguration"] = {
                    "LocationConstraint": res.settings.aws_region
                }
            await s3.create_bucket(**request)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise
        if bucket.versioning:
            await s3.put_bucket_versioning(
                Bucket=physical, VersioningConfiguration={"Status": "Enabled"}
            )
        await s3.put_bucket_notification_configuration(
            Bucket=physical,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": f"{n.queue}-{i}",
                        "QueueArn": res.queue_arn(n.queue),
                        "Events": n.events,
                        **(
                            {"Filter": {"Key": {"FilterRules": [
                                {"Name": "prefix", "Value": n.prefix}]}}}
                            if n.prefix else {}
                        ),
                    }
                    for i, n in enumerate(bucket.notifications)
                ]
            },
        )
        if bucket.lifecycle:
            await s3.put_bucket_lifecycle_configuration(
                Bucket=physical,
                LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in bucket.lifecycle]},
            )
        if bucket.cors:
            await s3.put_bucket_cors(
                Bucket=physical,
                CORSConfiguration={"CORSRules": [{
                    "AllowedOrigins": bucket.cors.allowed_origins,
                    "AllowedMethods": bucket.cors.allowed_methods,
                    "AllowedHeaders": ["*"],
                    **({"ExposeHeaders": bucket.cors.expose_headers}
                       if bucket.cors.expose_headers else {}),
                    "MaxAgeSeconds": 3600,
                }]},
            )


async def _provision_email_identities(aws: AwsClients, topology: Topology) -> None:
    # SES (and the emulator) refuses mail from an unverified identity. Verification is
    # instant in the emulator; in AWS, Terraform's mail module creates the deployment's own
    # identity and its owner proves it (DNS or a link), so this is for local stacks.
    if not topology.email_identities:
        return
    ses = await aws.client("ses")
    for identity in topology.email_identities:
        if "@" in identity:
            await ses.verify_email_identity(EmailAddress=identity)
        else:
            await ses.verify_domain_identity(Domain=identity)


def _lifecycle_rule(rule: LifecycleRule) -> dict[str, Any]:
    return {
        "ID": rule.id,
        "Status": "Enabled",
        "Filter": {"Tag": {"Key": rule.tag.key, "Value": rule.tag.value}} if rule.tag else {
            "Prefix": rule.prefix or ""},
        "Transitions": [
            {"Days": rule.transition.days, "StorageClass": rule.transition.storage_class}
        ],
    }
