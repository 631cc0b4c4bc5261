"""Every door locked: each operation of every service's OpenAPI, called by every kind of
hostile (and friendly) client, answers what the declared access table says.

All five APIs run as real processes against one emulator stack and verify real Cognito
tokens. The callers (``shared.access.Caller``):

- nobody: no Authorization header;
- expired: alice's real access token with ``iat``/``exp`` moved an hour into the past and
  signed again with the emulator's own signing key (moto's bundled key, the one its JWKS
  publishes; moto ignores the clients' token validity, so a short-lived token cannot be
  asked for): genuine but expired;
- forged: alice's claims, unexpired, with the pool's ``kid``, signed by a key made here;
- tampered: alice's real token with ``cognito:groups`` set to ``["admins"]`` in the payload
  and the original signature kept;
- other_client: alice signed in through a second app client of the same user pool;
- user (alice, who owns every resource a path names), other_user (bob), admin;
- machine: the tick producers' client-credentials token (scope ``stocks/ingest``);
- unscoped_machine: a second machine client's token, which the APIs accept (its id is in
  their ``COGNITO_MACHINE_CLIENT_IDS``), with a scope no route asks for.

Path parameters name real resources (made afresh for every call, by alice or the admin),
bodies are valid, so that a request reaches authorization and an admitted one can succeed.
A route missing from the table fails the test; so does an entry the OpenAPI lacks.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from devkit import access
from devkit.cognito import sign_in
from devkit.testing import LocalStack, ServiceProcess, auth_header
from shared.access import ADMITTED, Caller
from shared.aws import AwsClients
from shared.cognito import INGEST_SCOPE, client_credentials_token

pytestmark = pytest.mark.integration

# Bodies that pass validation, by route: the request must reach authorization.
RECIPE = {"title": "Access soup", "ingredients": [{"description": "1 leek"}],
          "steps": [{"description": "Simmer."}]}


def bodies() -> dict[str, Any]:
    """Fresh for every call: each tick batch names a symbol of its own."""
    return {
        "POST /recipes": RECIPE,
        "PUT /recipes/{recipe_id}": RECIPE,
        "POST /meetings/chat": {"text": "hello"},
        "PATCH /meetings/{meeting_id}": {"status": "rejected"},
        "POST /media/uploads": {"filename": "clip.mp4", "size": 1000},
        "POST /stocks/ticks": {"symbol": f"T{uuid.uuid4().hex[:7].upper()}", "price": 10.5,
                               "timestamp": datetime.now(UTC).isoformat()},
        "POST /insights/events": {"type": "page", "path": "/access"},
        "POST /insights/hits": {"path": "/access"},
    }


# Required query parameters, by route.
QUERIES = {"GET /insights/hits": "?path=/access"}


@dataclass(frozen=True)
class MachineClient:
    client_id: str
    secret: str
    scope: str


@pytest_asyncio.fixture(scope="module")
async def unscoped_machine(stack: LocalStack, aws: AwsClients) -> MachineClient:
    """A second machine client, with a scope of a resource server of its own (one no route
    asks for); the APIs accept its tokens, as they would a second kind of producer's."""
    idp = await aws.client("cognito-idp")
    pool = stack.settings.cognito_user_pool_id
    server = f"access-{uuid.uuid4().hex[:8]}"
    await idp.create_resource_server(UserPoolId=pool, Identifier=server, Name="Access test",
                                     Scopes=[{"ScopeName": "read",
                                              "ScopeDescription": "asked for by no route"}])
    scope = f"{server}/read"
    client = (await idp.create_user_pool_client(
        UserPoolId=pool, ClientName=server, GenerateSecret=True,
        AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=[scope], ExplicitAuthFlows=[]))["UserPoolClient"]
    return MachineClient(client["ClientId"], client["ClientSecret"], scope)


