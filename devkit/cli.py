"""``regatta``: the developer's daily commands for the local platform.

    regatta up                 start everything (what `make run` calls)
    regatta token alice        sign in and print an access token
    regatta machine-token      print the tick producers' machine token (stocks/ingest)
    regatta queues             queue and DLQ depths
    regatta dlq QUEUE          a queue's DLQ: depth, and the messages waiting
    regatta redrive QUEUE      move a queue's DLQ back to the queue (--max N)
    regatta events             tail every platform event as it is published
    regatta trace [ID]         one trace's spans across processes (no ID: the latest traces)
    regatta produce            send stock ticks to the stock-ingest API

The last two are the stock-ingest service's own commands (``python -m
services.stock_ingest.produce``), declared under ``tools`` in infra/services.yaml: this module
runs them, it does not import them.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any

import typer

from devkit import catalog
from devkit import redrive as redrive_kit
from devkit.cognito import DEMO_USERS, ensure_user_pool, sign_in
from devkit.emulator import EMULATOR_ENV, Emulator, port_in_use
from devkit.provision import provision
from shared.aws import AwsClients
from shared.settings import PlatformSettings
from shared.topology import Resources, dlq_name, load_topology

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".regatta"
LOCAL_ENV = STATE_DIR / "local.env"

# Written by `regatta up` from infra/services.yaml (devkit.catalog), then run by honcho.
PROCFILE = STATE_DIR / "Procfile"

app = typer.Typer(help="Regatta developer commands.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _settings() -> PlatformSettings:
    """Settings from the environment, falling back to what `regatta up` wrote."""
    if LOCAL_ENV.exists():
        for line in LOCAL_ENV.read_text().splitlines():
            key, _, value = line.partition("=")
            if key and not line.startswith("#"):
                os.environ.setdefault(key, value)
    return PlatformSettings.load()


def _lock() -> Any:
    STATE_DIR.mkdir(exist_ok=True)
    handle = open(STATE_DIR / "run.lock", "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "?"
        _fail(f"Regatta is already running here (pid {pid}); stop it with Ctrl-C in its "
              "terminal first.")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


@app.command()
def up() -> None:
    """Start the emulator, provision it, and run every service API and worker."""
    lock = _lock()
    emulator_port = int(os.environ.get("REGATTA_EMULATOR_PORT", "4566"))
    # Every service of infra/services.yaml and the gateway, at $<NAME>_PORT or their default.
    ports = catalog.local_ports()
    services = list(ports)
    busy = [f"{emulator_port} (emulator)"] if port_in_use(emulator_port) else []
    busy += [f"{ports[s]} ({s})" for s in services if port_in_use(ports[s])]
    if busy:
        _fail(f"port {', '.join(busy)} already in use: another copy of Regatta or another "
              "program holds it. Stop it, or choose other ports (see README, 'Local defaults').")
    emulator = Emulator(emulator_port, log_path=STATE_DIR / "emulator.log")
    typer.echo(f"Starting the AWS emulator on {emulator.url} ...")
    emulator.start()
    try:
        os.environ.update(EMULATOR_ENV)
        env = asyncio.run(_provision_local(emulator.url))
        env |= {catalog.port_variable(name): str(port) for name, port in ports.items()}
        LOCAL_ENV.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        PROCFILE.write_text(catalog.procfile(ports))
        _banner(emulator.url, ports, services)
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        honcho = [sys.executable, "-m", "honcho", "start", "-f", str(PROCFILE),
                  "-e", str(LOCAL_ENV)]
        supervise(honcho, cwd=ROOT, env={**os.environ, **env, "PATH": path})
    finally:
        emulator.stop()
        lock.close()
        typer.echo("Regatta stopped.")


def supervise(command: list[str], *, cwd: Path, env: dict[str, str],
              grace: float = 15.0) -> int:
    """Run ``command`` until it exits or this process is told to stop: Ctrl-C, or SIGTERM
    (``kill``, a process manager). Then the child is asked to stop (SIGTERM: honcho stops
    every process it runs), given ``grace`` seconds, and killed after; its exit code."""
    child = subprocess.Popen(command, cwd=cwd, env=env)
    stopping: list[float] = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(time.monotonic())
        with suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() - stopping[0] > grace:
                    child.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()


async def _provision_local(endpoint: str) -> dict[str, str]:
    settings = PlatformSettings(aws_endpoint_url=endpoint)
    async with AwsClients(settings) as aws:
        await provision(aws)
        ids = await ensure_user_pool(aws)
    return {
        **EMULATOR_ENV,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": settings.aws_region,
        "REGATTA_NAME_PREFIX": settings.regatta_name_prefix,
        "COGNITO_USER_POOL_ID": ids.user_pool_id,
        "COGNITO_CLIENT_ID": ids.client_id,
        "COGNITO_MACHINE_CLIENT_IDS": ids.machine_client_id,
        "COGNITO_TOKEN_URL": f"{endpoint.rstrip('/')}/oauth2/token",
        # The tick producers' machine credential (local only), read by `regatta produce`.
        "STOCK_PRODUCER_CLIENT_ID": ids.machine_client_id,
        "STOCK_PRODUCER_CLIENT_SECRET": ids.machine_client_secret,
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console"),
        "REGATTA_TRACE_DIR": os.environ.get("REGATTA_TRACE_DIR", str(STATE_DIR / "traces")),
    }


def _banner(emulator_url: str, ports: dict[str, int], services: list[str]) -> None:
    lines = ["", "Regatta is starting. Services:"]
    declared = catalog.load_services()
    for name in services:
        base = f"http://{catalog.LOCAL_HOST}:{ports[name]}"
        if name == catalog.GATEWAY:
            lines.append(f"  {'web app':<13} {base}/   (every API under its prefix too)")
            continue
        prefix = declared[name].prefix
        lines.append(f"  {name:<13} {base}{prefix}   docs: {base}{prefix}/docs")
    lines += [f"  emulator      {emulator_url}", "", "Demo users (local only):"]
    lines += [f"  {u.username:<6} password {u.password}" + ("  (admins)" if u.admin else "")
              for u in DEMO_USERS]
    lines += ["", "Get a token:  .venv/bin/regatta token alice",
              "Machine token (scope stocks/ingest):  .venv/bin/regatta machine-token",
              "Send ticks:   .venv/bin/regatta produce --count 100", "Stop: Ctrl-C", ""]
    typer.echo("\n".join(lines))


@app.command("provision")
def provision_command() -> None:
    """Create or converge the topology and Cognito at AWS_ENDPOINT_URL (idempotent)."""
    settings = _settings()

    async def run() -> None:
        async with AwsClients(settings) as aws:
            await provision(aws)
            ids = await ensure_user_pool(aws)
            typer.echo(json.dumps(ids.model_dump(), indent=2))

    asyncio.run(run())


@app.command()
def token(
    username: Annotated[str, typer.Argument(help="alice or admin (or any pool user)")] = "alice",
    password: Annotated[str | None, typer.Option(help="defaults to the demo password")] = None,
) -> None:
    """Sign in with USER_PASSWORD_AUTH and print the access token."""
    settings = _settings()
    demo = {u.username: u.password for u in DEMO_USERS}
    secret = password or demo.get(username)
    if secret is None:
        _fail(f"no demo password for {username}; pass --password")

    async def run() -> str:
        async with AwsClients(settings) as aws:
            auth = await sign_in(aws, settings.cognito_client_id, username, secret)
            return str(auth["AccessToken"])

    typer.echo(asyncio.run(run()))


@app.command()
def queues() -> None:
    """Visible / in-flight messages of every queue and its DLQ."""
    settings = _settings()

    async def run() -> None:
        async with AwsClients(settings) as aws:
            resources = await Resources.discover(aws)
            sqs = await aws.client("sqs")
            typer.echo(f"{'queue':<32}{'visible':>9}{'in-flight':>11}{'dlq':>6}")
            for name in load_topology().queues:
                depths = []
                for queue in (name, dlq_name(name)):
                    attrs = (await sqs.get_queue_attributes(
                        QueueUrl=await resources.queue_url(aws, queue),
                        AttributeNames=["ApproximateNumberOfMessages",
                                        "ApproximateNumberOfMessagesNotVisible"],
                    ))["Attributes"]
                    depths.append(attrs)
                typer.echo(f"{name:<32}{depths[0]['ApproximateNumberOfMessages']:>9}"
                           f"{depths[0]['ApproximateNumberOfMessagesNotVisible']:>11}"
                           f"{depths[1]['ApproximateNumberOfMessages']:>6}")

    asyncio.run(run())


@app.command()
def dlq(
    queue: Annotated[str, typer.Argument(help="a queue name from infra/topology.yaml")],
    limit: Annotated[int, typer.Option(min=0, max=10, help="messages to show (0: only the "
                                       "depth, touching no message)")] = 10,
) -> None:
    """Show QUEUE's dead-letter queue: its depth, then up to --limit messages.

    SQS has no peek: showing a message receives it (with visibility 0, so it stays in the DLQ),
    which adds one to its ApproximateReceiveCount. The depth comes from GetQueueAttributes and
    touches nothing; --limit 0 shows only that.
    """
    settings = _settings()
    _known_queue(queue)

    async def run() -> None:
        async with AwsClients(settings) as aws:
            resources = await Resources.discover(aws)
            sqs = await aws.client("sqs")
            name = dlq_name(queue)
            url = await resources.queue_url(aws, name)
            counts = await redrive_kit.depth(sqs, url)
            typer.echo(f"{name}: {counts.visible} waiting, {counts.in_flight} in flight")
            if not limit or not counts.visible + counts.in_flight:
                return
            messages = await redrive_kit.look(sqs, url, limit)
            typer.echo(f"showing {len(messages)}; note: SQS has no peek, so each one shown was "
                       "received once more (its receive count went up by one)", err=True)
            for message in messages:
                typer.echo(json.dumps({"message_id": message.message_id,
                                       "receive_count": message.receive_count,
                                       "group_id": message.group_id,
                                       "attributes": message.attributes,
                                       "body": message.body}))

    asyncio.run(run())


@app.command()
def redrive(
    queue: Annotated[str, typer.Argument(help="a queue name from infra/topology.yaml")],
    max_messages: Annotated[int | None, typer.Option("--max", min=1, help="move at most this "
                                                     "many (default: all)")] = None,
) -> None:
    """Move messages from QUEUE's dead-letter queue back to QUEUE, to be handled again.

    Without --max it starts SQS's message-move task where the endpoint has one (as the
    console's "Start DLQ redrive" does; it reports a count, not ids). With --max, or where
    there is no such task (the local emulator), it receives, sends and deletes: body, message
    attributes and FIFO group are kept, and every moved message is printed with its old and
    new id. Fix the cause first: a message that fails again returns to the DLQ.
    """
    settings = _settings()
    _known_queue(queue)

    async def run() -> redrive_kit.RedriveReport:
        async with AwsClients(settings) as aws:
            resources = await Resources.discover(aws)
            sqs = await aws.client("sqs")
            return await redrive_kit.redrive(
                sqs, dlq_url=await resources.queue_url(aws, dlq_name(queue)),
                dlq_arn=resources.queue_arn(dlq_name(queue)),
                source_url=await resources.queue_url(aws, queue),
                source_arn=resources.queue_arn(queue), limit=max_messages)

    report = asyncio.run(run())
    for moved in report.moved:
        typer.echo(json.dumps({"dlq_message_id": moved.dlq_message_id,
                               "message_id": moved.message_id, "group_id": moved.group_id}))
    summary = {"queue": queue, "from": dlq_name(queue), "method": report.method,
               "moved": report.count}
    if report.task_handle:
        summary |= {"task_status": report.task_status, "task_failure": report.task_failure}
    if report.fallback_reason:
        summary["move_task_unavailable"] = report.fallback_reason
    if report.failed:
        summary["not_moved"] = report.failed
    typer.echo(json.dumps(summary))
    if report.failed or report.task_failure:
        raise typer.Exit(1)


def _known_queue(queue: str) -> None:
    if queue not in load_topology().queues:
        _fail(f"unknown queue {queue}; known: {', '.join(load_topology().queues)}")


@app.command("trace")
def trace_command(
    trace: Annotated[str | None, typer.Argument(help="a trace id (or a traceparent)")] = None,
) -> None:
    """Show one trace's spans across the local processes as a tree (see docs/telemetry.md)."""
    from devkit.traces import show

    try:
        typer.echo("\n".join(show(Path(os.environ.get("REGATTA_TRACE_DIR")
                                        or STATE_DIR / "traces"), trace)))
    except (FileNotFoundError, LookupError, ValueError) as exc:
        _fail(str(exc))


