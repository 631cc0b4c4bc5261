"""The source bucket: uploads (presigned), metadata files, downloads and archive tags."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.media_jobs import logic
from services.media_jobs.models import MultipartUpload, PresignedRequest, S3Location, UploadPart
from services.media_jobs.options import ArchiveClass
from services.media_jobs.store.errors import SourceTooLargeError, not_found

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

ARCHIVE_TAG = "archive"
CHUNK_BYTES = 1024 * 1024


class SourceBucket:
    """The bucket videos and metadata files are uploaded to."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    async def head(self, key: str) -> S3Location | None:
        """The object's location with ETag and size, None if it does not exist."""
        try:
            head = await self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        return S3Location(bucket=self.bucket, key=key, etag=head.get("ETag", "").strip('"'),
                          size=head.get("ContentLength"))

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        """A small object's bytes; None if it does not exist; SourceTooLargeError if big."""
        try:
            response = await self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if not_found(exc):
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
