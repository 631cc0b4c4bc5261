"""The API's read-only stand-in for the CDN: an output file over HTTP, whole or a byte range
(206), with the 416 of a range outside the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.media_jobs.encode import content_type
from services.media_jobs.store.errors import not_found
from services.media_jobs.store.outputs import OutputBucket
from shared.errors import NotFoundError, ProblemError

if TYPE_CHECKING:
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3.type_defs import GetObjectOutputTypeDef, HeadObjectOutputTypeDef


@dataclass
class OutputObject:
    """An output file opened for streaming."""

    status: int
    headers: dict[str, str]
    body: StreamingBody | None

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.body is None:
            return
        async with self.body as body:
            async for chunk in body.iter_chunks(64 * 1024):
                yield chunk


class RangeNotSatisfiableError(ProblemError):
    """The Range header names bytes the file does not have (HTTP 416)."""

    status = 416
    title = "Range Not Satisfiable"


async def open_output(outputs: OutputBucket, key: str, *, head: bool,
                      byte_range: str | None) -> OutputObject:
    """An output file for the pass-through route; NotFoundError if there is none."""
    if not key.strip("/"):
        raise NotFoundError("no output here")
    params: dict[str, Any] = {"Bucket": outputs.bucket, "Key": key}
    if byte_range and not head:
        params["Range"] = byte_range
    response: HeadObjectOutputTypeDef | GetObjectOutputTypeDef
    body: StreamingBody | None = None
    try:
        if head:
            response = await outputs.s3.head_object(**params)
        else:
            response = got = await outputs.s3.get_object(**params)
            body = got["Body"]
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if not_found(exc) or code in ("KeyTooLongError", "InvalidArgument", "400"):
            raise NotFoundError(f"no output {key[:200]}") from None
        if code == "InvalidRange":
            raise RangeNotSatisfiableError("the range is outside the file") from None
        raise
    headers = {
        "Content-Type": response.get("ContentType") or content_type(key),
        "Content-Length": str(response["ContentLength"]),
        "Accept-Ranges": "bytes",
    }
    if response.get("ETag"):
        headers["ETag"] = response["ETag"]
    if response.get("ContentRange"):
        headers["Content-Range"] = response["ContentRange"]
    status = 206 if response.get("ContentRange") else 200
    return OutputObject(status, headers, body)
