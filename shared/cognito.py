"""Cognito for local stacks and tests: user pool, app client, admins group, demo users.

In AWS, Terraform creates the pool; this module converges the emulator to the same shape.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pydantic import BaseModel

from shared.aws import AwsClients
from shared.logging import get_logger

log = get_logger("shared.cognito")

POOL_NAME = "regatta"
CLIENT_NAME = "regatta-web"
ADMINS_GROUP = "admins"


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
    log.info("cognito.ready", user_pool_id=pool_id, client_id=client_id)
    return CognitoIds(user_pool_id=pool_id, client_id=client_id)


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
