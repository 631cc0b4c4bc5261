"""Cognito access-token checks of ``TokenVerifier`` against a JWKS served by a mock transport."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from jwt.algorithms import RSAAlgorithm

from shared.auth import (
    CurrentUser,
    JwksCache,
    Machine,
    TokenVerifier,
    User,
    ensure_admin,
    machine_scope,
)
from shared.errors import AuthError, AwsUnavailableError, ForbiddenError, InvalidTokenError
from shared.http import install_problem_handlers

POOL_ID = "us-east-1_TestPool"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
JWKS_URL = f"http://127.0.0.1:5000/{POOL_ID}/.well-known/jwks.json"
CLIENT_ID = "regatta-web-client"
KID = "key-1"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return _new_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return _new_key()


class JwksServer:
    """The user pool's JWKS endpoint: serves the current keys and counts fetches."""

    def __init__(self, keys: dict[str, rsa.RSAPublicKey]) -> None:
        self.keys = dict(keys)
        self.fetches = 0
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        assert str(request.url) == JWKS_URL
        jwks = [
            {**json.loads(RSAAlgorithm.to_jwk(key)), "kid": kid, "alg": "RS256", "use": "sig"}
            for kid, key in self.keys.items()
        ]
        return httpx.Response(200, json={"keys": jwks})

    def cache(self, **kwargs: Any) -> JwksCache:
        return JwksCache(JWKS_URL, transport=httpx.MockTransport(self.handle), **kwargs)


@pytest.fixture
def server(signing_key: rsa.RSAPrivateKey) -> JwksServer:
    return JwksServer({KID: signing_key.public_key()})


@pytest.fixture
def verifier(server: JwksServer) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=server.cache())


def access_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a Cognito access token for alice, an admin; overrides replace or drop."""
    now = int(time.time())
    claims = {
        "sub": "5c0f-alice-sub",
        "username": "alice",
        "cognito:groups": ["admins", "cooks"],
        "token_use": "access",
        "client_id": CLIENT_ID,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str = KID) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], sign_input: Any = None) -> str:
    """A JWT assembled by hand, as an attacker would (PyJWT refuses to make these)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = sign_input(signing_input.encode()) if sign_input else b""
    return f"{signing_input}.{_b64(signature)}"


async def test_valid_access_token_gives_the_user(verifier: TokenVerifier, signing_key) -> None:
    """A valid access token yields the user's sub, username and groups; admins are admins."""
    user = await verifier.verify(sign(access_claims(), signing_key))

    assert user.id == "5c0f-alice-sub"
    assert user.username == "alice"
    assert user.groups == frozenset({"admins", "cooks"})
    assert user.is_admin


async def test_token_without_groups_is_not_admin(verifier: TokenVerifier, signing_key) -> None:
    """A user outside every group is authenticated but not an admin."""
    token = sign(access_claims(**{"cognito:groups": None, "username": "bob"}), signing_key)

    user = await verifier.verify(token)

    assert user.username == "bob"
    assert user.groups == frozenset()
    assert not user.is_admin


async def test_expired_token_is_rejected(verifier: TokenVerifier, signing_key) -> None:
    """A token past its exp (beyond the leeway) is rejected as expired."""
    now = int(time.time())
    token = sign(access_claims(iat=now - 3600, exp=now - 60), signing_key)

    with pytest.raises(InvalidTokenError, match="expired"):
        await verifier.verify(token)


async def test_token_from_another_issuer_is_rejected(verifier: TokenVerifier, signing_key) -> None:
    """A token whose iss names another user pool is rejected."""
    token = sign(access_claims(iss=ISSUER.replace("TestPool", "OtherPool")), signing_key)

    with pytest.raises(InvalidTokenError, match="issuer"):
        await verifier.verify(token)


async def test_token_for_another_client_is_rejected(verifier: TokenVerifier, signing_key) -> None:
    """A token issued to another app client is rejected."""
    token = sign(access_claims(client_id="someone-elses-client"), signing_key)

    with pytest.raises(InvalidTokenError, match="another client"):
        await verifier.verify(token)


async def test_id_token_is_rejected(verifier: TokenVerifier, signing_key) -> None:
    """An id token (token_use=id, aud=client) is not accepted where an access token is needed."""
    token = sign(access_claims(token_use="id", client_id=None, aud=CLIENT_ID), signing_key)

    with pytest.raises(InvalidTokenError, match="access token"):
        await verifier.verify(token)


