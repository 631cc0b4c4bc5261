"""``infra/services.yaml`` as the local platform reads it: every service's prefix, port,
commands and tools, and the Procfile that `regatta up` runs.

The file is the single list the Dockerfile targets, compose.yaml, buildspec.yml and Terraform
are checked against; locally nothing restates it: the `regatta` command, the gateway, the
access tables and the chaos harness all take their services from here. Locally every process
listens on 127.0.0.1, and a service's port is ``$<NAME>_PORT`` (``RECIPES_PORT``,
``STOCK_INGEST_PORT``, ...), by default the container port the file declares.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES_FILE = ROOT / "infra" / "services.yaml"
LOCAL_HOST = "127.0.0.1"
# What a tool learns its service's local URL from.
URL_VARIABLE = "REGATTA_SERVICE_URL"


@dataclass(frozen=True)
class Tool:
    """A developer command a service owns (``tools:``): `regatta <name> ARGS` runs it."""

    name: str
    command: tuple[str, ...]
    help: str


@dataclass(frozen=True)
class Service:
    """One service of infra/services.yaml, as far as the local platform needs it."""

    name: str
    package: str
    prefix: str
    port: int  # the container port, and the local default
    api_command: tuple[str, ...]
    worker_command: tuple[str, ...] | None
    tools: tuple[Tool, ...] = ()

    @property
    def local_url(self) -> str:
        """Where its API listens locally (``$<NAME>_PORT`` applied)."""
        return f"http://{LOCAL_HOST}:{self.local_port()}"

    @property
    def port_variable(self) -> str:
        """The environment variable that moves its local port: ``STOCK_INGEST_PORT``."""
        return port_variable(self.name)

    def local_port(self, env: Mapping[str, str] | None = None) -> int:
        env = os.environ if env is None else env
        return int(env.get(self.port_variable, self.port))

    def local_api_command(self, port: int) -> list[str]:
        """The API command, listening on ``127.0.0.1:port`` instead of the container's."""
        command = list(self.api_command)
        for flag, value in (("--host", LOCAL_HOST), ("--port", str(port))):
            command[command.index(flag) + 1] = value
        return command

    @property
    def app(self) -> str:
        """The API's ASGI app (``services.recipes.main:app``)."""
        return next(word for word in self.api_command if word.endswith(":app"))

    @property
    def worker_module(self) -> str | None:
        """The worker's module (``services.recipes.worker``), run with ``python -m``."""
        if self.worker_command is None:
            return None
        return self.worker_command[self.worker_command.index("-m") + 1]


def port_variable(name: str) -> str:
    return f"{name.upper().replace('-', '_')}_PORT"


def declared(path: Path = SERVICES_FILE) -> dict[str, dict[str, Any]]:
    """The file's ``services`` mapping, as written."""
    services: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text())["services"]
    return services


@cache
def load_services(path: Path = SERVICES_FILE) -> dict[str, Service]:
    """Every service of the file, in its order."""
    return {
        name: Service(
            name=name, package=entry["package"], prefix=entry["prefix"], port=int(entry["port"]),
            api_command=tuple(str(w) for w in entry["api"]["command"]),
            worker_command=(tuple(str(w) for w in entry["worker"]["command"])
                            if entry.get("worker") else None),
            tools=tuple(Tool(tool, tuple(str(w) for w in spec["command"]), spec.get("help", ""))
                        for tool, spec in (entry.get("tools") or {}).items()))
        for name, entry in declared(path).items()
    }


# The local gateway (devkit.gateway): the web app and every API on one origin. Not a service
# of the file (no image, no ALB rule): it stands in for CloudFront + ALB.
GATEWAY = "gateway"
GATEWAY_APP = "devkit.gateway:app"
GATEWAY_PORT = 8000


def local_ports(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Where each service (and the gateway) listens locally, environment overrides applied."""
    env = os.environ if env is None else env
    ports = {name: service.local_port(env) for name, service in load_services().items()}
    ports[GATEWAY] = int(env.get(port_variable(GATEWAY), GATEWAY_PORT))
    return ports


def processes(ports: Mapping[str, int]) -> dict[str, list[str]]:
    """Every process of the local platform (each API, each worker, the gateway) by name."""
    found: dict[str, list[str]] = {}
    for name, service in load_services().items():
        found[name] = service.local_api_command(ports[name])
        if service.worker_command is not None:
            found[f"{name}-worker"] = list(service.worker_command)
    found[GATEWAY] = ["uvicorn", GATEWAY_APP, "--host", LOCAL_HOST, "--port",
                      str(ports[GATEWAY]), "--no-access-log"]
    return found


def procfile(ports: Mapping[str, int]) -> str:
    """The Procfile honcho runs for `make run`: ``processes`` one per line."""
    lines = ["# Written by `regatta up` from infra/services.yaml; edit that file, not this one."]
    lines += [f"{name}: {shlex.join(command)}" for name, command in processes(ports).items()]
    return "\n".join(lines) + "\n"
