"""Who may call each route: the vocabulary of the declared access tables, and what each
kind of caller must get.

Every service declares, in ``services/<package>/access.py``, an ``ACCESS`` table keyed by
``"METHOD /path"`` (the path as its OpenAPI names it) for every operation it serves; the
health routes every service serves are declared here once (``HEALTH``). ``devkit.access``
collects the tables of every service (the hostile-client suite,
``tests/integration/test_access_matrix.py``, calls each route as every kind of caller in
``Caller``, expecting ``Access.verdict``) and renders the README's "Access" section.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Literal

from shared.cognito import INGEST_SCOPE

Kind = Literal["anyone", "signed_in", "owner", "admin", "machine"]

ADMITTED = None  # a verdict: the request passes authorization (whatever it then answers)


class Caller(StrEnum):
    """The kinds of caller the hostile-client suite sends to every route."""

    nobody = "nobody"  # no Authorization header
    expired = "expired"  # a user token past its exp, signed with the pool's own key
    forged = "forged"  # a user token with valid claims, signed by another key (same kid)
    tampered = "tampered"  # a user's real token with cognito:groups changed, signature kept
    other_client = "other_client"  # a real token of another app client of the same pool
    user = "user"  # a signed-in user (the owner of the resources the path names)
    other_user = "other_user"  # another signed-in user (not the owner)
    admin = "admin"  # a user in the admins group
    machine = "machine"  # a machine client's token (client credentials, scope stocks/ingest)
    # An accepted machine client's token whose scope no route asks for.
    unscoped_machine = "unscoped_machine"

    @property
    def bad_token(self) -> bool:
        return self in (Caller.expired, Caller.forged, Caller.tampered, Caller.other_client)

    @property
    def is_machine(self) -> bool:
        return self in (Caller.machine, Caller.unscoped_machine)


# What the suite's machine caller holds; the scope of the stock producers' app client.
MACHINE_CALLER_SCOPE = INGEST_SCOPE


@dataclass(frozen=True)
class Access:
    """Who may call one route.

    ``anyone``: no credential is looked at. ``signed_in``: any user's token (not a machine's).
    ``owner``: the user the resource belongs to, or an admin; another user gets
    ``other_user`` (403, or 404 where the route must not even confirm the resource exists).
    ``admin``: users in the ``admins`` group. ``machine(scope)``: a machine client's token
    carrying ``scope``; users' tokens are refused. ``also`` names another way in that the
    suite does not exercise (e.g. a calendar link's key), shown in the README.
    """

    kind: Kind
    scope: str | None = None
    other_user: Literal[403, 404] = 403
    also: str = ""

    anyone: ClassVar[Access]
    signed_in: ClassVar[Access]
    owner: ClassVar[Access]
    admin: ClassVar[Access]

    @staticmethod
    def machine(scope: str) -> Access:
        return Access("machine", scope=scope)

    def or_(self, also: str) -> Access:
        """The same rule, with another way in (documented, not a token)."""
        return Access(self.kind, self.scope, self.other_user, also)

    def verdict(self, caller: Caller) -> int | None:
        """The status ``caller`` must get, or ``ADMITTED`` (None) when authorization lets the
        request through: 401 for no or a bad token, 403 for the wrong kind of caller."""
        if self.kind == "anyone":
            return ADMITTED
        if caller is Caller.nobody or caller.bad_token:
            return 401
        if self.kind == "machine":
            if caller is Caller.machine and self.scope == MACHINE_CALLER_SCOPE:
                return ADMITTED
            return 403
        if caller.is_machine:
            return 403  # user routes are not for machine clients
        if caller is Caller.admin:
            return ADMITTED
        if self.kind == "admin":
            return 403
        if self.kind == "owner" and caller is Caller.other_user:
            return self.other_user
        return ADMITTED

    def describe(self) -> str:
        text = {
            "anyone": "anyone",
            "signed_in": "signed-in users",
            "owner": "its owner, admins",
            "admin": "admins",
            "machine": f"machine clients with scope `{self.scope}`",
        }[self.kind]
        return f"{text}, or {self.also}" if self.also else text

    def refusals(self) -> str:
        """What the wrong callers get, as the README's table says it."""
        if self.kind == "anyone":
            return "—"
        parts = ["401 without a valid token"]
        if self.kind == "machine":
            parts.append("403 users' tokens and other scopes")
        elif self.kind == "admin":
            parts.append("403 other users and machines")
        elif self.kind == "owner":
            parts.append("403 other users and machines" if self.other_user == 403
                         else "404 other users; 403 machines")
        else:
            parts.append("403 machines")
        return "; ".join(parts)


Access.anyone = Access("anyone")
Access.signed_in = Access("signed_in")
Access.owner = Access("owner")
Access.admin = Access("admin")

AccessTable = dict[str, Access]

# Served by every service (shared.http.create_app).
HEALTH: AccessTable = {
    "GET /healthz": Access.anyone,
    "GET /readyz": Access.anyone,
}