async def test_token_without_token_use_is_rejected(verifier: TokenVerifier, signing_key) -> None:
    """A token that does not say what it is for is rejected."""
    token = sign(access_claims(token_use=None), signing_key)

    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)


async def test_signature_by_another_key_is_rejected(
    verifier: TokenVerifier, other_key: rsa.RSAPrivateKey
) -> None:
    """A token signed by a key that is not the pool's, but naming the pool's kid, is rejected."""
    token = sign(access_claims(), other_key, kid=KID)

    with pytest.raises(InvalidTokenError, match="invalid"):
        await verifier.verify(token)


async def test_tampered_claims_are_rejected(verifier: TokenVerifier, signing_key) -> None:
    """Changing a claim of a validly signed token breaks its signature."""
    header, _, signature = sign(access_claims(), signing_key).split(".")
    promoted = _b64(json.dumps(access_claims(username="mallory")).encode())

    with pytest.raises(InvalidTokenError):
        await verifier.verify(f"{header}.{promoted}.{signature}")


async def test_unknown_kid_refetches_once_and_is_rejected(
    server: JwksServer, signing_key, other_key
) -> None:
    """A token naming a kid the pool does not have costs one refetch, then is rejected."""
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID,
                             jwks=server.cache(min_refresh_interval=0))
    await verifier.verify(sign(access_claims(), signing_key))
    assert server.fetches == 1

    with pytest.raises(InvalidTokenError, match="unknown key"):
        await verifier.verify(sign(access_claims(), other_key, kid="key-unknown"))

    assert server.fetches == 2


async def test_key_added_by_rotation_is_accepted(
    server: JwksServer, signing_key, other_key
) -> None:
    """After the pool rotates in a new key, a token signed with it is accepted via a refetch."""
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID,
                             jwks=server.cache(min_refresh_interval=0))
    await verifier.verify(sign(access_claims(), signing_key))

    # GIVEN the pool publishes a second key after the cache was filled
    server.keys["key-2"] = other_key.public_key()
    # WHEN a token signed with the new key arrives
    user = await verifier.verify(sign(access_claims(), other_key, kid="key-2"))

    # THEN the cache refetched once and accepted it; the old key still works from cache
    assert user.username == "alice"
    assert server.fetches == 2
    await verifier.verify(sign(access_claims(), signing_key))
    assert server.fetches == 2


async def test_refetch_on_unknown_kid_is_rate_limited(
    server: JwksServer, signing_key, other_key
) -> None:
    """Unknown kids cannot make the service hammer the JWKS endpoint: at most one fetch per
    refresh interval, also when many arrive at once."""
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID,
                             jwks=server.cache(min_refresh_interval=30))
    unknown = sign(access_claims(), other_key, kid="key-unknown")

    results = await asyncio.gather(*(verifier.verify(unknown) for _ in range(20)),
                                   return_exceptions=True)
    assert all(isinstance(r, InvalidTokenError) for r in results)
    assert server.fetches == 1

    # Even a key the pool really added is not fetched again inside the interval.
    server.keys["key-2"] = other_key.public_key()
    with pytest.raises(InvalidTokenError, match="unknown key"):
        await verifier.verify(sign(access_claims(), other_key, kid="key-2"))
    assert server.fetches == 1


async def test_alg_none_is_rejected(verifier: TokenVerifier) -> None:
    """An unsigned token (alg none) is rejected."""
    token = forge({"alg": "none", "typ": "JWT", "kid": KID}, access_claims())

    with pytest.raises(InvalidTokenError, match="RS256"):
        await verifier.verify(token)


async def test_hs256_with_public_key_as_secret_is_rejected(
    verifier: TokenVerifier, signing_key
) -> None:
    """The algorithm-confusion attack (HMAC keyed with the public PEM) is rejected."""
    pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forge({"alg": "HS256", "typ": "JWT", "kid": KID}, access_claims(),
                  lambda data: hmac.new(pem, data, hashlib.sha256).digest())

    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "Bearer x.y.z", "e30.e30.", "...."])
async def test_garbage_token_is_rejected(verifier: TokenVerifier, token: str) -> None:
    """Anything that is not a JWT is an InvalidTokenError, never another exception."""
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)


async def test_unreachable_jwks_is_unavailable_not_unauthorized(
    server: JwksServer, verifier: TokenVerifier, signing_key
) -> None:
    """When the JWKS cannot be fetched the verdict is "try later" (503), not "bad token"."""
    server.down = True

    with pytest.raises(AwsUnavailableError):
        await verifier.verify(sign(access_claims(), signing_key))


