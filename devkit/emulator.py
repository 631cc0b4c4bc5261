"""The moto server process that stands in for AWS locally and in tests.

Run as ``python -m devkit.emulator -H HOST -p PORT``: moto's application, served with HTTP
keep-alive (see ``serve``), except that DynamoDB requests are handled one at a time (see
``serialize_dynamodb``), a transaction copies only the items it names
(``transactions_cost_their_items``), and FIFO queues hand out messages as SQS does when
consumers die or share a queue (see ``fifo_receive_like_sqs``), a queue's attributes are
computed as they are read (``queue_attributes_on_demand``), and Cognito's token endpoint
answers the OAuth 2.0 client-credentials grant (see ``with_token_endpoint``)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from shared.errors import AwsUnavailableError

# Credentials the emulator accepts; never real ones.
EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class Emulator:
    """A moto server child process on 127.0.0.1; use as a context manager or start/stop."""

    def __init__(self, port: int | None = None, *, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> Emulator:
        """Start the server and wait until it answers; AwsUnavailableError if it does not."""
        if port_in_use(self.port):
            raise AwsUnavailableError(f"port {self.port} is already in use")
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devkit.emulator", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **EMULATOR_ENV},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AwsUnavailableError(f"moto server exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AwsUnavailableError(f"moto server did not answer on {self.url} in {timeout:.0f}s")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serialize_dynamodb() -> None:
    """Handle DynamoDB requests one at a time, as DynamoDB's per-item atomicity requires.

    moto's server answers each request on its own thread and its DynamoDB backend takes no
    lock, so a conditional write is check-then-act across threads (two conditional puts can
    both pass), and TransactWriteItems rolls a cancelled transaction back by restoring a deep
    copy of every table it touched, taken when it started, which erases the writes other
    threads made in between (20 concurrent likes, repeated, counted 21). Other services keep
    their threads, so SQS long polls still do not block anyone.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def serialized(self: DynamoHandler) -> object:
        with lock:
            return call_action(self)

    DynamoHandler.call_action = serialized  # type: ignore[method-assign]


def transactions_cost_their_items() -> None:
    """TransactWriteItems costs what it touches, as in DynamoDB, not what its tables hold.

    moto backs up every table a transaction touches with ``copy.deepcopy`` before it starts,
    to restore them if it is cancelled: a two-item transaction on a 1,000-item table took
    270 ms, holding ``serialize_dynamodb``'s lock, so every DynamoDB call of every service
    waited behind it. Under that lock nothing else writes meanwhile, so copies of the items
    the transaction names are enough to roll it back: tables are "copied" by reference, and
    a cancelled transaction puts back (or deletes) exactly those items.
    """
    import copy

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class TablesByReference:
        """What moto's ``copy`` module name resolves to: tables are not copied."""

        @staticmethod
        def deepcopy(value: object, memo: dict[int, object] | None = None) -> object:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    dynamodb_models.copy = TablesByReference  # type: ignore[attr-defined]
    transact_write_items = DynamoDBBackend.transact_write_items

    def transact(self: DynamoDBBackend, transact_items: list[dict[str, object]]) -> None:
        before: list[tuple[str, dict[str, object], dict[str, object] | None]] = []
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName"))  # type: ignore[union-attr]
                if table is None:
                    continue  # moto's own checks answer for it
                key = op.get("Key") or {  # type: ignore[union-attr]
                    name: op["Item"][name]  # type: ignore[index]
                    for name in (table.hash_key_attr, table.range_key_attr)
                    if name and name in op.get("Item", {})  # type: ignore[union-attr]
                }
                try:
                    item = self.get_item(table.name, key)
                except Exception:  # noqa: S112 - a malformed key: moto's checks answer for it
                    continue
                before.append((table.name, key, item and item.to_json()["Attributes"]))
        try:
            transact_write_items(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(before):
                if attributes is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]


