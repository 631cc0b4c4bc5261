"""Machine credentials against the emulator: its OAuth 2.0 token endpoint (client credentials
over moto's user pool clients and resource servers) and the kit's verifier with real tokens.

User tokens come from USER_PASSWORD_AUTH sign-in, machine tokens from ``POST /oauth2/token``;
both are verified against the pool's JWKS as the emulator serves it.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest

from devkit.testing import LocalStack
from shared.auth import JwksCache, TokenVerifier
from shared.aws import AwsClients
from shared.cognito import (
    INGEST_SCOPE,
    ClientCredentialsAuth,
    TokenEndpointError,
    client_credentials_token,
)
from shared.errors import ForbiddenError, InvalidTokenError

pytestmark = pytest.mark.integration


def verifier(stack: LocalStack) -> TokenVerifier:
    settings = stack.settings
    return TokenVerifier(issuer=settings.cognito_issuer, client_id=settings.cognito_client_id,
                         machine_client_ids=settings.cognito_machine_client_ids,
                         jwks=JwksCache(settings.cognito_jwks_url))


async def ask(stack: LocalStack, data: dict[str, str], auth: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(stack.settings.cognito_token_url, data=data, auth=auth)


async def test_the_token_endpoint_issues_a_cognito_shaped_machine_token(
    stack: LocalStack,
) -> None:
    """client_credentials with HTTP Basic: a Bearer access token signed with the pool's key
    (its JWKS verifies it) carrying Cognito's machine claims and no username."""
    response = await ask(stack, {"grant_type": "client_credentials", "scope": INGEST_SCOPE},
                         (stack.machine_client_id, stack.machine_client_secret))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    async with httpx.AsyncClient() as client:
        keys = (await client.get(stack.settings.cognito_jwks_url)).json()["keys"]
    header = jwt.get_unverified_header(body["access_token"])
    key = next(jwt.PyJWK(k).key for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(body["access_token"], key, algorithms=["RS256"],
                        issuer=stack.settings.cognito_issuer, options={"verify_aud": False})
    assert claims["sub"] == claims["client_id"] == stack.machine_client_id
    assert (claims["token_use"], claims["scope"], claims["version"]) == (
        "access", INGEST_SCOPE, 2)
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]
    assert "username" not in claims


async def test_client_credentials_in_the_form_work_and_no_scope_means_all_allowed(
    stack: LocalStack,
) -> None:
    response = await ask(stack, {"grant_type": "client_credentials",
                                 "client_id": stack.machine_client_id,
                                 "client_secret": stack.machine_client_secret})
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == INGEST_SCOPE


@pytest.mark.parametrize(("case", "status", "error"), [
    ("wrong secret", 401, "invalid_client"),
    ("unknown client", 401, "invalid_client"),
    ("user app client", 401, "invalid_client"),
    ("scope not allowed", 400, "invalid_scope"),
    ("undefined scope", 400, "invalid_scope"),
    ("password grant", 400, "unsupported_grant_type"),
])
async def test_the_token_endpoint_refuses_what_cognito_refuses(
    stack: LocalStack, case: str, status: int, error: str,
) -> None:
    machine = (stack.machine_client_id, stack.machine_client_secret)
    data = {"grant_type": "client_credentials", "scope": INGEST_SCOPE}
    auth = {
        "wrong secret": (stack.machine_client_id, "not-the-secret"),
        "unknown client": ("no-such-client", stack.machine_client_secret),
        # The web client has no secret: it cannot use client credentials whatever it sends.
        "user app client": (stack.settings.cognito_client_id, ""),
    }.get(case, machine)
    data |= {"scope not allowed": {"scope": f"{INGEST_SCOPE} stocks/admin"},
             "undefined scope": {"scope": "recipes/write"},
             "password grant": {"grant_type": "password"}}.get(case, {})
    response = await ask(stack, data, auth)
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert "access_token" not in response.json()


async def test_a_client_without_the_flow_is_unauthorized(stack: LocalStack,
                                                         aws: AwsClients) -> None:
    """A client with a secret but no client_credentials flow gets no token."""
    idp = await aws.client("cognito-idp")
    created = (await idp.create_user_pool_client(
        UserPoolId=stack.settings.cognito_user_pool_id, ClientName=f"noflow-{uuid.uuid4().hex[:6]}",
        GenerateSecret=True))["UserPoolClient"]
    response = await ask(stack, {"grant_type": "client_credentials", "scope": INGEST_SCOPE},
                         (created["ClientId"], created["ClientSecret"]))
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")


async def test_the_kit_client_caches_the_token_until_near_expiry(stack: LocalStack) -> None:
    url, cid, secret = (stack.settings.cognito_token_url, stack.machine_client_id,
                        stack.machine_client_secret)
    first = await client_credentials_token(url, cid, secret, INGEST_SCOPE)
    assert await client_credentials_token(url, cid, secret, INGEST_SCOPE) == first
    fresh = await client_credentials_token(url, cid, secret, INGEST_SCOPE, refresh=True)
    assert fresh != first
    with pytest.raises(TokenEndpointError) as refused:
        await client_credentials_token(url, cid, "wrong", INGEST_SCOPE)
    assert (refused.value.status, refused.value.error) == (401, "invalid_client")
    with pytest.raises(ValueError, match="required"):
        ClientCredentialsAuth(url, cid, "")


async def test_the_verifier_tells_machines_from_users(stack: LocalStack,
                                                      tokens: dict[str, str],
                                                      machine_token: str) -> None:
    """A machine token is a Machine with its scopes, refused (403) where a user is expected;
    a user token is refused (403) where a machine is expected."""
    check = verifier(stack)
    machine = await check.verify_machine(machine_token)
    assert machine.client_id == stack.machine_client_id
    assert machine.scopes == {INGEST_SCOPE}
    with pytest.raises(ForbiddenError, match="not machine clients"):
        await check.verify(machine_token)
    for name in ("alice", "admin"):
        assert (await check.verify(tokens[name])).username == name
        with pytest.raises(ForbiddenError, match="not signed-in users"):
            await check.verify_machine(tokens[name])


async def test_a_machine_client_not_in_the_setting_is_another_client(
    stack: LocalStack, aws: AwsClients,
) -> None:
    """A second machine client allowed stocks/ingest, but not listed in
    COGNITO_MACHINE_CLIENT_IDS: its valid token is 401, like any other client's."""
    idp = await aws.client("cognito-idp")
    created = (await idp.create_user_pool_client(
        UserPoolId=stack.settings.cognito_user_pool_id, ClientName=f"rogue-{uuid.uuid4().hex[:6]}",
        GenerateSecret=True, AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=[INGEST_SCOPE],
    ))["UserPoolClient"]
    token = await client_credentials_token(stack.settings.cognito_token_url,
                                           created["ClientId"], created["ClientSecret"])
    with pytest.raises(InvalidTokenError, match="another client"):
        await verifier(stack).verify_machine(token)
