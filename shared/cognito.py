"""Cognito from a machine's side: OAuth 2.0 client credentials (`client_credentials_token`,
`ClientCredentialsAuth`) and the scope machines ask for.

Terraform creates the pool in AWS, and ``devkit.cognito`` converges the emulator to the same
shape: a machine app client with a secret that may ask for the resource server ``stocks``'
scope ``ingest`` (``stocks/ingest``) with the client-credentials flow, the credential of tick
producers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass

import httpx

from shared.errors import UpstreamError

# Machines: the resource server and scope that POST /stocks/ticks requires (client
# credentials; Terraform: modules/auth).
STOCKS_RESOURCE_SERVER = "stocks"
INGEST_SCOPE = f"{STOCKS_RESOURCE_SERVER}/ingest"


class TokenEndpointError(UpstreamError):
    """The token endpoint refused the client's credentials or scope, or could not be reached.

    ``status`` is the HTTP status (0 when there was no answer); ``error`` the OAuth error code.
    """

    def __init__(self, message: str, *, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class _CachedToken:
    value: str
    expires_at: float  # time.monotonic()


_token_cache: dict[tuple[str, str, str, str], _CachedToken] = {}
# Renew a cached token this long before it expires, so no request carries a token that
# expires on the way.
TOKEN_RENEW_BEFORE = 60.0


async def client_credentials_token(
    token_url: str, client_id: str, client_secret: str, scope: str = INGEST_SCOPE, *,
    client: httpx.AsyncClient | None = None, refresh: bool = False,
) -> str:
    """An access token for a machine client (OAuth 2.0 client credentials), from the cache
    until a minute before it expires.

    ``token_url`` is the pool's token endpoint: ``https://<domain>.auth.<region>
    .amazoncognito.com/oauth2/token`` in AWS, ``<emulator>/oauth2/token`` locally. The client
    authenticates with HTTP Basic. ``refresh`` skips the cache (after a 401, say).
    `TokenEndpointError` when the endpoint refuses or cannot be reached.
    """
    key = (token_url, client_id, client_secret, scope)
    cached = _token_cache.get(key)
    if cached and not refresh and time.monotonic() < cached.expires_at - TOKEN_RENEW_BEFORE:
        return cached.value
    asked_at = time.monotonic()
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=10.0) as own:
                response = await _ask_token(own, token_url, client_id, client_secret, scope)
        else:
            response = await _ask_token(client, token_url, client_id, client_secret, scope)
    except httpx.HTTPError as exc:
        raise TokenEndpointError(f"cannot reach the token endpoint {token_url}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        detail = str(body.get("error_description", "")) if isinstance(body, dict) else ""
        raise TokenEndpointError(
            f"token endpoint answered {response.status_code} {error} {detail}".strip(),
            status=response.status_code, error=error)
    token = _CachedToken(str(body["access_token"]),
                         asked_at + float(body.get("expires_in", 3600)))
    _token_cache[key] = token
    return token.value


async def _ask_token(client: httpx.AsyncClient, token_url: str, client_id: str,
                     client_secret: str, scope: str) -> httpx.Response:
    return await client.post(token_url, data={"grant_type": "client_credentials",
                                               "scope": scope},
                             auth=httpx.BasicAuth(client_id, client_secret))


class ClientCredentialsAuth(httpx.Auth):
    """httpx authentication for a machine client: a bearer token from
    `client_credentials_token` on every request, renewed once when the service answers 401
    (a token the pool rotated its key under, say). For ``httpx.AsyncClient`` only.

        auth = ClientCredentialsAuth(token_url, client_id, client_secret, "stocks/ingest")
        async with httpx.AsyncClient(base_url=url, auth=auth) as client: ...
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str,
                 scope: str = INGEST_SCOPE) -> None:
        if not (token_url and client_id and client_secret):
            raise ValueError("a token URL, client id and client secret are all required")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self._lock = asyncio.Lock()

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:  # concurrent requests share one token request
            return await client_credentials_token(self.token_url, self.client_id,
                                                  self.client_secret, self.scope,
                                                  refresh=refresh)

    def sync_auth_flow(
        self, request: httpx.Request,
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ClientCredentialsAuth works with httpx.AsyncClient only")
        yield request  # pragma: no cover - makes this a generator, as httpx expects

    async def async_auth_flow(
        self, request: httpx.Request,
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        response = yield request
        if response.status_code == 401:
            await response.aread()
            request.headers["Authorization"] = f"Bearer {await self.token(refresh=True)}"
            yield request