@pytest.fixture(scope="module")
def apis(stack: LocalStack, unscoped_machine: MachineClient,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every service's API as a process against the stack: base URL by service name."""
    logs = tmp_path_factory.mktemp("access")
    env = {**stack.env, "COGNITO_MACHINE_CLIENT_IDS": ",".join(
        [*stack.settings.cognito_machine_client_ids, unscoped_machine.client_id])}
    processes = {
        name: ServiceProcess.api(f"services.{service['package']}.main:app", env,
                                 log_path=logs / f"{name}.log")
        for name, service in access.services().items()
    }
    started: list[ServiceProcess] = []
    try:
        for process in processes.values():
            started.append(process.start())
        yield {name: process.url for name, process in processes.items()}
    finally:
        for process in started:
            process.stop()


def _emulator_key() -> Any:
    """The private key the emulator signs access tokens with (its JWKS has the public half)."""
    return jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"),
                     algorithm="RS256").key


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest_asyncio.fixture(scope="module")
async def callers(stack: LocalStack, aws: AwsClients, tokens: dict[str, str],
                  unscoped_machine: MachineClient) -> dict[Caller, dict[str, str]]:
    """Authorization headers by kind of caller."""
    alice = tokens["alice"]
    header = jwt.get_unverified_header(alice)
    claims = jwt.decode(alice, options={"verify_signature": False})
    now = int(time.time())

    expired = jwt.encode({**claims, "iat": now - 7200, "auth_time": now - 7200,
                          "exp": now - 3600}, _emulator_key(), algorithm="RS256",
                         headers={"kid": header["kid"]})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": header["kid"]})
    head, _, rest = alice.partition(".")
    signature = rest.rpartition(".")[2]
    tampered = f"{head}.{_segment({**claims, 'cognito:groups': ['admins']})}.{signature}"

    # The expired token is genuine (the pool's JWKS verifies its signature) and the forged
    # one is not; both otherwise carry alice's claims.
    async with httpx.AsyncClient(timeout=10) as client:
        jwks = (await client.get(stack.settings.cognito_jwks_url)).json()
    public = {k["kid"]: jwt.PyJWK(k, algorithm="RS256").key for k in jwks["keys"]}
    jwt.decode(expired, public[header["kid"]], algorithms=["RS256"],
               options={"verify_exp": False})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, public[header["kid"]], algorithms=["RS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, public[header["kid"]], algorithms=["RS256"])

    idp = await aws.client("cognito-idp")
    other = await idp.create_user_pool_client(
        UserPoolId=stack.settings.cognito_user_pool_id, ClientName=f"other-{uuid.uuid4().hex[:8]}",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    other_id = other["UserPoolClient"]["ClientId"]
    user = stack.users["alice"]
    other_client = (await sign_in(aws, other_id, user.username, user.password))["AccessToken"]
    assert jwt.decode(other_client, options={"verify_signature": False})["client_id"] == other_id

    machine = await client_credentials_token(stack.settings.cognito_token_url,
                                             stack.machine_client_id,
                                             stack.machine_client_secret, INGEST_SCOPE)
    unscoped = await client_credentials_token(stack.settings.cognito_token_url,
                                              unscoped_machine.client_id,
                                              unscoped_machine.secret, unscoped_machine.scope)
    assert jwt.decode(unscoped, options={"verify_signature": False})["scope"] == \
        unscoped_machine.scope
    return {
        Caller.nobody: {},
        Caller.expired: auth_header(expired),
        Caller.forged: auth_header(forged),
        Caller.tampered: auth_header(tampered),
        Caller.other_client: auth_header(other_client),
        Caller.user: auth_header(alice),
        Caller.other_user: auth_header(tokens["bob"]),
        Caller.admin: auth_header(tokens["admin"]),
        Caller.machine: auth_header(machine),
        Caller.unscoped_machine: auth_header(unscoped),
    }


@pytest_asyncio.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


# Reads what a refused call must have left as it was.
State = Callable[[], Awaitable[Any]]


@dataclass
class Resources:
    """Makes the real resources path parameters name (alice's, or the admin's), each with a
    reader of its state, or None where there is nothing a call could change."""

    http: httpx.AsyncClient
    apis: dict[str, str]
    callers: dict[Caller, dict[str, str]]
    stack: LocalStack
    aws: AwsClients
    day_offset: int = 0

    async def read(self, url: str, caller: Caller = Caller.admin) -> tuple[int, Any]:
        response = await self.http.get(url, headers=self.callers[caller])
        return response.status_code, response.text

    async def recipe_id(self) -> tuple[str, State | None]:
        response = await self.http.post(f"{self.apis['recipes']}/recipes", json=RECIPE,
                                        headers=self.callers[Caller.user])
        assert response.status_code == 201, response.text
        recipe_id = str(response.json()["id"])
        return recipe_id, lambda: self.read(f"{self.apis['recipes']}/recipes/{recipe_id}")

    async def meeting_id(self) -> tuple[str, State | None]:
        # A pending meeting on a weekday of its own, far beyond the other tests' days.
        self.day_offset += 1
        day = datetime.now(UTC).date() + timedelta(days=200 + self.day_offset)
        while day.weekday() >= 5:
            self.day_offset += 1
            day += timedelta(days=1)
        url = f"{self.apis['meetings']}/meetings/chat"
        first = await self.http.post(url, json={"text": (
            f"I'm Ana Lima, book {day:%A}, {day:%B} {day.day}, {day.year} at 10am for 30 "
            f"minutes, ana.{uuid.uuid4().hex[:8]}@example.com")})
        assert first.status_code == 200, first.text
        assert first.json()["dialog"]["state"] == "ConfirmIntent", first.text
        yes = await self.http.post(url, json={"text": "yes",
                                              "session_id": first.json()["session_id"]})
        assert yes.status_code == 200 and yes.json()["meeting"], yes.text
        meeting_id = str(yes.json()["meeting"]["id"])
        return meeting_id, lambda: self.read(f"{self.apis['meetings']}/meetings/{meeting_id}")

    async def link_id(self) -> tuple[str, State | None]:
        response = await self.http.post(f"{self.apis['meetings']}/meetings/calendar/links",
                                        headers=self.callers[Caller.admin])
        assert response.status_code == 201, response.text
        link = response.json()
        feed = f"{self.apis['meetings']}/meetings/calendar.ics?key={link['key']}"

        async def opens() -> int:  # a revoked link's URL answers 401
            return (await self.http.get(feed)).status_code

        return str(link["id"]), opens

    async def guid(self) -> tuple[str, State | None]:
        response = await self.http.post(f"{self.apis['media-jobs']}/media/uploads",
                                        json={"filename": "clip.mp4", "size": 1000},
                                        headers=self.callers[Caller.user])
        assert response.status_code == 201, response.text
        guid = str(response.json()["guid"])
        return guid, lambda: self.read(f"{self.apis['media-jobs']}/media/jobs/{guid}")

    async def path(self) -> tuple[str, State | None]:
        # An output file, as the worker would have written it.
        key = f"access-{uuid.uuid4().hex[:12]}/hls/master.m3u8"
        s3 = await self.aws.client("s3")
        await s3.put_object(Bucket=self.stack.resources.bucket("media-output"), Key=key,
                            Body=b"#EXTM3U\n", ContentType="application/vnd.apple.mpegurl")
        return key, None

    async def symbol(self) -> tuple[str, State | None]:
        return "ACCX", None

    def made_by(self, route: str, body: Any) -> State | None:
        """What the body of a refused create would have made: a tick batch's symbol."""
        if route == "POST /stocks/ticks":
            url = f"{self.apis['stock-ingest']}/stocks/{body['symbol']}/ticks"
            return lambda: self.read(url)
        return None


async def call(http: httpx.AsyncClient, base: str, method: str, path: str,
               params: dict[str, Callable[[], Awaitable[tuple[str, State | None]]]],
               body: Any, headers: dict[str, str], made: State | None,
               ) -> tuple[httpx.Response, list[tuple[str, State, Any]]]:
    """One request, with fresh resources for the path's parameters; returns the answer and
    the reader of each resource (and of what the body would make) with its state before."""
    states = [("body's creation", made, await made())] if made else []
    for name, make in params.items():
        value, state = await make()
        path = path.replace("{" + name + "}", value)
        if state is not None:
            states.append((name, state, await state()))
    return await http.request(method, base + path, json=body, headers=headers), states


def required_body(operation: dict[str, Any]) -> bool:
    return bool(operation.get("requestBody", {}).get("required"))


async def test_every_operation_answers_every_caller_as_the_table_says(
    apis: dict[str, str], callers: dict[Caller, dict[str, str]], http: httpx.AsyncClient,
    stack: LocalStack, aws: AwsClients, capsys: pytest.CaptureFixture[str],
) -> None:
    resources = Resources(http, apis, callers, stack, aws)
    known = set(bodies())
    undeclared: list[str] = []
    stale: list[str] = []
    wrong: list[str] = []
    unintended_2xx: list[str] = []
    admitted = admitted_2xx = refused = refused_as_declared = reread = cells = operations = 0
    for service, base in apis.items():
        schema = (await http.get(f"{base}{access.services()[service]['prefix']}/openapi.json")
                  ).json()
        table = access.table(service)
        served = set()
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                if method not in ("get", "put", "post", "delete", "patch", "head", "options"):
                    continue
                route = f"{method.upper()} {path}"
                served.add(route)
                rule = table.get(route)
                if rule is None:
                    undeclared.append(f"{service}: {route}")
                    continue
                if required_body(operation) and route not in known:
                    wrong.append(f"{service}: {route} needs a body in this test's bodies()")
                    continue
                required = [p["name"] for p in operation.get("parameters", [])
                            if p.get("required") and p["in"] not in ("path",)
                            and route not in QUERIES]
                assert not required, f"{route}: fill in its required {required}"
                params = {p["name"]: getattr(resources, p["name"])
                          for p in operation.get("parameters", []) if p["in"] == "path"}
                operations += 1
                for caller in Caller:
                    cells += 1
                    body = bodies().get(route)
                    response, states = await call(http, base, method.upper(),
                                                  path + QUERIES.get(route, ""), params,
                                                  body, callers[caller],
                                                  resources.made_by(route, body))
                    status = response.status_code
                    expected = rule.verdict(caller)
                    cell = f"{service}: {route} as {caller}: {status}"
                    assert status < 500, f"{cell} {response.text[:300]}"
                    if expected is ADMITTED:
                        admitted += 1
                        admitted_2xx += 200 <= status < 300
                        if status in (401, 403):
                            wrong.append(f"{cell}, the table admits it: {response.text[:200]}")
                        continue
                    refused += 1
                    if 200 <= status < 300:
                        unintended_2xx.append(cell)
                    elif status != expected:
                        wrong.append(f"{cell}, expected {expected}: {response.text[:200]}")
                    elif not response.headers.get("content-type", "").startswith(
                            "application/problem+json"):
                        wrong.append(f"{cell} is not problem+json")
                    else:
                        refused_as_declared += 1
                    # Nothing happened behind the refusal: what the call named is as it was,
                    # and what its body would have made does not exist.
                    for name, state, before in states:
                        reread += 1
                        if await state() != before:
                            wrong.append(f"{cell} changed its {name}")
        stale += [f"{service}: {route}" for route in set(table) - served]
    with capsys.disabled():
        print(f"\naccess matrix: {operations} operations x {len(Caller)} callers = {cells} "
              f"calls; {refused} to refuse ({refused_as_declared} refused as declared), "
              f"{admitted} admitted ({admitted_2xx} of them 2xx); resources re-read after a "
              f"refusal: {reread}; unintended 2xx: {len(unintended_2xx)}")
    assert not undeclared, f"routes missing from the access table: {undeclared}"
    assert not stale, f"access table entries no service serves: {stale}"
    assert not unintended_2xx, f"2xx where the table refuses: {unintended_2xx}"
    assert not wrong, "\n".join(wrong)