@app.command()
def events(
    seconds: Annotated[float, typer.Option(help="stop after this long (0 = until Ctrl-C)")] = 0,
) -> None:
    """Tail every platform event: subscribes a temporary queue to every standard topic."""
    settings = _settings()

    async def run() -> None:
        async with AwsClients(settings) as aws:
            resources = await Resources.discover(aws)
            sqs, sns = await aws.client("sqs"), await aws.client("sns")
            name = f"{settings.regatta_name_prefix}tail-{uuid.uuid4().hex[:8]}"
            url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
            arn = resources.queue_arn(name.removeprefix(settings.regatta_name_prefix))
            subscriptions = [
                (await sns.subscribe(TopicArn=resources.topic_arn(t), Protocol="sqs",
                                     Endpoint=arn, Attributes={"RawMessageDelivery": "true"},
                                     ReturnSubscriptionArn=True))["SubscriptionArn"]
                for t, topic in load_topology().topics.items() if not topic.fifo
            ]
            typer.echo(f"tailing events on {len(subscriptions)} topics (Ctrl-C to stop)",
                       err=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds if seconds else None
            try:
                while deadline is None or loop.time() < deadline:
                    response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                         WaitTimeSeconds=1)
                    for message in response.get("Messages", []):
                        typer.echo(message["Body"])
                        await sqs.delete_message(QueueUrl=url,
                                                 ReceiptHandle=message["ReceiptHandle"])
            finally:
                for subscription in subscriptions:
                    await sns.unsubscribe(SubscriptionArn=subscription)
                await sqs.delete_queue(QueueUrl=url)

    with suppress(KeyboardInterrupt):
        asyncio.run(run())


def _run_tool(service: catalog.Service, tool: catalog.Tool, args: list[str]) -> None:
    """Run a service's own command (infra/services.yaml, ``tools``) with ``args`` after it."""
    _settings()  # the credentials and ports `regatta up` wrote, into the environment
    env = {**os.environ, catalog.URL_VARIABLE: service.local_url}
    command = [sys.executable if tool.command[0] == "python" else tool.command[0],
               *tool.command[1:], *args]
    code = 0  # Ctrl-C: the command stops (as the command itself does)
    with suppress(KeyboardInterrupt):
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    raise typer.Exit(code)


def _tool_command(service: catalog.Service, tool: catalog.Tool) -> Any:
    def run(ctx: typer.Context) -> None:
        _run_tool(service, tool, ctx.args)

    run.__doc__ = f"{tool.help} ({service.name})"
    return run


# `regatta produce`, `regatta machine-token`, ...: the tools the services declare. Every
# argument (--help too) goes to the service's command.
for _service in catalog.load_services().values():
    for _tool in _service.tools:
        app.command(_tool.name, add_help_option=False,
                    context_settings={"allow_extra_args": True,
                                      "ignore_unknown_options": True})(
            _tool_command(_service, _tool))


if __name__ == "__main__":
    app()