async def test_jwks_server_error_is_unavailable(signing_key) -> None:
    """A 5xx answer from the JWKS endpoint is reported as unavailable."""
    transport = httpx.MockTransport(lambda request: httpx.Response(503, text="busy"))
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID,
                             jwks=JwksCache(JWKS_URL, transport=transport))

    with pytest.raises(AwsUnavailableError):
        await verifier.verify(sign(access_claims(), signing_key))


async def test_jwks_is_fetched_once_for_many_tokens(
    server: JwksServer, verifier: TokenVerifier, signing_key
) -> None:
    """The key set is cached: many verifications cost one fetch."""
    for username in ("alice", "bob", "carol"):
        await verifier.verify(sign(access_claims(username=username), signing_key))

    assert server.fetches == 1


def test_ensure_admin_says_what_the_route_takes() -> None:
    """Anonymous: 401 naming the credentials the route accepts; a user: 403; an admin passes."""
    admin = User(id="a", username="admin", groups=frozenset({"admins"}))
    user = User(id="u", username="alice")

    with pytest.raises(AuthError, match="needs a bearer token or a key"):
        ensure_admin(None, needs="a bearer token or a key")
    with pytest.raises(ForbiddenError):
        ensure_admin(user)
    assert ensure_admin(admin) is admin


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def timed_verifier(server: JwksServer, clock: Clock, *, ttl: float = 3600,
                   min_refresh_interval: float = 30) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=server.cache(
        ttl=ttl, min_refresh_interval=min_refresh_interval, clock=clock))


async def test_unknown_kids_within_the_interval_cost_no_fetch_after_it_one(
    server: JwksServer, signing_key, other_key
) -> None:
    """One fetch per refresh interval at most: a stream of tokens with made-up kids spread
    over the interval costs nothing more; the first unknown kid after it, one refetch."""
    clock = Clock()
    verifier = timed_verifier(server, clock, min_refresh_interval=30)
    await verifier.verify(sign(access_claims(), signing_key))
    assert server.fetches == 1

    for n in range(29):
        clock.now += 1
        with pytest.raises(InvalidTokenError, match="unknown key"):
            await verifier.verify(sign(access_claims(), other_key, kid=f"made-up-{n}"))
    assert server.fetches == 1

    clock.now += 1  # 30 s after the fetch
    server.keys["key-2"] = other_key.public_key()
    user = await verifier.verify(sign(access_claims(), other_key, kid="key-2"))
    assert user.username == "alice"
    assert server.fetches == 2


async def test_removed_key_stops_verifying_after_the_ttl(
    server: JwksServer, signing_key, other_key
) -> None:
    """A key the pool drops keeps verifying from the cache until the set is older than the TTL;
    then the set is fetched again and tokens signed with that key are refused."""
    clock = Clock()
    server.keys["key-2"] = other_key.public_key()
    verifier = timed_verifier(server, clock, ttl=600)
    old_key_token = sign(access_claims(), other_key, kid="key-2")
    await verifier.verify(old_key_token)
    assert server.fetches == 1

    # GIVEN the pool removes key-2
    del server.keys["key-2"]
    # THEN the cached set still holds it until the TTL is up, without a fetch
    clock.now += 599
    await verifier.verify(old_key_token)
    assert server.fetches == 1

    # WHEN the TTL has passed, THEN the set is refetched and key-2 no longer verifies
    clock.now += 1
    with pytest.raises(InvalidTokenError, match="unknown key"):
        await verifier.verify(old_key_token)
    assert server.fetches == 2
    # while the key that stayed goes on verifying from the new set
    await verifier.verify(sign(access_claims(), signing_key))
    assert server.fetches == 2


async def test_stale_keys_keep_verifying_while_the_refetch_fails(
    server: JwksServer, signing_key
) -> None:
    """A JWKS outage after the TTL signs nobody out: the keys in hand keep verifying, and the
    refetch is tried again once per interval, not on every request."""
    clock = Clock()
    verifier = timed_verifier(server, clock, ttl=600, min_refresh_interval=30)
    token = sign(access_claims(), signing_key)
    await verifier.verify(token)

    server.down = True
    clock.now += 600
    for _ in range(5):
        assert (await verifier.verify(token)).username == "alice"
    assert server.fetches == 2  # the first fetch, then one failed refetch

    clock.now += 30
    await verifier.verify(token)
    assert server.fetches == 3

    server.down = False
    clock.now += 30
    await verifier.verify(token)
    assert server.fetches == 4
    clock.now += 599  # fresh again: no fetch until the next TTL
    await verifier.verify(token)
    assert server.fetches == 4


