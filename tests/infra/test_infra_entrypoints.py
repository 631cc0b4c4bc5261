"""The containers' entrypoints, run natively: entrypoint.sh, healthcheck.py, provision.py and
each service's API and worker commands exactly as infra/services.yaml gives them to ECS."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from infra_support import ROOT

from devkit.emulator import EMULATOR_ENV, Emulator, free_port
from shared.topology import dlq_name

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
PROVISION = ROOT / "docker" / "provision.py"


def run_entrypoint(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *command], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=30, check=False)


def native(argv: list[str]) -> list[str]:
    """A container command as this machine runs it: `python` is the test interpreter."""
    head = {"python": sys.executable, "uvicorn": str(Path(sys.executable).parent / "uvicorn")}
    return [head.get(argv[0], argv[0]), *argv[1:]]


def test_entrypoint_execs_the_command() -> None:
    """The command replaces the entrypoint's shell: it is the process ECS signals."""
    process = subprocess.Popen([str(ENTRYPOINT), sys.executable, "-c",
                                "import os; print(os.getpid())"], stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=30)
    assert int(out) == process.pid


def test_entrypoint_loads_the_env_file_without_overriding(tmp_path: Path) -> None:
    """KEY=value lines of REGATTA_ENV_FILE are exported; variables already set win."""
    env_file = tmp_path / "ids.env"
    env_file.write_text("# ids\nCOGNITO_USER_POOL_ID=us-east-1_abc\n\nCOGNITO_CLIENT_ID=from-file\n"
                        "WITH_EQUALS=a=b\n")
    result = run_entrypoint(
        sys.executable, "-c",
        "import os; print(os.environ['COGNITO_USER_POOL_ID'], os.environ['COGNITO_CLIENT_ID'],"
        " os.environ['WITH_EQUALS'])",
        env={"REGATTA_ENV_FILE": str(env_file), "COGNITO_CLIENT_ID": "from-env"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["us-east-1_abc", "from-env", "a=b"]


@pytest.mark.parametrize("content, error", [
    (None, "not readable"),
    ("not a valid line=1\n", "bad line"),
    ("1ABC=x\n", "bad line"),
])
def test_entrypoint_refuses_a_missing_or_bad_env_file(tmp_path: Path, content: str | None,
                                                      error: str) -> None:
    """A missing file or a line that is not KEY=value stops the container with exit 2."""
    env_file = tmp_path / "ids.env"
    if content is not None:
        env_file.write_text(content)
    result = run_entrypoint("true", env={"REGATTA_ENV_FILE": str(env_file)})
    assert result.returncode == 2
    assert error in result.stderr


def test_sigterm_reaches_the_command_through_the_entrypoint() -> None:
    """SIGTERM sent to the container's PID 1 is handled by the service code itself."""
    script = ("import signal, sys, time\n"
              "def drain(*_):\n"
              "    print('drained', flush=True)\n"
              "    sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, drain)\n"
              "print('ready', flush=True)\n"
              "time.sleep(30)\n")
    process = subprocess.Popen([str(ENTRYPOINT), sys.executable, "-c", script],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert process.stdout.read().strip() == "drained"


ECHO_APP = """
import json


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = json.dumps({"client": scope["client"][0], "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""


def seen_by_the_api(services: dict[str, dict[str, Any]], tmp_path: Path, allow: str,
                    headers: dict[str, str]) -> dict[str, str]:
    """Client address and scheme as an app sees them when run by an API container command of
    services.yaml (its app swapped for an echo app) with FORWARDED_ALLOW_IPS=`allow`."""
    (tmp_path / "echo_app.py").write_text(ECHO_APP)
    port = free_port()
    command = list(services["meetings"]["api"]["command"])
    command[1] = "echo_app:app"
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    log = tmp_path / f"echo-{port}.log"
    process = subprocess.Popen([str(ENTRYPOINT), *native(command)], cwd=tmp_path,
                               env={**os.environ, "FORWARDED_ALLOW_IPS": allow},
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", headers=headers, timeout=5)
                return dict(response.json())
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(10)


def test_api_commands_believe_forwarded_headers_from_forwarded_allow_ips_only(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """As ECS runs an API (FORWARDED_ALLOW_IPS = the VPC's CIDR, standing here for 127/8):
    behind the ALB the client is the address CloudFront saw, not one a client forged at the
    left of X-Forwarded-For, and the scheme is the forwarded one. From a peer outside the
    trusted range the same headers are ignored. A wildcard is refused."""
    forwarded = {"X-Forwarded-For": "198.51.100.66, 203.0.113.9, 127.0.0.2",
                 "X-Forwarded-Proto": "https"}
    assert all("--forwarded-allow-ips" not in s["api"]["command"] for s in services.values())
    assert seen_by_the_api(services, tmp_path, "127.0.0.0/8", forwarded) == {
        "client": "203.0.113.9", "scheme": "https"}
    assert seen_by_the_api(services, tmp_path, "10.0.0.0/16", forwarded) == {
        "client": "127.0.0.1", "scheme": "http"}
    refused = run_entrypoint("true", env={"FORWARDED_ALLOW_IPS": "10.0.0.0/16,*"})
    assert refused.returncode == 2 and "FORWARDED_ALLOW_IPS" in refused.stderr


@pytest.fixture
def healthz_server() -> Iterator[tuple[int, dict[str, int]]]:
    """A local HTTP server answering /healthz with a status the test chooses."""
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(state["status"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], state
    server.shutdown()


def healthcheck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HEALTHCHECK), *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=30, check=False)


def test_api_healthcheck_follows_healthz(healthz_server: tuple[int, dict[str, int]]) -> None:
    """The image's HEALTHCHECK passes on 200 from /healthz, fails on 503 and on no listener."""
    port, state = healthz_server
    assert healthcheck(env={"PORT": str(port)}).returncode == 0
    state["status"] = 503
    assert healthcheck(env={"PORT": str(port)}).returncode == 1
    result = healthcheck(env={"PORT": str(free_port())})
    assert result.returncode == 1 and "unhealthy" in result.stderr


def test_provisioner_refuses_real_aws(tmp_path: Path) -> None:
    """Without an emulator endpoint the provisioner does nothing: Terraform owns AWS."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    result = subprocess.run([sys.executable, str(PROVISION), str(tmp_path / "ids.env")],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=30,
                            check=False)
    assert result.returncode == 2 and "Terraform owns" in result.stderr
    assert not (tmp_path / "ids.env").exists()


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An emulator converged by docker/provision.py, as compose's provisioner does it, and the
    environment docker/compose.env gives every container (pointed at that emulator)."""
    directory = tmp_path_factory.mktemp("compose")
    with Emulator(log_path=directory / "moto.log") as emulator:
        env = dict(EMULATOR_ENV)
        for line in (ROOT / "docker" / "compose.env").read_text().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value
        env |= {"AWS_ENDPOINT_URL": emulator.url, "REGATTA_ENV_FILE": str(directory / "ids.env"),
                "WORKER_WAIT_TIME_SECONDS": "1", "PYTHONPATH": str(ROOT),
                "WORKER_LIVENESS_DIR": str(directory / "liveness")}
        result = subprocess.run([sys.executable, str(PROVISION), env["REGATTA_ENV_FILE"]],
                                capture_output=True, text=True, cwd=ROOT, timeout=120,
                                env={**os.environ, **env, "REGATTA_ENV_FILE": ""}, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        yield env


@pytest.mark.integration
def test_provisioner_writes_the_ids_the_services_read(composed: dict[str, str]) -> None:
    """provision.py leaves a KEY=value file with the emulator's Cognito pool and client."""
    lines = Path(composed["REGATTA_ENV_FILE"]).read_text().splitlines()
    keys = dict(line.split("=", 1) for line in lines)
    assert set(keys) == {"COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_MACHINE_CLIENT_IDS"}
    assert keys["COGNITO_USER_POOL_ID"].startswith("us-east-1_") and keys["COGNITO_CLIENT_ID"]
    assert keys["COGNITO_MACHINE_CLIENT_IDS"] not in ("", keys["COGNITO_CLIENT_ID"])


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(ENTRYPOINT), *native(argv)], cwd=ROOT, env={**os.environ, **env},
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def wait_healthy(args: list[str], env: dict[str, str], process: subprocess.Popen[bytes],
                 log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text()[-3000:]}"
        if healthcheck(*args, env=env).returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"never healthy:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


SERVICES = ["recipes", "meetings", "stock-ingest", "trend", "media-jobs", "insights"]


@dataclass
class Running:
    """One service process started from its container command."""

    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    health_args: list[str]


@pytest.fixture(scope="module")
def fleet(services: dict[str, dict[str, Any]], composed: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Running]]:
    """Every written service's API and worker, started at once from services.yaml's commands
    through the entrypoint, as compose starts them; keys "<service>" and "<service>-worker"."""
    logs = tmp_path_factory.mktemp("fleet")
    fleet: dict[str, Running] = {}
    for name, svc in services.items():
        package = ROOT / "services" / svc["package"]
        if (package / "main.py").exists():
            port = str(free_port())
            api = [port if a == str(svc["port"]) else "127.0.0.1" if a == "0.0.0.0" else a
                   for a in svc["api"]["command"]]
            env = {**composed, "PORT": port}
            fleet[name] = Running(start(api, env, logs / f"{name}.log"), logs / f"{name}.log",
                                  env, [])
        if "worker" in svc and (package / "worker.py").exists():
            env = {**composed, "WORKER_STOP_TIMEOUT": "5"}
            log = logs / f"{name}-worker.log"
            consumed = svc["worker"]["queues"] + [dlq_name(q) for q in
                                                  svc["worker"].get("dead_letters", [])]
            relay = ["--relay", f"{name}-outbox"] if f"{name}-outbox" in svc["worker"].get(
                "tables", {}) else []
            checks = [a for q in consumed for a in ("--queue", q)] + relay
            fleet[f"{name}-worker"] = Running(start(svc["worker"]["command"], env, log), log,
                                              env, checks)
    yield fleet
    for running in fleet.values():
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("name", SERVICES)
def test_api_runs_from_its_container_command(name: str, services: dict[str, dict[str, Any]],
                                             fleet: dict[str, Running]) -> None:
    """The API command of services.yaml, through the entrypoint, passes the image's health
    check, is ready against the emulator, and shuts down cleanly on SIGTERM."""
    if name not in fleet:
        pytest.skip(f"services/{services[name]['package']}/main.py is not written yet")
    api = fleet[name]
    wait_healthy(api.health_args, api.env, api.process, api.log)
    port = api.env["PORT"]
    assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
    # uvicorn shuts down, then re-raises the signal, so ECS sees 143 (killed by SIGTERM).
    code = stop(api.process, 30)
    log = api.log.read_text()
    assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in log, log[-3000:]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("name", SERVICES)
def test_worker_runs_from_its_container_command(name: str, services: dict[str, dict[str, Any]],
                                                fleet: dict[str, Running]) -> None:
    """The worker command passes compose's worker check (each consumer of a declared queue or
    DLQ, and the outbox relay, has made progress), consumes every declared queue (and declared
    DLQ), and exits 0 on SIGTERM (the worker contract ECS relies on)."""
    svc = services[name]
    if "worker" not in svc:
        pytest.skip(f"{name} declares no worker")
    if f"{name}-worker" not in fleet:
        pytest.skip(f"services/{svc['package']}/worker.py is not written yet")
    worker = fleet[f"{name}-worker"]
    wait_healthy(worker.health_args, worker.env, worker.process, worker.log)
    started = len(svc["worker"]["queues"]) + len(svc["worker"].get("dead_letters", []))
    wait_for(lambda: worker.log.read_text().count('"worker.started"') == started,
             worker.process, worker.log)
    code = stop(worker.process, 20)
    log = worker.log.read_text()
    assert code == 0 and log.count('"worker.stopped"') == started, log[-3000:]
    if f"{name}-outbox" in svc["worker"].get("tables", {}):  # it runs the outbox relay
        assert '"relay.stopped"' in log, log[-3000:]


def wait_for(condition: Any, process: subprocess.Popen[bytes], log: Path,
             timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


@pytest.mark.integration
def test_worker_healthcheck_fails_for_a_missing_queue(composed: dict[str, str]) -> None:
    """The worker check is not a formality: a queue no consumer reports progress on fails it."""
    result = healthcheck("--queue", "no-such-queue", env=composed)
    assert result.returncode == 1 and "no-such-queue" in result.stderr


def test_worker_healthcheck_follows_the_liveness_file(tmp_path: Path) -> None:
    """The check passes while the queue's liveness file is younger than WORKER_STALL_SECONDS
    and fails, naming the queue, once it is older."""
    env = {"WORKER_LIVENESS_DIR": str(tmp_path), "WORKER_STALL_SECONDS": "30",
           "PYTHONPATH": str(ROOT)}
    (tmp_path / "recipes-search-index").touch()
    assert healthcheck("--queue", "recipes-search-index", env=env).returncode == 0
    old = time.time() - 31
    os.utime(tmp_path / "recipes-search-index", (old, old))
    result = healthcheck("--queue", "recipes-search-index", env=env)
    assert result.returncode == 1
    assert "queue recipes-search-index: no progress for 3" in result.stderr  # 31 s, or a bit more
