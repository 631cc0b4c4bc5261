"""Cognito access-token verification and the FastAPI dependencies built on it.

Tokens are RS256 JWTs checked against the user pool's JWKS: signature, ``exp``, issuer,
``token_use == "access"`` and ``client_id``. The key set is fetched once, cached, and fetched
again when a token names an unknown ``kid`` (key rotation) or the cached set is older than its
TTL, at most once per refresh interval (settings ``COGNITO_JWKS_TTL_SECONDS``,
``COGNITO_JWKS_MIN_REFRESH_SECONDS``).

Two kinds of caller hold access tokens. Users sign in through the web app client; their tokens
name a ``username``. Machines (tick producers) authenticate as an app client of their own with
OAuth 2.0 client credentials; their tokens have no ``username``, ``sub`` is the client id, and
``scope`` lists what they may do (``stocks/ingest``). User routes (`current_user` and the
dependencies on it) refuse machine tokens with 403; `machine_scope` routes take only machine
tokens carrying their scope, refusing user tokens with 403.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from shared.errors import AuthError, AwsUnavailableError, ForbiddenError, InvalidTokenError
from shared.logging import get_logger

log = get_logger("shared.auth")

ADMINS_GROUP = "admins"


class User(BaseModel):
    """The caller, as the access token describes them."""

    id: str  # Cognito `sub`
    username: str
    groups: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMINS_GROUP in self.groups


class Machine(BaseModel):
    """A machine caller (OAuth 2.0 client credentials), as its access token describes it."""

    client_id: str  # Cognito `client_id` (also `sub`)
    scopes: frozenset[str] = frozenset()


class JwksCache:
    """The user pool's signing keys, fetched lazily and kept for ``ttl`` seconds.

    The set is fetched again when a token names a kid it lacks (key rotation) or once it is
    older than ``ttl`` (so a key the pool removed stops verifying within ``ttl``), but never
    more than once per ``min_refresh_interval``, whatever tokens arrive: a flood of tokens with
    made-up kids costs at most one fetch per interval. When a refetch of a stale set fails, the
    keys in hand keep verifying (logged as ``jwks.refresh_failed``) and the fetch is tried again
    after the interval; with no keys yet, it is AwsUnavailableError (503). ``clock`` gives
    monotonic seconds (injectable for tests), ``transport`` the HTTP transport.
    """

    def __init__(self, url: str, *, ttl: float = 3600.0, min_refresh_interval: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh_interval = min_refresh_interval
        self._transport = transport
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=5.0) as client:
                response = await client.get(self.url)
                response.raise_for_status()
            keys = {
                jwk["kid"]: jwt.PyJWK(jwk, algorithm="RS256").key
                for jwk in response.json().get("keys", [])
            }
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError,
                jwt.PyJWTError) as exc:
            raise AwsUnavailableError(f"cannot fetch JWKS from {self.url}: {exc}") from exc
        self._keys = keys
        self._fetched_at = self._clock()

    def _fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self.ttl

    async def key(self, kid: str) -> Any:
        """The public key for ``kid``; InvalidTokenError if the pool has no such key."""
        if kid in self._keys and self._fresh(self._clock()):
            return self._keys[kid]
        async with self._lock:
            now = self._clock()
            wanted = kid not in self._keys or not self._fresh(now)
            allowed = (self._attempted_at is None
                       or now - self._attempted_at >= self.min_refresh_interval)
            if wanted and allowed:
                self._attempted_at = now
                try:
                    await self._fetch()
                except AwsUnavailableError as exc:
                    if self._fetched_at is None:
                        raise
                    log.warning("jwks.refresh_failed", error=str(exc),
                                retry_in_s=self.min_refresh_interval)
            if self._fetched_at is None:
                raise AwsUnavailableError(f"the JWKS at {self.url} could not be fetched yet")
        if kid not in self._keys:
            raise InvalidTokenError("token signed with an unknown key")
        return self._keys[kid]


class TokenVerifier:
    """Verifies Cognito access tokens for one user pool: user tokens of the web app client
    ``client_id``, machine tokens of the ``machine_client_ids``."""

    def __init__(self, *, issuer: str, client_id: str, jwks: JwksCache, leeway: float = 5.0,
                 machine_client_ids: Iterable[str] = ()):
        self.issuer = issuer
        self.client_id = client_id
        self.machine_client_ids = frozenset(c for c in machine_client_ids if c)
        self.jwks = jwks
        self.leeway = leeway

    async def verify(self, token: str) -> User:
        """The token's user; InvalidTokenError naming the failed check, ForbiddenError for a
        valid machine token (user routes are not for machines)."""
        claims = await self.claims(token)
        if _is_machine(claims):
            raise ForbiddenError("this route is for signed-in users, not machine clients")
        return User(
            id=claims["sub"],
            username=claims["username"],
            groups=frozenset(claims.get("cognito:groups", [])),
        )

    async def verify_machine(self, token: str) -> Machine:
        """The token's machine client; InvalidTokenError naming the failed check,
        ForbiddenError for a valid user token."""
        claims = await self.claims(token)
        if not _is_machine(claims):
            raise ForbiddenError("this route is for machine clients, not signed-in users")
        scope = claims.get("scope", "")
        return Machine(client_id=claims["client_id"],
                       scopes=frozenset(scope.split() if isinstance(scope, str) else ()))

    async def claims(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token (user or machine), or InvalidTokenError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("token is not a JWT") from exc
        if header.get("alg") != "RS256":
            raise InvalidTokenError("token algorithm must be RS256")
        key = await self.jwks.key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("token has expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidTokenError("token issuer is not this user pool") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"token is invalid: {exc}") from exc
        if claims["token_use"] != "access":
            raise InvalidTokenError("an access token is required")
        # A user token comes from the web app client, a machine token from a machine client.
        expected = self.machine_client_ids if _is_machine(claims) else {self.client_id}
        if claims.get("client_id") not in expected:
            raise InvalidTokenError("token was issued to another client")
        return claims


def _is_machine(claims: dict[str, Any]) -> bool:
    """Client-credentials tokens name no user: Cognito's user access tokens always carry
    ``username``; a machine's has none, and its ``sub`` is its client id."""
    return not claims.get("username")


