"""The exception hierarchy of the kit and the services. Catch the level you mean.

Every exception the kit or a service raises on purpose derives from `RegattaError` and its
name ends in ``Error`` (a unit test walks `shared` and `services` to hold that). A service
declares its own failure modes under the kind that fits; the HTTP-facing ones are
`ProblemError`s (or `AuthError`/`ForbiddenError`), everything else never becomes an HTTP
answer by its type alone: a route that wants one raises a `ProblemError` from it.

    RegattaError
    ├── ConfigurationError        a setting is missing or malformed
    ├── TopologyError             infra/topology.yaml is invalid or names something unknown
    ├── AwsUnavailableError       AWS (or the emulator) cannot be reached right now
    ├── UpstreamError             a dependency outside AWS (a token endpoint, a quote feed) failed
    ├── PublishError              SNS refused some events after retries
    ├── InvalidInputError         a file, message or stored state the code cannot use (also a
    │                             ValueError, so validators and ValueError handlers still see it)
    ├── RetryableError            internal: a race was lost or a resource is busy; the code that
    │                             raised it expects its caller to try again (never HTTP)
    ├── AuthError                 the caller is not who they claim (HTTP 401)
    │   └── InvalidTokenError     the bearer token failed a check (signature, exp, ...)
    ├── ForbiddenError            the caller is known but may not do this (HTTP 403)
    ├── ProblemError              an HTTP problem a route raises on purpose
    │   ├── BadRequestError       400
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


class UpstreamError(RegattaError):
    """A dependency outside AWS (a token endpoint, a quote feed) failed or cannot be reached."""


class PublishError(RegattaError):
    """SNS did not accept some events even after retries."""


class InvalidInputError(RegattaError, ValueError):
    """Input the code cannot use: a file, a queue message, a stored state, a request body
    before a route turns it into a problem. A ValueError too, so pydantic validators and
    callers that catch ValueError keep treating it as one."""


class RetryableError(RegattaError):
    """An internal signal: a race was lost or a resource is busy, and the code that raised it
    expects its caller to try again. Never an HTTP answer: a caller that gives up raises a
    `ProblemError` (a `ConflictError`, say) of its own."""


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


class BadRequestError(ProblemError):
    """The request is malformed in a way the schema does not catch (a foreign cursor)."""

    status = 400
    title = "Bad Request"


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
