"""Pytest fixtures for the whole platform: an emulator, a provisioned topology, real tokens.

Enable in a ``conftest.py`` with ``pytest_plugins = ["devkit.testing"]``. Everything talks to a
real moto server process over HTTP; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from devkit.cognito import DEMO_USERS, DemoUser, ensure_user_pool, sign_in
from devkit.emulator import EMULATOR_ENV, Emulator, free_port
from devkit.provision import provision
from shared.aws import AwsClients
from shared.cognito import INGEST_SCOPE, ClientCredentialsAuth, client_credentials_token
from shared.faults import ENV_VAR as FAULT_POINTS_ENV
from shared.settings import PlatformSettings
from shared.topology import Resources

ROOT = Path(__file__).resolve().parent.parent

# A second regular user, so tests can tell "the author" from "someone else".
BOB = DemoUser(username="bob", password="Regatta-bob-1", email="bob@example.com")


@dataclass
class LocalStack:
    """A running emulator with the topology and Cognito provisioned."""

    emulator: Emulator
    settings: PlatformSettings
    resources: Resources
    users: dict[str, DemoUser] = field(default_factory=dict)
    # The tick producers' machine client (client credentials, scope stocks/ingest).
    machine_client_id: str = ""
    machine_client_secret: str = ""

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a service process at this stack."""
        return {
            **EMULATOR_ENV,
            "AWS_ENDPOINT_URL": self.emulator.url,
            "AWS_REGION": self.settings.aws_region,
            "REGATTA_NAME_PREFIX": self.settings.regatta_name_prefix,
            "COGNITO_USER_POOL_ID": self.settings.cognito_user_pool_id,
            "COGNITO_CLIENT_ID": self.settings.cognito_client_id,
            "COGNITO_MACHINE_CLIENT_IDS": ",".join(self.settings.cognito_machine_client_ids),
            # Named, so what a local `regatta up` wrote (which `regatta` falls back to) cannot
            # point a test's producer at another emulator.
            "COGNITO_TOKEN_URL": f"{self.emulator.url.rstrip('/')}/oauth2/token",
            "LOG_FORMAT": "json",
            "WORKER_WAIT_TIME_SECONDS": "1",
            "WORKER_STOP_TIMEOUT": "10",
            # The suites and benchmarks send many requests from 127.0.0.1; the test of the
            # limits themselves starts its API with them on.
            "RATE_LIMITS_ENABLED": "false",
        }

    @property
    def producer_env(self) -> dict[str, str]:
        """``env`` plus the producers' machine credential (what `regatta produce` reads)."""
        return {**self.env, "STOCK_PRODUCER_CLIENT_ID": self.machine_client_id,
                "STOCK_PRODUCER_CLIENT_SECRET": self.machine_client_secret}


async def start_local_stack(emulator: Emulator, users: tuple[DemoUser, ...]) -> LocalStack:
    """Provision the topology and Cognito on a started emulator."""
    os.environ.update(EMULATOR_ENV)
    settings = PlatformSettings(aws_endpoint_url=emulator.url)
    async with AwsClients(settings) as aws:
        resources = await provision(aws)
        ids = await ensure_user_pool(aws, users)
    settings = PlatformSettings(
        aws_endpoint_url=emulator.url,
        cognito_user_pool_id=ids.user_pool_id,
        cognito_client_id=ids.client_id,
        cognito_machine_client_ids=[ids.machine_client_id],
    )
    return LocalStack(emulator, settings, Resources(settings, resources.account_id),
                      {u.username: u for u in users}, ids.machine_client_id,
                      ids.machine_client_secret)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A moto server process for the whole test session."""
    log_path = tmp_path_factory.mktemp("emulator") / "moto.log"
    with Emulator(log_path=log_path) as server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def stack(emulator: Emulator) -> LocalStack:
    """The emulator with every topology resource and the demo users (plus bob)."""
    return await start_local_stack(emulator, (*DEMO_USERS, BOB))


@pytest_asyncio.fixture(scope="session")
async def aws(stack: LocalStack) -> AsyncIterator[AwsClients]:
    """Clients the tests use to look at (or poke) the emulator directly."""
    async with AwsClients(stack.settings) as clients:
        yield clients


@pytest_asyncio.fixture(scope="session")
async def tokens(stack: LocalStack, aws: AwsClients) -> dict[str, str]:
    """Real Cognito access tokens by username: alice, bob (users) and admin (admins group)."""
    result = {}
    for user in stack.users.values():
        auth = await sign_in(aws, stack.settings.cognito_client_id, user.username, user.password)
        result[user.username] = auth["AccessToken"]
    return result


@pytest_asyncio.fixture
async def machine_token(stack: LocalStack) -> str:
    """A real machine access token (client credentials, scope stocks/ingest) from the
    emulator's token endpoint, as tick producers get one; cached until near expiry."""
    return await client_credentials_token(stack.settings.cognito_token_url,
                                          stack.machine_client_id, stack.machine_client_secret,
                                          INGEST_SCOPE)


