"""What the insights tests share: a browser's user agent, the counter's allowed origin, and
the insights lake's objects and rows as the emulator holds them."""

from __future__ import annotations

from typing import Any

from devkit.testing import LocalStack
from services.insights.store.lake import read_jsonl_gz
from shared.aws import AwsClients

ORIGIN = "https://about.example.com"
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36")


async def lake_objects(aws: AwsClients, stack: LocalStack, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` of the insights lake, by key."""
    s3 = await aws.client("s3")
    bucket = stack.resources.bucket("insights-lake")
    found: dict[str, bytes] = {}
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = await s3.get_object(Bucket=bucket, Key=item["Key"])
            async with body["Body"] as stream:
                found[item["Key"]] = await stream.read()
    return found


async def lake_rows(aws: AwsClients, stack: LocalStack, zone: str) -> list[dict[str, Any]]:
    objects = await lake_objects(aws, stack, f"raw/{zone}/")
    return [row for body in objects.values() for row in read_jsonl_gz(body)]
