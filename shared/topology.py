"""Load ``infra/topology.yaml``: its schema, and the physical names of its resources.

The same file feeds Terraform (``yamldecode``); the models below are its schema.
``devkit.provision`` creates it against an emulator (in AWS, Terraform does).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.aws import AwsClients
from shared.errors import TopologyError
from shared.settings import PlatformSettings

TOPOLOGY_PATH = Path(__file__).resolve().parent.parent / "infra" / "topology.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Topic(_Strict):
    owner: str
    fifo: bool = False
    email_subscription: bool = False


class Subscription(_Strict):
    topic: str
    event_types: list[str] = Field(min_length=1)


class BucketSource(_Strict):
    bucket: str


class Queue(_Strict):
    owner: str
    fifo: bool = False
    visibility_timeout: int = Field(30, ge=0, le=43200)
    max_receive_count: int = Field(5, ge=1, le=1000)
    subscriptions: list[Subscription] = []
    sources: list[BucketSource] = []


class Key(_Strict):
    name: str
    type: Literal["S", "N", "B"] = "S"


class Index(_Strict):
    hash_key: Key
    range_key: Key | None = None


class Table(_Strict):
    owner: str
    hash_key: Key
    range_key: Key | None = None
    indexes: dict[str, Index] = {}
    ttl: str | None = None


class Notification(_Strict):
    queue: str
    events: list[str] = ["s3:ObjectCreated:*"]
    prefix: str | None = None


class LifecycleTag(_Strict):
    key: str
    value: str


class Transition(_Strict):
    days: int = Field(ge=0)
    storage_class: str


class LifecycleRule(_Strict):
    """A transition of the objects with a tag, or of those under a key prefix (not both)."""

    id: str
    tag: LifecycleTag | None = None
    prefix: str | None = None
    transition: Transition

    @model_validator(mode="after")
    def _one_filter(self) -> LifecycleRule:
        if self.tag is not None and self.prefix is not None:
            raise ValueError(f"lifecycle rule {self.id}: a tag or a prefix, not both")
        return self


class Cors(_Strict):
    allowed_origins: list[str]
    allowed_methods: list[str]
    # Response headers a browser script may read (S3's ExposeHeaders): a multipart upload
    # needs each part's ETag to complete it.
    expose_headers: list[str] = []


class Bucket(_Strict):
    owner: str
    versioning: bool = False
    notifications: list[Notification] = []
    lifecycle: list[LifecycleRule] = []
    cors: Cors | None = None


class EmailIdentity(_Strict):
    """A domain (example.com) or address (meetings@example.com) mail is sent from."""

    owner: str


class Topology(_Strict):
    """Every topic, queue, table and bucket of the platform (and local mail identities)."""

    topics: dict[str, Topic] = {}
    queues: dict[str, Queue] = {}
    tables: dict[str, Table] = {}
    buckets: dict[str, Bucket] = {}
    email_identities: dict[str, EmailIdentity] = {}
    terminal_events: list[str] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> Topology:
        for name, topic in self.topics.items():
            if topic.fifo != name.endswith(".fifo"):
                raise ValueError(f"topic {name}: FIFO topics, and only they, end in .fifo")
        for name, queue in self.queues.items():
            if queue.fifo != name.endswith(".fifo"):
                raise ValueError(f"queue {name}: FIFO queues, and only they, end in .fifo")
            for sub in queue.subscriptions:
                if sub.topic not in self.topics:
                    raise ValueError(f"queue {name} subscribes to unknown topic {sub.topic}")
                if self.topics[sub.topic].fifo != queue.fifo:
                    raise ValueError(f"queue {name}: FIFO topics deliver to FIFO queues only")
            for source in queue.sources:
                if source.bucket not in self.buckets:
                    raise ValueError(f"queue {name} names unknown bucket {source.bucket}")
        for name, bucket in self.buckets.items():
            for note in bucket.notifications:
                if note.queue not in self.queues:
                    raise ValueError(f"bucket {name} notifies unknown queue {note.queue}")
        return self

    def owned_by(self, owner: str) -> dict[str, list[str]]:
        """Names of the resources one service owns, by kind."""
        return {
            kind: [n for n, r in getattr(self, kind).items() if r.owner == owner]
            for kind in ("topics", "queues", "tables", "buckets")
        }


def dlq_name(queue: str) -> str:
    """The dead-letter queue's logical name for ``queue``."""
    return f"{queue[:-5]}-dlq.fifo" if queue.endswith(".fifo") else f"{queue}-dlq"


@cache
def load_topology(path: Path = TOPOLOGY_PATH) -> Topology:
    """Parse and validate the topology file; TopologyError says what is wrong."""
    try:
        # libyaml's loader when the wheel has it: ten times faster at every process start.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return Topology.model_validate(yaml.load(path.read_text(), Loader=loader))  # noqa: S506
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise TopologyError(f"{path}: {exc}") from exc


class Resources:
    """Physical names, ARNs and URLs of topology resources for one deployment."""

    def __init__(self, settings: PlatformSettings, account_id: str,
                 topology: Topology | None = None) -> None:
        self.settings = settings
        self.account_id = account_id
        self.topology = topology or load_topology()

    @classmethod
    async def discover(cls, aws: AwsClients, topology: Topology | None = None) -> Resources:
        """Resolve the account id once (STS needs no IAM permission)."""
        return cls(aws.settings, await aws.account_id(), topology)

    def _check(self, kind: str, name: str) -> None:
        if name not in getattr(self.topology, kind):
            raise TopologyError(f"{name!r} is not declared under {kind} in the topology")

    def table(self, name: str) -> str:
        self._check("tables", name)
        return self.settings.resource_name(name)

    def bucket(self, name: str) -> str:
        self._check("buckets", name)
        return self.settings.resource_name(name)

    def topic_arn(self, name: str) -> str:
        self._check("topics", name)
        region = self.settings.aws_region
        return f"arn:aws:sns:{region}:{self.account_id}:{self.settings.resource_name(name)}"

    def queue_arn(self, name: str) -> str:
        region = self.settings.aws_region
        return f"arn:aws:sqs:{region}:{self.account_id}:{self.settings.resource_name(name)}"

    async def queue_url(self, aws: AwsClients, name: str) -> str:
        if name not in self.topology.queues and name not in {
            dlq_name(q) for q in self.topology.queues
        }:
            raise TopologyError(f"{name!r} is not declared under queues in the topology")
        sqs = await aws.client("sqs")
        response = await sqs.get_queue_url(QueueName=self.settings.resource_name(name))
        return str(response["QueueUrl"])
