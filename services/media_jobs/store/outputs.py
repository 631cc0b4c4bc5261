"""The output bucket: a job's renditions, uploaded, read back by the checks, deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from services.media_jobs.encode import CMAF_DIR, DASH_DIR, HLS_DIR, THUMBNAILS_DIR, content_type
from services.media_jobs.store.errors import not_found

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef

OUTPUT_DIRS = (CMAF_DIR, HLS_DIR, DASH_DIR, THUMBNAILS_DIR)


class S3Outputs:
    """`checks.OutputStore` over one job's prefix in the output bucket (HEAD and GET)."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str) -> None:
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
            if not_found(exc):
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

    def __init__(self, s3: S3Client, bucket: str) -> None:
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
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    await self.s3.delete_objects(Bucket=self.bucket,
                                                 Delete={"Objects": keys, "Quiet": True})
                    deleted += len(keys)
        return deleted