def machine_auth(stack: LocalStack) -> httpx.Auth:
    """httpx auth for an AsyncClient that posts ticks as the producers' machine client."""
    return ClientCredentialsAuth(stack.settings.cognito_token_url, stack.machine_client_id,
                                 stack.machine_client_secret, INGEST_SCOPE)


def auth_header(token: str) -> dict[str, str]:
    """``Authorization: Bearer`` header for a token."""
    return {"Authorization": f"Bearer {token}"}


class ServiceProcess:
    """A service API (uvicorn) or worker running as a child process against a stack."""

    def __init__(self, args: list[str], env: dict[str, str], *, port: int | None = None,
                 log_path: Path | None = None, cwd: Path = ROOT) -> None:
        self.args = args
        self.env = {**os.environ, **env}
        self.cwd = cwd  # another checkout's, to run its code (bench/paired_recipes.py)
        self.port = port
        self.url = f"http://127.0.0.1:{port}" if port else ""
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def api(cls, app: str, env: dict[str, str], **kwargs: Any) -> ServiceProcess:
        """``uvicorn <app>`` on a free port, e.g. ``services.recipes.main:app``."""
        port = free_port()
        args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log"]
        return cls(args, env, port=port, **kwargs)

    @classmethod
    def gateway(cls, env: dict[str, str], apis: dict[str, ServiceProcess], web_dist: Path,
                **kwargs: Any) -> ServiceProcess:
        """The local gateway (``devkit.gateway``) on a free port, forwarding to ``apis`` (by
        service name, e.g. ``media-jobs``: each one's port as ``MEDIA_JOBS_PORT``) and serving
        the built web app from ``web_dist``: the one origin a browser uses."""
        ports = {f"{name.upper().replace('-', '_')}_PORT": str(api.port)
                 for name, api in apis.items()}
        return cls.api("devkit.gateway:app",
                       {**env, **ports, "GATEWAY_WEB_DIST": str(web_dist)}, **kwargs)

    @classmethod
    def worker(cls, module: str, env: dict[str, str], **kwargs: Any) -> ServiceProcess:
        """``python -m <module>``, e.g. ``services.recipes.worker``."""
        return cls([sys.executable, "-m", module], env, **kwargs)

    def start(self, timeout: float = 90.0) -> ServiceProcess:
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=output,
                                        stderr=subprocess.STDOUT)
        if self.port:
            try:
                self._wait_ready(timeout)
            except RuntimeError:
                self.stop()  # never leave a process behind that no `with` will stop
                raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.args} exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.args} not ready after {timeout}s")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FaultDrill:
    """A service process started with fault points armed (``shared.faults``), expected to
    die at one of them, then restarted unarmed: the same command, so an API answers on the
    same URL again. For tests that prove a crash right after a commit loses nothing::

        api = ServiceProcess.api("services.meetings.main:app", stack.env, log_path=log)
        with FaultDrill(api, "meetings.decide.committed") as drill:
            with pytest.raises(httpx.TransportError):   # it dies before it answers
                await http.patch(f"{drill.url}/meetings/{meeting_id}", ...)
            drill.killed()                              # by that fault point, nothing else
            drill.restart()
            ...                                         # the change is there, its event too
    """

    def __init__(self, process: ServiceProcess, points: str) -> None:
        self.process = process
        self.points = points
        self._unarmed = {k: v for k, v in process.env.items() if k != FAULT_POINTS_ENV}
        process.env = {**self._unarmed, FAULT_POINTS_ENV: points}

    @property
    def url(self) -> str:
        return self.process.url

    def start(self, timeout: float = 90.0) -> FaultDrill:
        """Start the armed process (an API: until it is ready)."""
        self.process.start(timeout)
        return self

    def killed(self, timeout: float = 90.0) -> None:
        """Wait until the armed process dies, and check a fault point killed it: SIGKILL, and
        (with a log) the ``fault.triggered`` line naming one of the armed points."""
        code = self.process.wait(timeout)
        assert code == -signal.SIGKILL, f"{self.process.args} exited with {code}, not a fault"
        if self.process.log_path:
            log = self.process.log_path.read_text(errors="replace")
            names = {p.strip().partition("@")[0] for p in self.points.split(",")}
            assert any(f'"point": "{n}"' in log for n in names), f"no fault.triggered for {names}"

    def restart(self, timeout: float = 90.0,
                env: dict[str, str] | None = None) -> ServiceProcess:
        """Start the process again with no fault point armed (``env``: variables to change)."""
        self.process.env = {**self._unarmed, **(env or {})}
        return self.process.start(timeout)

    def __enter__(self) -> FaultDrill:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.process.stop()


async def read_all(operation: Any, **request: Any) -> list[dict[str, Any]]:
    """Every item of a paginated DynamoDB ``scan`` or ``query`` (``operation``, a client's
    bound method) called with ``request``, page after page, as DynamoDB items. For tests and
    benchmarks that check a table's whole contents; services never scan."""
    items: list[dict[str, Any]] = []
    while True:
        response = await operation(**request)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            return items
        request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