async def test_unreachable_jwks_is_not_fetched_on_every_request(
    server: JwksServer, signing_key
) -> None:
    """With no keys yet and the endpoint down, requests get 503 and cost at most one fetch
    per interval."""
    clock = Clock()
    server.down = True
    verifier = timed_verifier(server, clock, min_refresh_interval=30)
    token = sign(access_claims(), signing_key)

    for _ in range(5):
        with pytest.raises(AwsUnavailableError):
            await verifier.verify(token)
    assert server.fetches == 1

    server.down = False
    clock.now += 30
    assert (await verifier.verify(token)).username == "alice"
    assert server.fetches == 2


async def test_malformed_jwks_is_unavailable(signing_key) -> None:
    """A JWKS answer that is not a key set is a 503 ("try later"), not a crash."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": [{}]}))
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID,
                             jwks=JwksCache(JWKS_URL, transport=transport))

    with pytest.raises(AwsUnavailableError):
        await verifier.verify(sign(access_claims(), signing_key))
MACHINE_ID = "stock-producer-client"


def machine_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a Cognito client-credentials token: no username, sub = client id."""
    now = int(time.time())
    claims = {"sub": MACHINE_ID, "client_id": MACHINE_ID, "token_use": "access",
              "scope": "stocks/ingest", "iss": ISSUER, "iat": now, "exp": now + 600,
              "version": 2}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def doors(server: JwksServer) -> httpx.AsyncClient:
    """An app with a user route and a stocks/ingest machine route, the kit's error rendering
    and a verifier that knows one machine client."""
    app = FastAPI()
    install_problem_handlers(app)
    app.state.verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks=server.cache(),
                                       machine_client_ids=[MACHINE_ID, ""])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"username": user.username}

    @app.post("/ticks")
    async def ticks(machine: Annotated[Machine, Depends(machine_scope("stocks/ingest"))],
                    ) -> dict[str, Any]:
        return {"client_id": machine.client_id, "scopes": sorted(machine.scopes)}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://doors")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_machine_route_takes_machine_tokens_with_the_scope(
    doors: httpx.AsyncClient, signing_key,
) -> None:
    response = await doors.post("/ticks", headers=bearer(sign(machine_claims(
        scope="stocks/read stocks/ingest"), signing_key)))
    assert response.status_code == 200
    assert response.json() == {"client_id": MACHINE_ID,
                               "scopes": ["stocks/ingest", "stocks/read"]}


@pytest.mark.parametrize(("claims", "status", "detail"), [
    (None, 401, "needs a machine client's bearer token"),
    ({"scope": "stocks/read"}, 403, "needs the scope stocks/ingest"),
    ({"scope": None}, 403, "needs the scope stocks/ingest"),
    ({"scope": "stocks/ingestion"}, 403, "needs the scope stocks/ingest"),
    ({"client_id": "other-machine", "sub": "other-machine"}, 401, "another client"),
    ({"client_id": CLIENT_ID, "sub": CLIENT_ID}, 401, "another client"),
    ({"username": "alice", "sub": "alice-sub", "client_id": CLIENT_ID}, 403,
     "not signed-in users"),
    ({"token_use": "id"}, 401, "access token"),
])
async def test_machine_route_refuses_the_rest(doors: httpx.AsyncClient, signing_key,
                                              claims: dict[str, Any] | None, status: int,
                                              detail: str) -> None:
    """401 without a token, for another client's or a non-access token; 403 for a user's
    token and for a machine token without stocks/ingest (exactly: no prefix match)."""
    headers = {} if claims is None else bearer(sign(machine_claims(**claims), signing_key))
    response = await doors.post("/ticks", headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


async def test_user_routes_refuse_machine_tokens(doors: httpx.AsyncClient, signing_key) -> None:
    """A valid machine token on a user route is 403; the user's own token passes; a token
    without a username from the web client is 401 (no such thing as an anonymous user)."""
    machine = await doors.get("/me", headers=bearer(sign(machine_claims(), signing_key)))
    assert machine.status_code == 403
    assert "not machine clients" in machine.json()["detail"]
    user = await doors.get("/me", headers=bearer(sign(access_claims(), signing_key)))
    assert user.json() == {"username": "alice"}
    nameless = await doors.get("/me", headers=bearer(sign(access_claims(username=None),
                                                          signing_key)))
    assert nameless.status_code == 401
