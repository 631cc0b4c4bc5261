"""The kit's exception hierarchy. Catch the level you mean.

    RegattaError
    ├── ConfigurationError        a setting is missing or malformed
    ├── TopologyError             infra/topology.yaml is invalid or names something unknown
    ├── AwsUnavailableError       AWS (or the emulator) cannot be reached right now
    ├── PublishError              SNS refused some events after retries
    ├── AuthError                 the caller is not who they claim (HTTP 401)
    │   └── InvalidTokenError     the bearer token failed a check (signature, exp, ...)
    ├── ForbiddenError            the caller is known but may not do this (HTTP 403)
    ├── ProblemError              an HTTP problem a route raises on purpose
    │   ├── NotFoundError         404
    │   ├── ConflictError         409
    │   ├── PreconditionFailedError  412
    │   └── UnprocessableError    422
    └── IdempotencyError
        └── IdempotencyInProgressError  another consumer is handling the same event now
"""

from __future__ import annotations

from typing import Any


class RegattaError(Exception):
    """Base class of every error the kit raises on purpose."""


class ConfigurationError(RegattaError):
    """A setting is missing or malformed; the process cannot start."""


class TopologyError(RegattaError):
    """The topology file is invalid or a name is not declared in it."""


class AwsUnavailableError(RegattaError):
    """AWS or the emulator cannot be reached; the caller should retry later."""


class PublishError(RegattaError):
    """SNS did not accept some events even after retries."""


class AuthError(RegattaError):
    """The request carries no usable identity."""


class InvalidTokenError(AuthError):
    """A bearer token failed verification."""


class ForbiddenError(RegattaError):
    """The caller is authenticated but not allowed to perform the action."""


class ProblemError(RegattaError):
    """An RFC 9457 problem raised by a route; rendered as application/problem+json."""

    status: int = 400
    title: str = "Bad Request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class NotFoundError(ProblemError):
    """The addressed resource does not exist."""

    status = 404
    title = "Not Found"


class ConflictError(ProblemError):
    """The request conflicts with the resource's current state."""

    status = 409
    title = "Conflict"


class PreconditionFailedError(ProblemError):
    """An If-Match precondition did not hold."""

    status = 412
    title = "Precondition Failed"


class UnprocessableError(ProblemError):
    """The request is well-formed but breaks a rule the schema cannot express (a limit)."""

    status = 422
    title = "Unprocessable Content"


class IdempotencyError(RegattaError):
    """Base class of idempotency failures."""


class IdempotencyInProgressError(IdempotencyError):
    """Another execution with the same idempotency key is in progress."""