async def create_table(aws: AwsClients, name: str, hash_key: str,
                       range_key: str | None = None) -> str:
    """Create the on-demand table ``name`` keyed by the string attributes ``hash_key`` (and
    ``range_key``), for a test that needs a table of its own beside the topology's."""
    keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
    dynamodb = await aws.client("dynamodb")
    await dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key, _ in keys],
        KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys])
    return name


@asynccontextmanager
async def throwaway_table(aws: AwsClients, prefix: str, hash_key: str,
                          range_key: str | None = None) -> AsyncIterator[str]:
    """A table of its own for one test (`create_table`), named ``<prefix>-<random>`` and
    deleted afterwards::

        async with throwaway_table(aws, "test-ledger", "pk", "sk") as table: ...
    """
    name = await create_table(aws, f"{prefix}-{uuid.uuid4().hex[:12]}", hash_key, range_key)
    try:
        yield name
    finally:
        await (await aws.client("dynamodb")).delete_table(TableName=name)


async def eventually(check: Any, *, timeout: float = 15.0, interval: float = 0.2) -> Any:
    """Await ``check()`` until it returns a truthy value or raises no AssertionError."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"condition still false after {timeout}s")
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval)


async def queue_depth(aws: AwsClients, resources: Resources, queue: str) -> dict[str, int]:
    """Visible and in-flight message counts of a topology queue (or its DLQ)."""
    sqs = await aws.client("sqs")
    url = await resources.queue_url(aws, queue)
    attrs = (await sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ))["Attributes"]
    return {"visible": int(attrs["ApproximateNumberOfMessages"]),
            "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}


class EventTap:
    """A throwaway queue subscribed to a topology topic that keeps every event published
    meanwhile, for tests that assert on what a service published::

        async with EventTap.open(aws, stack.resources, "media-events") as tap:
            ...
            (completed,) = await tap.settled(guid)

    Services publish through their outbox relay, a moment after the commit: assert on what
    arrived with ``settled`` (waits for the events, then for a quiet spell that would show a
    duplicate), or drain inside ``eventually``; a bare ``drain`` right after a change races
    the relay. ``raw=False`` keeps SNS's envelope (what e-mail and HTTP subscribers get).
    """

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs = sqs
        self.url = url
        self.received: list[tuple[dict[str, Any], dict[str, Any]]] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, aws: AwsClients, resources: Resources, topic: str, *,
                   raw: bool = True) -> AsyncIterator[EventTap]:
        """Subscribe a new queue to ``topic``; unsubscribed and deleted on exit."""
        sqs, sns = await aws.client("sqs"), await aws.client("sns")
        fifo = topic.endswith(".fifo")
        name = f"tap-{uuid.uuid4().hex[:12]}{'.fifo' if fifo else ''}"
        url = (await sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"}
                                      if fifo else {}))["QueueUrl"]
        arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
               )["Attributes"]["QueueArn"]
        subscription = await sns.subscribe(
            TopicArn=resources.topic_arn(topic), Protocol="sqs", Endpoint=arn,
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
            ReturnSubscriptionArn=True)
        try:
            yield cls(sqs, url)
        finally:
            await sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
            await sqs.delete_queue(QueueUrl=url)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event kept so far (JSON bodies), in arrival order."""
        return [event for event, _ in self.received]

    async def drain(self, wait: int = 0) -> list[dict[str, Any]]:
        """Receive until a receive (long-polling ``wait`` seconds) comes back empty; the new
        events, also kept."""
        new: list[tuple[dict[str, Any], dict[str, Any]]] = []
        while True:
            response = await self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                MessageAttributeNames=["All"])
            messages = response.get("Messages", [])
            if not messages:
                self.received += new
                return [event for event, _ in new]
            new += [(json.loads(m["Body"]), m.get("MessageAttributes", {})) for m in messages]
            await self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)])

    def about(self, subject: str) -> list[dict[str, Any]]:
        """The events kept so far whose subject is ``subject``, in arrival order."""
        return [event for event in self.events if event.get("subject") == subject]

    async def settled(self, subject: str, count: int = 1, *, timeout: float = 60,
                      quiet: int = 2) -> list[dict[str, Any]]:
        """The events about ``subject`` once ``count`` of them have arrived and nothing more
        came for ``quiet`` seconds (so a duplicate shows); fails after ``timeout``."""
        async def arrived() -> bool:
            await self.drain(wait=1)
            assert len(self.about(subject)) >= count, (subject, self.about(subject))
            return True

        await eventually(arrived, timeout=timeout)
        while await self.drain(wait=quiet):
            pass
        return self.about(subject)


def armed(env: dict[str, str], point: str, nth: int = 1) -> dict[str, str]:
    """``env`` with fault point ``point`` armed: a process started with it dies by SIGKILL
    the ``nth`` time it reaches that point (see shared.faults)."""
    return {**env, "REGATTA_FAULT_POINTS": f"{point}@{nth}"}
