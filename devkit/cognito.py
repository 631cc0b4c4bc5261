"""Cognito for local stacks and tests: user pool, app clients, admins group, demo users.

In AWS, Terraform creates the pool (modules/auth); this module converges the emulator to the
same shape: the web app client for users, and a machine app client with a secret that may ask
for ``stocks/ingest`` (``shared.cognito.INGEST_SCOPE``) with the client-credentials flow, the
credential of tick producers.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pydantic import BaseModel

from shared.aws import AwsClients
from shared.cognito import INGEST_SCOPE, STOCKS_RESOURCE_SERVER
from shared.logging import get_logger

log = get_logger("devkit.cognito")

POOL_NAME = "regatta"
CLIENT_NAME = "regatta-web"
ADMINS_GROUP = "admins"
# The app client tick producers authenticate as (client credentials; Terraform: modules/auth).
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
