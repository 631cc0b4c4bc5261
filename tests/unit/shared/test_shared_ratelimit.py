"""Token buckets of ``shared.ratelimit`` with an injected clock, and the 429 they lead to."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm

from shared.auth import JwksCache, TokenVerifier
from shared.http import PROBLEM_JSON, install_problem_handlers
from shared.ratelimit import (
    ClientRateLimited,
    Rate,
    RateLimiter,
    RateLimits,
    TooManyRequestsError,
    UserRateLimited,
)
from shared.settings import PlatformSettings


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def take(limiter: RateLimiter, key: str, times: int) -> list[float]:
    return [limiter.acquire(key) for _ in range(times)]


def test_a_full_bucket_serves_the_burst_then_says_how_long_to_wait() -> None:
    """burst requests pass at once; the next waits for one token at the sustained rate."""
    clock = Clock()
    limiter = RateLimiter(Rate(per_minute=6, burst=3), clock=clock)  # a token every 10 s

    assert take(limiter, "1.2.3.4", 3) == [0.0, 0.0, 0.0]
    assert limiter.acquire("1.2.3.4") == pytest.approx(10.0)

    clock.now += 4
    assert limiter.acquire("1.2.3.4") == pytest.approx(6.0)  # refused: nothing taken
    clock.now += 6
    assert limiter.acquire("1.2.3.4") == 0.0
    assert limiter.acquire("1.2.3.4") == pytest.approx(10.0)


def test_the_sustained_rate_is_the_refill_rate() -> None:
    """Over a long run a client gets the burst plus one request per refill period, no more."""
    clock = Clock()
    limiter = RateLimiter(Rate(per_minute=60, burst=5), clock=clock)

    passed = 0
    for _ in range(600):  # 60 s of a request every 0.1 s
        passed += limiter.acquire("k") == 0.0
        clock.now += 0.1
    assert passed in (64, 65)  # 5 at once + 60 s x 1/s (the last may round either way)


def test_an_idle_client_refills_only_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(per_minute=60, burst=2), clock=clock)
    take(limiter, "k", 2)

    clock.now += 3600
    assert take(limiter, "k", 3) == [0.0, 0.0, pytest.approx(1.0)]


def test_clients_have_their_own_buckets() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(per_minute=1, burst=1), clock=clock)

    assert limiter.acquire("10.0.0.1") == 0.0
    assert limiter.acquire("10.0.0.1") > 0
    assert limiter.acquire("10.0.0.2") == 0.0


def test_memory_is_bounded_by_time_and_by_count() -> None:
    """A bucket is forgotten once it would be full again (nothing changes for its client);
    at most max_keys are kept, the least recently used going first."""
    clock = Clock()
    limiter = RateLimiter(Rate(per_minute=60, burst=10), max_keys=100, clock=clock)  # 10 s

    for n in range(1000):
        limiter.acquire(f"client-{n}")
    assert len(limiter) == 100

    clock.now += 9.9
    limiter.acquire("client-999")  # touched: kept another 10 s
    clock.now += 0.2
    limiter.acquire("late")
    assert len(limiter) == 2

    # A forgotten bucket had refilled anyway: its client still gets exactly its burst.
    clock.now += 10
    limiter.acquire("late")
    assert take(limiter, "late", 10) == [0.0] * 9 + [pytest.approx(1.0)]


def test_check_raises_429_with_retry_after_in_whole_seconds() -> None:
    clock = Clock()
    limits = RateLimits({"anonymous": RateLimiter(Rate(per_minute=40, burst=1), clock=clock)})
    limits.check("anonymous", "k")

    with pytest.raises(TooManyRequestsError) as caught:
        limits.check("anonymous", "k")
    assert caught.value.status == 429
    assert caught.value.headers == {"Retry-After": "2"}  # 1.5 s rounded up
    assert caught.value.extra == {"retry_after": 2}

    clock.now += 1.4
    with pytest.raises(TooManyRequestsError) as caught:
        limits.check("anonymous", "k")
    assert caught.value.headers == {"Retry-After": "1"}  # 0.1 s: never "0"


def test_limits_follow_the_settings_and_can_be_turned_off() -> None:
    settings = PlatformSettings(rate_limit_anonymous_per_minute=12, rate_limit_anonymous_burst=4,
                                rate_limit_user_per_minute=120, rate_limit_user_burst=9)
    limits = RateLimits.from_settings(settings)
    assert limits.limiters["anonymous"].rate == Rate(12, 4)
    assert limits.limiters["user"].rate == Rate(120, 9)
    assert PlatformSettings().rate_limits_enabled

    off = RateLimits.from_settings(PlatformSettings(rate_limits_enabled=False))
    for _ in range(1000):
        off.check("anonymous", "k")


@pytest.mark.parametrize("bad", [{"per_minute": 0, "burst": 1}, {"per_minute": 1, "burst": 0}])
def test_a_rate_must_let_something_through(bad: dict) -> None:
    with pytest.raises(ValueError, match="per_minute"):
        Rate(**bad)


ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
JWKS_URL = "http://jwks.test/us-east-1_Test/.well-known/jwks.json"
CLIENT_ID = "web"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def bearer(sub: str) -> dict[str, str]:
    """A real signed access token for user ``sub`` (verified against the JWKS above)."""
    now = int(time.time())
    token = jwt.encode({"sub": sub, "username": sub, "token_use": "access", "iss": ISSUER,
                        "client_id": CLIENT_ID, "iat": now, "exp": now + 600},
                       KEY, algorithm="RS256", headers={"kid": "k1"})
    return {"Authorization": f"Bearer {token}"}


def build_app(limits: RateLimits) -> FastAPI:
    app = FastAPI()
    app.state.rate_limits = limits
    install_problem_handlers(app)

    @app.post("/chat")
    async def chat(_limited: ClientRateLimited) -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/likes")
    async def like(_limited: UserRateLimited) -> dict[str, str]:
        return {"ok": "yes"}

    app.state.verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=JwksCache(
        JWKS_URL, transport=httpx.MockTransport(lambda request: httpx.Response(200, json={
            "keys": [{**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"}]}))))
    return app


@pytest.fixture
async def clients() -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    clock = Clock()
    limits = RateLimits({"anonymous": RateLimiter(Rate(per_minute=30, burst=2), clock=clock),
                         "user": RateLimiter(Rate(per_minute=30, burst=2), clock=clock)})
    app = build_app(limits)
    opened = {}
    for name, address in (("one", "203.0.113.7"), ("two", "198.51.100.9")):
        transport = httpx.ASGITransport(app, client=(address, 40000))
        opened[name] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    yield opened
    for client in opened.values():
        await client.aclose()


async def test_a_route_answers_429_problem_json_per_client_address(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    one, two = clients["one"], clients["two"]
    assert [(await one.post("/chat")).status_code for _ in range(2)] == [200, 200]

    refused = await one.post("/chat")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.headers["retry-after"] == "2"
    assert refused.json() == {"type": "about:blank", "title": "Too Many Requests",
                              "status": 429, "detail": "too many requests; try again in 2 s",
                              "retry_after": 2}
    assert (await two.post("/chat")).status_code == 200


async def test_user_limits_count_by_caller_not_address(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    one, two = clients["one"], clients["two"]
    alice = bearer("alice")
    assert (await one.post("/likes", headers=alice)).status_code == 200
    assert (await two.post("/likes", headers=alice)).status_code == 200
    assert (await one.post("/likes", headers=alice)).status_code == 429  # another address
    assert (await one.post("/likes", headers=bearer("bob"))
            ).status_code == 200
    assert (await one.post("/likes")).status_code == 401  # no token: no user to count
