"""Per-client token-bucket rate limits for API routes, as one-line FastAPI dependencies.

    @router.post("/chat")
    async def chat(body: ChatRequest, _limited: ClientRateLimited) -> ChatReply: ...

Two route classes, each with its rate and burst in settings (``RATE_LIMIT_<CLASS>_PER_MINUTE``,
``RATE_LIMIT_<CLASS>_BURST``):

- ``anonymous``: keyed by the client's address, as uvicorn sets it (behind the load balancer
  uvicorn takes it from ``X-Forwarded-For``, believing only the proxies in
  ``FORWARDED_ALLOW_IPS``); for routes anyone may call.
- ``user``: keyed by the caller's user id; the route needs a valid bearer token.

A request over the limit is answered 429 problem+json with ``Retry-After``: the whole seconds
until the client's bucket holds a token again. The buckets live in the API process: with N
tasks behind the load balancer a client may get up to N times the limit; the WAF's rate rule at
the edge is the global backstop. ``RATE_LIMITS_ENABLED=false`` turns every limit off (benchmarks,
test suites that drive many requests from one address).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from cachetools import TTLCache
from fastapi import Depends, Request

from shared.auth import User, current_user
from shared.errors import ProblemError
from shared.settings import PlatformSettings

RouteClass = Literal["anonymous", "user"]
# For a limited route's ``responses=`` (OpenAPI).
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many requests from this client; `Retry-After` says when to retry"}}
ROUTE_CLASSES: tuple[RouteClass, ...] = ("anonymous", "user")


class TooManyRequestsError(ProblemError):
    """The client used up its rate limit; ``Retry-After`` says when to come back."""

    status = 429
    title = "Too Many Requests"


@dataclass(frozen=True)
class Rate:
    """A sustained rate (tokens per minute) and a burst (the bucket's capacity)."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_minute > 0 and burst >= 1, not {self}")

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    @property
    def refill_seconds(self) -> float:
        """How long an empty bucket takes to fill up again."""
        return self.burst / self.per_second


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """Token buckets by key (a client address, a user id), with bounded memory.

    Each key's bucket holds up to ``rate.burst`` tokens and gains ``rate.per_minute`` a
    minute; a request takes one. A bucket left alone long enough to be full again is
    forgotten (a new one starts full, so nothing changes for its client), and at most
    ``max_keys`` buckets are kept, the least recently used going first. ``clock`` is
    injectable for tests (monotonic seconds).
    """

    def __init__(self, rate: Rate, *, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: TTLCache[str, _Bucket] = TTLCache(
            maxsize=max_keys, ttl=rate.refill_seconds, timer=clock)

    def acquire(self, key: str) -> float:
        """Take a token from ``key``'s bucket: 0.0 if there was one, otherwise the seconds
        until one will be there (nothing is taken then)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.rate.burst), now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.rate.burst),
                                bucket.tokens + elapsed * self.rate.per_second)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - bucket.tokens) / self.rate.per_second
        # Storing again restarts the entry's time to live: it expires once the bucket is full.
        self._buckets[key] = bucket
        return wait

    def __len__(self) -> int:
        """How many buckets are kept now."""
        return len(self._buckets)


class RateLimits:
    """The limiters of one API process, one per route class; empty when limits are off."""

    def __init__(self, limiters: dict[str, RateLimiter]) -> None:
        self.limiters = limiters

    @classmethod
    def from_settings(cls, settings: PlatformSettings,
                      clock: Callable[[], float] = time.monotonic) -> RateLimits:
        """The limiters the settings describe (none with ``RATE_LIMITS_ENABLED=false``)."""
        if not settings.rate_limits_enabled:
            return cls({})
        return cls({
            name: RateLimiter(
                Rate(getattr(settings, f"rate_limit_{name}_per_minute"),
                     getattr(settings, f"rate_limit_{name}_burst")),
                max_keys=settings.rate_limit_max_clients, clock=clock)
            for name in ROUTE_CLASSES
        })

    def check(self, route_class: RouteClass, key: str) -> None:
        """Take a token for ``key``; TooManyRequestsError (429, ``Retry-After``) if none."""
        limiter = self.limiters.get(route_class)
        if limiter is None:
            return
        wait = limiter.acquire(key)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequestsError(
                f"too many requests; try again in {seconds} s",
                headers={"Retry-After": str(seconds)}, retry_after=seconds)


def client_address(request: Request) -> str:
    """The client's address as the server set it (uvicorn applies X-Forwarded-For only from
    the proxies in FORWARDED_ALLOW_IPS); "unknown" when the server gives none."""
    return request.client.host if request.client else "unknown"


def _limits(request: Request) -> RateLimits:
    # Set by shared.http.create_app; an app without it is a wiring bug, not "no limits".
    limits: RateLimits = request.app.state.rate_limits
    return limits


async def _limit_client(request: Request) -> None:
    _limits(request).check("anonymous", client_address(request))


async def _limit_user(request: Request, user: Annotated[User, Depends(current_user)]) -> None:
    _limits(request).check("user", user.id)


def rate_limited(route_class: RouteClass) -> Any:
    """A dependency that takes one token per request for the route class: ``anonymous``
    counts by client address, ``user`` by the signed-in caller (and needs a valid token).

        _limited: Annotated[None, rate_limited("anonymous")]
    """
    limiters: dict[RouteClass, Callable[..., Awaitable[None]]] = {
        "anonymous": _limit_client, "user": _limit_user}
    return Depends(limiters[route_class])


ClientRateLimited = Annotated[None, rate_limited("anonymous")]
"""One token per request from the client's address (routes anyone may call)."""
UserRateLimited = Annotated[None, rate_limited("user")]
"""One token per request from the signed-in caller (401 without a valid token)."""