def fifo_receive_like_sqs() -> None:
    """Receive from FIFO queues as SQS does, for consumers that die or run side by side.

    moto's receive loop has four flaws with FIFO queues:

    - it notices that an in-flight message timed out only when the loop reaches it, and skips
      a message while its group has another message marked in flight, so when a consumer dies
      holding several messages of a group, the second comes back before the first;
    - a long poll decides once, when it starts, which groups are in flight, so it never sees
      a group that another consumer frees meanwhile (a second consumer starves);
    - while every visible message belongs to a group in flight, a long poll spins without
      sleeping, burning the emulator's CPU;
    - two receives running at once both read which groups are in flight before either marks
      its messages, so two consumers can hold one group (seen under load: two trend workers
      applied one symbol's events at once and the later one dropped the other's ticks).

    Here a FIFO receive takes one lock for the whole pick-and-mark (without waiting inside it),
    and a FIFO long poll clears the marks of timed-out messages and tries again whenever a
    message arrives, every 0.1 s while visible messages wait for their group to be free, and
    every second otherwise, until its wait time is up.
    """
    from moto.sqs.models import SQSBackend

    receive_message = SQSBackend.receive_message
    receiving = threading.Lock()  # one FIFO receive at a time: moto's group check is not atomic

    def receive(self: SQSBackend, queue_name: str, count: int, wait_seconds_timeout: int,
                visibility_timeout: int, message_attribute_names: list[str] | None = None,
                ) -> object:
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            return receive_message(self, queue_name, count, wait_seconds_timeout,
                                   visibility_timeout, message_attribute_names)
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with receiving:
                pending = queue.pending_messages
                for message in [m for m in pending if m.visible]:
                    pending.discard(message)
                result = receive_message(self, queue_name, count, 0, visibility_timeout,
                                         message_attribute_names)
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result
            with queue._messages_lock:  # notified when a message arrives, not when one is
                # deleted or times out: look again soon while visible messages wait for their
                # group, and every second otherwise.
                queue._messages_lock.wait(min(0.1 if queue.messages else 1.0, remaining))

    SQSBackend.receive_message = receive  # type: ignore[method-assign]


def queue_attributes_on_demand() -> None:
    """A queue's attributes are worked out when read, one by one.

    moto builds every attribute of a queue whenever code asks for one, and SendMessage asks
    for ``ContentBasedDeduplication`` on each message: the three message counts among them
    walk the queue's every message, so a send costs as much as the queue is deep. A queue
    that fills up unconsumed (insights-platform-events while only other services run, as in
    the stock benchmark: 1,337 trend signals) made every SNS delivery to it slower than the
    last, and the emulator spent most of its CPU there (20,000 ticks: 38 s instead of 20).
    Here ``Queue.attributes`` is a read-only mapping that computes only what is read.
    """
    from collections.abc import Iterator, Mapping

    from moto.core.utils import camelcase_to_underscores
    from moto.sqs.models import Queue

    class Attributes(Mapping[str, Any]):
        def __init__(self, queue: Queue) -> None:
            self.queue = queue
            names = list(queue.BASE_ATTRIBUTES)
            if queue.fifo_queue:
                names += queue.FIFO_ATTRIBUTES
            if queue.kms_master_key_id:  # type: ignore[attr-defined]
                names += queue.KMS_ATTRIBUTES
            if queue.policy:
                names.append("Policy")
            if queue.redrive_policy:
                names.append("RedrivePolicy")
            self.names = names

        def __getitem__(self, name: str) -> Any:
            if name not in self.names:
                raise KeyError(name)
            if name == "Policy":
                return self.queue.policy
            if name == "RedrivePolicy":
                return json.dumps(self.queue.redrive_policy)
            value = getattr(self.queue, camelcase_to_underscores(name))
            return str(value).lower() if isinstance(value, bool) else value

        def __iter__(self) -> Iterator[str]:
            return iter(self.names)

        def __len__(self) -> int:
            return len(self.names)

    Queue.attributes = property(Attributes)  # type: ignore[assignment,method-assign]


def model_data_by_service() -> None:
    """``/moto-api/data.json?service=ses`` dumps one service, skipping attributes that fail.

    moto's dump walks every model of every service and reads each attribute; once a session
    holds S3 objects that walk is slow, and an attribute raising anything but TypeError,
    AttributeError or ValueError turns the whole answer into a 500. Tests read sent mail
    (SES) this way, so they ask for that service alone.
    """
    import json
    from urllib.parse import parse_qs, urlparse

    from moto.core.model_instances import model_data
    from moto.moto_api._internal.responses import MotoAPIResponse

    def dump(self: MotoAPIResponse, request: object, full_url: str, headers: object) -> object:
        wanted = set(parse_qs(urlparse(full_url).query).get("service", []))
        results: dict[str, dict[str, list[dict[str, object]]]] = {}
        for service in sorted(model_data):
            if wanted and service not in wanted:
                continue
            results[service] = {}
            for name, model in sorted(model_data[service].items()):
                instances = results[service][name] = []
                for instance in model.instances_tracked:  # type: ignore[attr-defined]
                    fields: dict[str, object] = {}
                    for attr in dir(instance):
                        if attr.startswith("_"):
                            continue
                        try:
                            value = getattr(instance, attr)
                            json.dumps(value)
                        except Exception:  # noqa: S112 - an attribute that cannot be dumped
                            continue
                        fields[attr] = value
                    instances.append(fields)
        return 200, {"Content-Type": "application/json"}, json.dumps(results)

    MotoAPIResponse.model_data = dump  # type: ignore[method-assign]