def bearer_token(request: Request) -> str | None:
    """The bearer token of a request (None without an Authorization header); AuthError if
    the header is not `Bearer <token>`."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return token.strip()


# Declares the scheme in OpenAPI (the docs' "Authorize" button); parsing is ours, so a
# malformed header is a 401 rather than silently anonymous.
_bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="JWT",
                            description="A Cognito access token")


async def optional_user(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)] = None,
) -> User | None:
    """The caller if a valid token is present; None for anonymous requests."""
    token = bearer_token(request)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(token)


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """The authenticated caller; 401 without a valid token."""
    if user is None:
        raise AuthError("this route needs a bearer token")
    return user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    """The authenticated caller if they are in the ``admins`` group; 403 otherwise."""
    return ensure_admin(user)


def ensure_admin(user: User | None, *, needs: str = "a bearer token") -> User:
    """``user`` if an admin: AuthError (401) when anonymous, ForbiddenError (403) otherwise.

    For a route that admits other credentials too (``needs`` names what it takes)."""
    if user is None:
        raise AuthError(f"this route needs {needs}")
    if not user.is_admin:
        raise ForbiddenError("this route is for admins")
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]


def machine_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Machine]]:
    """A dependency admitting only machine clients whose token grants ``scope``::

        @router.post("/ticks")
        async def record(machine: Annotated[Machine, Depends(machine_scope("stocks/ingest"))])

    401 without a (valid) token, 403 for a user's token or a machine token without the scope.
    """

    async def dependency(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)] = None,
    ) -> Machine:
        token = bearer_token(request)
        if token is None:
            raise AuthError(f"this route needs a machine client's bearer token with scope {scope}")
        verifier: TokenVerifier = request.app.state.verifier
        machine = await verifier.verify_machine(token)
        if scope not in machine.scopes:
            raise ForbiddenError(f"this route needs the scope {scope}")
        return machine

    dependency.__name__ = f"machine_scope_{scope.replace('/', '_')}"
    return dependency
