"""Who may do what: anonymous, the author, someone else and an admin; and which tokens count.

Tokens are real Cognito access tokens from the emulator; the forged ones are derived from them.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.utilities.utils import load_resource
from recipes_http import create_recipe, recipe_body

from devkit.cognito import sign_in
from devkit.testing import LocalStack, auth_header
from shared.aws import AwsClients

ACTORS = ("anonymous", "alice", "bob", "admin")
# action -> expected status per actor (alice is the author of the recipe acted on)
MATRIX: dict[str, dict[str, int]] = {
    "create": {"anonymous": 401, "alice": 201, "bob": 201, "admin": 201},
    "update": {"anonymous": 401, "alice": 200, "bob": 403, "admin": 200},
    "delete": {"anonymous": 401, "alice": 204, "bob": 403, "admin": 204},
    "like": {"anonymous": 401, "alice": 200, "bob": 200, "admin": 200},
    "unlike": {"anonymous": 401, "alice": 200, "bob": 200, "admin": 200},
    "mine": {"anonymous": 401, "alice": 200, "bob": 200, "admin": 200},
    "read": {"anonymous": 200, "alice": 200, "bob": 200, "admin": 200},
    "list": {"anonymous": 200, "alice": 200, "bob": 200, "admin": 200},
}


async def act(client: httpx.AsyncClient, action: str, rid: str,
              who: dict[str, str]) -> httpx.Response:
    if action == "create":
        return await client.post("/recipes", json=recipe_body(), headers=who)
    if action == "update":
        return await client.put(f"/recipes/{rid}", json=recipe_body(title="Edited"),
                                headers=who)
    if action == "delete":
        return await client.delete(f"/recipes/{rid}", headers=who)
    if action == "like":
        return await client.post(f"/recipes/{rid}/likes", headers=who)
    if action == "unlike":
        return await client.delete(f"/recipes/{rid}/likes", headers=who)
    if action == "mine":
        return await client.get("/recipes/mine", headers=who)
    if action == "read":
        return await client.get(f"/recipes/{rid}", headers=who)
    return await client.get("/recipes", headers=who)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", list(MATRIX))
async def test_permission_matrix(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], action: str, actor: str
) -> None:
    """Each caller gets 401/403/2xx per action as the spec says; refusals change nothing."""
    recipe = await create_recipe(client, headers["alice"])

    response = await act(client, action, recipe["id"], headers[actor])

    expected = MATRIX[action][actor]
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == expected
        after = await client.get(f"/recipes/{recipe['id']}")
        assert after.json() == recipe, "a refused request changed the recipe"


async def test_an_admin_edit_keeps_alice_as_author(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], subs: dict[str, str]
) -> None:
    """An admin may edit someone's recipe; the author stays the author."""
    recipe = await create_recipe(client, headers["alice"])

    response = await client.put(f"/recipes/{recipe['id']}", json=recipe_body(title="By admin"),
                                headers=headers["admin"])

    assert response.status_code == 200
    assert response.json()["author"] == {"id": subs["alice"], "username": "alice"}


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Basic YWxpY2U6c2VjcmV0", "Token abc", "Bearer not-a-jwt",
     "Bearer a.b.c", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.", "Bearer " + "A" * 4000],
)
async def test_malformed_authorization_is_401(client: httpx.AsyncClient, value: str) -> None:
    """A malformed Authorization header is 401, never anonymous access or a 500."""
    for response in (
        await client.post("/recipes", json=recipe_body(), headers={"Authorization": value}),
        await client.get("/recipes/mine", headers={"Authorization": value}),
    ):
        assert response.status_code == 401, (value, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def emulator_signing_key() -> Any:
    """The private key the emulator signs Cognito tokens with (shipped in moto)."""
    return jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"),
                     algorithm="RS256").key


def resign(token: str, key: Any = None, *, kid: str | None = None, **claims: Any) -> str:
    """``token`` with some claims changed, signed again (by the emulator's key by default)."""
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False}) | claims
    return jwt.encode(payload, key or emulator_signing_key(), algorithm="RS256",
                      headers={"kid": kid or header["kid"]})


def tampered(token: str) -> str:
    """``token`` with one byte of its signature flipped."""
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return ".".join([head, body, base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")])


async def status_of(client: httpx.AsyncClient, token: str) -> tuple[int, str]:
    response = await client.get("/recipes/mine", headers=auth_header(token))
    return response.status_code, response.json().get("detail", "")


async def test_resigned_token_control_is_accepted(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """Re-signing alice's token with the pool's key and a later exp is accepted (the control)."""
    assert (await status_of(client, resign(tokens["alice"], exp=int(time.time()) + 600)))[0] \
        == 200


async def test_forged_and_foreign_tokens_are_401(
    client: httpx.AsyncClient, tokens: dict[str, str], stack: LocalStack
) -> None:
    """Tampered, expired, foreign-key, other-issuer, id and unsigned tokens are all 401."""
    alice = tokens["alice"]
    now = int(time.time())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unsigned = jwt.encode(jwt.decode(alice, options={"verify_signature": False}), None,
                          algorithm="none")
    hmac_signed = jwt.encode(jwt.decode(alice, options={"verify_signature": False}),
                             "x" * 32, algorithm="HS256")
    cases = {
        "tampered signature": (tampered(alice), "invalid"),
        "expired": (resign(alice, exp=now - 3600, iat=now - 7200), "expired"),
        "signed by a stranger with the pool's kid": (resign(alice, stranger), "invalid"),
        "unknown kid": (resign(alice, kid="rotated-away"), "unknown key"),
        "other pool": (resign(alice, iss=f"{stack.settings.cognito_issuer}x"), "issuer"),
        "id token use": (resign(alice, token_use="id"), "access token"),
        "other client id": (resign(alice, client_id="someone-else"), "another client"),
        "alg none": (unsigned, "RS256"),
        "alg HS256": (hmac_signed, "RS256"),
    }
    for name, (token, reason) in cases.items():
        status, detail = await status_of(client, token)
        assert status == 401, (name, detail)
        assert reason in detail, (name, detail)


async def test_token_of_another_app_client_is_401(
    client: httpx.AsyncClient, aws: AwsClients, stack: LocalStack
) -> None:
    """A genuine token the pool issued to another app client is refused."""
    idp = await aws.client("cognito-idp")
    other = await idp.create_user_pool_client(
        UserPoolId=stack.settings.cognito_user_pool_id, ClientName="not-regatta-web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )
    alice = stack.users["alice"]
    result = await sign_in(aws, other["UserPoolClient"]["ClientId"], "alice", alice.password)

    status, detail = await status_of(client, result["AccessToken"])

    assert status == 401 and "another client" in detail
    id_status, _ = await status_of(client, result["IdToken"])
    assert id_status == 401


@settings(max_examples=40, deadline=None, database=None)
@given(value=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
       scheme=st.sampled_from(["Bearer ", "bearer ", "", "Basic "]))
def test_any_authorization_value_is_401_never_5xx(
    recipes_api: str, value: str, scheme: str
) -> None:
    """Whatever the Authorization header holds, an authenticated route answers 401."""
    response = httpx.get(f"{recipes_api}/recipes/mine",
                         headers={"Authorization": (scheme + value).strip()}, timeout=30)
    assert response.status_code == 401, response.text
