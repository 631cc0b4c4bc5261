"""Cognito for local stacks and tests: user pool, app clients, admins group, demo users; and
the machines' side of OAuth 2.0 client credentials (`client_credentials_token`,
`ClientCredentialsAuth`).

In AWS, Terraform creates the pool; this module converges the emulator to the same shape:
the web app client for users, and a machine app client with a secret that may ask for the
resource server ``stocks``' scope ``ingest`` (``stocks/ingest``) with the client-credentials
flow, the credential of tick producers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from shared.aws import AwsClients
from shared.errors import UpstreamError
from shared.logging import get_logger

log = get_logger("shared.cognito")

POOL_NAME = "regatta"
CLIENT_NAME = "regatta-web"
ADMINS_GROUP = "admins"
# Machines: the resource server and scope that POST /stocks/ticks requires, and the app
# client tick producers authenticate as (client credentials; Terraform: modules/auth).
STOCKS_RESOURCE_SERVER = "stocks"
INGEST_SCOPE = f"{STOCKS_RESOURCE_SERVER}/ingest"
MACHINE_CLIENT_NAME = "regatta-stock-producer"
MACHINE_TOKEN_MINUTES = 60


class DemoUser(BaseModel):
    username: str
    password: str
    email: str
    admin: bool = False


# Local-only credentials, printed by `make run` and written in the README.
DEMO_USERS = (
    DemoUser(username="alice", password="Regatta-alice-1", email="alice@example.com"),
    DemoUser(username="admin", password="Regatta-admin-1", email="admin@example.com", admin=True),
)


class CognitoIds(BaseModel):
    user_pool_id: str
    client_id: str
    # The tick producers' machine client (client credentials, scope stocks/ingest).
    machine_client_id: str = ""
    machine_client_secret: str = ""


async def ensure_user_pool(aws: AwsClients, users: tuple[DemoUser, ...] = DEMO_USERS) -> CognitoIds:
    """Create the pool, client, group and users unless they exist; returns their ids."""
    idp = await aws.client("cognito-idp")
    pools = await idp.list_user_pools(MaxResults=60)
    pool_id = next((p["Id"] for p in pools["UserPools"] if p["Name"] == POOL_NAME), None)
    if pool_id is None:
        pool = await idp.create_user_pool(
            PoolName=POOL_NAME,
            Policies={"PasswordPolicy": {
                "MinimumLength": 12, "RequireUppercase": True, "RequireLowercase": True,
                "RequireNumbers": True, "RequireSymbols": False,
            }},
            UsernameConfiguration={"CaseSensitive": False},
        )
        pool_id = pool["UserPool"]["Id"]
    clients = await idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
    client_id = next(
        (c["ClientId"] for c in clients["UserPoolClients"] if c["ClientName"] == CLIENT_NAME), None
    )
    if client_id is None:
        client = await idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=CLIENT_NAME,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            GenerateSecret=False,
        )
        client_id = client["UserPoolClient"]["ClientId"]
    with suppress(idp.exceptions.GroupExistsException):
        await idp.create_group(GroupName=ADMINS_GROUP, UserPoolId=pool_id)
    for user in users:
        await ensure_user(idp, pool_id, user)
    machine_id, machine_secret = await ensure_machine_client(idp, pool_id)
    log.info("cognito.ready", user_pool_id=pool_id, client_id=client_id,
             machine_client_id=machine_id)
    return CognitoIds(user_pool_id=pool_id, client_id=client_id, machine_client_id=machine_id,
                      machine_client_secret=machine_secret)


async def ensure_machine_client(idp: Any, pool_id: str) -> tuple[str, str]:
    """The resource server ``stocks`` (scope ``ingest``) and the producers' app client: a
    secret, the client-credentials flow, ``stocks/ingest`` only. Returns (client id, secret)."""
    try:
        await idp.describe_resource_server(UserPoolId=pool_id, Identifier=STOCKS_RESOURCE_SERVER)
    except idp.exceptions.ResourceNotFoundException:
        await idp.create_resource_server(
            UserPoolId=pool_id, Identifier=STOCKS_RESOURCE_SERVER, Name="Stock ingest",
            Scopes=[{"ScopeName": "ingest", "ScopeDescription": "POST /stocks/ticks"}])
    clients = await idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
    client_id = next((c["ClientId"] for c in clients["UserPoolClients"]
                      if c["ClientName"] == MACHINE_CLIENT_NAME), None)
    if client_id is None:
        created = await idp.create_user_pool_client(
            UserPoolId=pool_id, ClientName=MACHINE_CLIENT_NAME, GenerateSecret=True,
            AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthScopes=[INGEST_SCOPE], ExplicitAuthFlows=[],
            AccessTokenValidity=MACHINE_TOKEN_MINUTES,
            TokenValidityUnits={"AccessToken": "minutes"})
        client = created["UserPoolClient"]
    else:
        client = (await idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
                  )["UserPoolClient"]
    return client["ClientId"], client["ClientSecret"]


async def ensure_user(idp: Any, pool_id: str, user: DemoUser) -> None:
    """Create a confirmed user with a permanent password (and group) unless it exists."""
    with suppress(idp.exceptions.UsernameExistsException):
        await idp.admin_create_user(
            UserPoolId=pool_id,
            Username=user.username,
            UserAttributes=[
                {"Name": "email", "Value": user.email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
    await idp.admin_set_user_password(
        UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
    )
    if user.admin:
        await idp.admin_add_user_to_group(
            UserPoolId=pool_id, Username=user.username, GroupName=ADMINS_GROUP
        )


async def sign_in(aws: AwsClients, client_id: str, username: str, password: str) -> dict[str, Any]:
    """USER_PASSWORD_AUTH sign-in; returns Cognito's AuthenticationResult."""
    idp = await aws.client("cognito-idp")
    response = await idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return dict(response["AuthenticationResult"])


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
    ) -> AsyncGenerator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        response = yield request
        if response.status_code == 401:
            await response.aread()
            request.headers["Authorization"] = f"Bearer {await self.token(refresh=True)}"
            yield request