TOKEN_PATH = "/oauth2/token"
_TOKEN_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _oauth_error(status: int, error: str, description: str,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": error, "error_description": description}).encode()
    return status, {"Content-Type": "application/json", "Cache-Control": "no-store",
                    **(headers or {})}, body


def _find_client(client_id: str) -> tuple[Any, Any] | None:
    """The (user pool, app client) of ``client_id`` in any account and region moto holds."""
    from moto.cognitoidp.models import cognitoidp_backends

    for regions in list(cognitoidp_backends.values()):
        for backend in list(regions.values()):
            for pool in list(backend.user_pools.values()):
                client = pool.clients.get(client_id)
                if client is not None:
                    return pool, client
    return None


def client_credentials_grant(form: dict[str, list[str]], authorization: str | None,
                             ) -> tuple[int, dict[str, str], bytes]:
    """Cognito's token endpoint for ``grant_type=client_credentials`` over moto's user pools.

    The client authenticates with HTTP Basic (``client_id:client_secret``) or with the form's
    ``client_id`` and ``client_secret``. It must have a secret, the ``client_credentials``
    OAuth flow and every requested scope among its AllowedOAuthScopes, each defined by a
    resource server of its pool; no ``scope`` means all of its allowed scopes, as in Cognito.
    The access token is signed with the pool's own key (the one whose JWKS moto serves) and
    carries Cognito's claims for a machine: ``sub`` and ``client_id`` are the client id,
    ``scope``, ``token_use`` "access", ``version`` 2, and no ``username``.
    """
    import base64
    import hmac
    import uuid
    from urllib.parse import unquote_plus

    from joserfc import jwt as jose_jwt

    def field(name: str) -> str | None:
        values = form.get(name)
        return values[0] if values else None

    basic = False
    client_id, secret = field("client_id"), field("client_secret")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return _oauth_error(401, "invalid_client", "use HTTP Basic client authentication",
                                {"WWW-Authenticate": 'Basic realm="token"'})
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "malformed Basic credentials",
                                {"WWW-Authenticate": 'Basic realm="token"'})
        user, sep, password = decoded.partition(":")
        if not sep:
            return _oauth_error(401, "invalid_client", "malformed Basic credentials",
                                {"WWW-Authenticate": 'Basic realm="token"'})
        client_id, secret, basic = unquote_plus(user), unquote_plus(password), True
    grant = field("grant_type")
    if grant is None:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type",
                            "this endpoint issues client_credentials grants only")
    found = _find_client(client_id) if client_id else None
    if found is None or not found[1].generate_secret or not secret or not hmac.compare_digest(
            secret.encode(), found[1].secret.encode()):
        return _oauth_error(401 if basic else 400, "invalid_client",
                            "unknown client or wrong secret",
                            {"WWW-Authenticate": 'Basic realm="token"'} if basic else None)
    pool, client = found
    config = client.extended_config
    if not config.get("AllowedOAuthFlowsUserPoolClient") or \
            "client_credentials" not in config.get("AllowedOAuthFlows", []):
        return _oauth_error(400, "unauthorized_client",
                            "the client may not use the client_credentials flow")
    allowed = list(config.get("AllowedOAuthScopes", []))
    defined = {f"{server.identifier}/{scope['ScopeName']}"
               for server in pool.resource_servers.values() for scope in server.scopes or []}
    requested = (field("scope") or "").split() or [s for s in allowed if s in defined]
    unknown = [s for s in requested if s not in allowed or s not in defined]
    if unknown or not requested:
        return _oauth_error(400, "invalid_scope",
                            f"scope not allowed for this client: {' '.join(unknown) or '(none)'}")
    units = config.get("TokenValidityUnits", {}).get("AccessToken", "hours")
    expires_in = int(config.get("AccessTokenValidity", 1 if units == "hours" else 60)) * \
        _TOKEN_UNITS.get(units, 3600)
    now = int(time.time())
    claims = {
        "sub": client.id,
        "token_use": "access",
        "scope": " ".join(dict.fromkeys(requested)),
        "auth_time": now,
        "iss": f"https://cognito-idp.{pool.region}.amazonaws.com/{pool.id}",
        "exp": now + expires_in,
        "iat": now,
        "version": 2,
        "jti": str(uuid.uuid4()),
        "client_id": client.id,
    }
    # kid "dummy" is the one moto's jwks-public.json names for the pool's key.
    token = jose_jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, pool.json_web_key)
    body = json.dumps({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})
    return 200, {"Content-Type": "application/json", "Cache-Control": "no-store",
                 "Pragma": "no-cache"}, body.encode()


