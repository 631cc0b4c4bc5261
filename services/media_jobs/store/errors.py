"""What the media-jobs storage raises, and the S3 error codes it recognises."""

from __future__ import annotations

from botocore.exceptions import ClientError

from shared.errors import InvalidInputError, RegattaError


class JobSupersededError(RegattaError):
    """The job record changed under a running workflow (retried, deleted or finished)."""


class LeaseLostError(JobSupersededError):
    """The run's job lease belongs to another run now: it must commit nothing more."""


class PrefixTakenError(RegattaError):
    """An output prefix is, contains or lies inside another live job's prefix."""


class SourceTooLargeError(InvalidInputError):
    """An object is larger than the service accepts."""


def not_found(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")