def with_token_endpoint(app: Any) -> Any:
    """``app`` (moto's WSGI application) plus Cognito's ``POST /oauth2/token``.

    moto implements the user pool API (pools, clients with secrets and OAuth scopes, resource
    servers) but not the hosted domain's token endpoint, which machines use for OAuth 2.0
    client credentials. In AWS that endpoint is ``https://<domain>.auth.<region>
    .amazoncognito.com/oauth2/token``; here it is this server's ``/oauth2/token``.
    """
    from urllib.parse import parse_qs

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != TOKEN_PATH:
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            status, headers, body = _oauth_error(405, "invalid_request", "use POST",
                                                 {"Allow": "POST"})
        elif not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            status, headers, body = _oauth_error(
                400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(min(length, 64 * 1024)).decode("latin-1")
            status, headers, body = client_credentials_grant(
                parse_qs(raw), environ.get("HTTP_AUTHORIZATION"))
        reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized",
                   405: "Method Not Allowed"}
        start_response(f"{status} {reasons[status]}",
                       [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]

    return application


# The AWS services the platform calls (moto's backend names).
PLATFORM_SERVICES = ("cognitoidp", "dynamodb", "s3", "ses", "sns", "sqs", "sts")


def collect_new_objects_only() -> None:
    """Full garbage collections walk only what was created since the last one.

    A full (generation 2) collection walks every object the collector tracks: moto's models
    and botocore's API descriptions, then every table item, message and user the emulator
    holds, and it stops every thread of the server meanwhile: up to 130 ms in the meetings
    benchmark (measured with ``gc.callbacks``), a tail every service saw. Here what is loaded
    at start, and whatever survives a full collection afterwards, is moved to the permanent
    generation (``gc.freeze``), so the next full collection looks at newer objects alone.
    Cycles among frozen objects that later become garbage are never freed: the emulator
    stores state that lives as long as it does, and it is restarted per test session.
    """
    import gc

    from moto.backends import get_backend

    for name in PLATFORM_SERVICES:  # loaded now rather than on their first request
        get_backend(name)  # type: ignore[arg-type]
    gc.collect()
    gc.freeze()

    def freeze_survivors(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(freeze_survivors)


def keep_alive_limit(most: int = 4096) -> int:
    """How many idle connections the emulator keeps open: half the open files this process
    may have (the rest for connections in use, the threads and moto), at most ``most``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(10, min(most, soft // 2)) if soft != resource.RLIM_INFINITY else most


def serve(host: str, port: int, *, threads: int = 128) -> None:
    """moto's WSGI application on cheroot, until SIGTERM or Ctrl-C.

    ``moto_server`` runs werkzeug's development server, which closes the connection after
    every response: each AWS call opened a TCP connection and the server started a thread for
    it (a fifth of a service's CPU went into connecting). cheroot keeps connections alive and
    serves them from a pool; idle connections wait in a selector, not on a thread. The pool is
    large because an SQS long poll holds its thread for up to 20 s. Idle connections are closed
    after 60 s, later than aiobotocore (12 s) and httpx (5 s) give them up, so a client never
    reuses a connection the server is closing. cheroot keeps only ten idle connections by
    default and closes the others after their response: with a few processes running, most
    calls connected again (a recipes API read 10 % of its CPU in connecting while another
    process held the ten), so the limit is raised to what the file descriptors allow
    (`keep_alive_limit`). (werkzeug kept the spelling of header names with underscores for
    S3 metadata; behind cheroot ``x-amz-meta-a_b`` reads as ``a-b``.)
    """
    from cheroot.wsgi import Server
    from moto.server import DomainDispatcherApplication, create_backend_app

    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds some URLs from it
    app = with_token_endpoint(DomainDispatcherApplication(create_backend_app))
    collect_new_objects_only()
    server = Server((host, port), app, numthreads=threads, max=threads, timeout=60,
                    request_queue_size=256, server_name="regatta-emulator")
    server.keep_alive_conn_limit = keep_alive_limit()

    def leave(*_: object) -> None:
        # A graceful stop waits for every request in flight, an SQS long poll for up to 20 s,
        # and the emulator keeps nothing that needs flushing.
        os._exit(0)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    server.safe_start()


def main(argv: list[str] | None = None) -> None:
    """Serve moto with DynamoDB requests serialized, transactions that copy only their items,
    FIFO receives as in SQS, and a per-service data dump."""
    parser = argparse.ArgumentParser(prog="python -m devkit.emulator", description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    args = parser.parse_args(argv)
    serialize_dynamodb()
    transactions_cost_their_items()
    fifo_receive_like_sqs()
    queue_attributes_on_demand()
    model_data_by_service()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
