"""Helpers and fixtures of the infrastructure tests: the repository's declarations, parsed once.

Everything here reads files (infra/*.yaml, docker/Dockerfile, the Terraform tree, service
code) or finds a tool; nothing talks to AWS. A missing tool skips the tests that need it with
the reason, never fails them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = INFRA / "terraform"
DOCKERFILE = ROOT / "docker" / "Dockerfile"


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository's root directory."""
    return ROOT


@pytest.fixture(scope="session")
def services() -> dict[str, dict[str, Any]]:
    """infra/services.yaml's services, by name."""
    return dict(yaml.safe_load((INFRA / "services.yaml").read_text())["services"])


@pytest.fixture(scope="session")
def topology() -> dict[str, Any]:
    """infra/topology.yaml as YAML 1.1 (PyYAML) reads it, with empty sections filled in."""
    doc = yaml.safe_load((INFRA / "topology.yaml").read_text())
    for section in ("topics", "queues", "tables", "buckets"):
        doc.setdefault(section, {})
    doc.setdefault("terminal_events", [])
    return doc


# --- tools ------------------------------------------------------------------------------


def find_tool(name: str, *extra: Path) -> str | None:
    """A tool from the project's virtualenvs or PATH, None when absent."""
    candidates = [Path(sys.executable).parent / name, *extra]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def require_tool(name: str, why: str, *extra: Path) -> str:
    """The tool's path, or skip the test saying what would install it."""
    tool = find_tool(name, *extra)
    if tool is None:
        pytest.skip(f"{name} not found: {why}")
    return tool


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    """The terraform binary (skips without one: it cannot be installed from PyPI)."""
    return require_tool("terraform", "install Terraform >= 1.6 to run the Terraform checks")


@pytest.fixture(scope="session")
def terraform_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for offline terraform runs: an empty CLI config, no checkpoint calls."""
    config = tmp_path_factory.mktemp("tfrc") / "terraformrc"
    config.write_text("")
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


# --- Dockerfile -------------------------------------------------------------------------


@dataclass
class Stage:
    """One FROM ... AS name stage of a Dockerfile and its instructions."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        """The arguments of every `instruction` in this stage, in order."""
        return [a for i, a in self.instructions if i == instruction]


def parse_dockerfile(text: str) -> dict[str, Stage]:
    """Stages by name (an unnamed stage by its index), continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = re.sub(r"\s+", " ", rest).strip()
        if instruction == "FROM":
            match = re.match(r"(?:--platform=\S+ )?(\S+)(?: AS (\S+))?$", rest, re.IGNORECASE)
            assert match, f"cannot read FROM {rest}"
            current = Stage(match.group(2) or str(len(stages)), match.group(1))
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((instruction, rest))
    return stages


def stage_chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """A stage and the stages it is built FROM, the stage itself first."""
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain


@pytest.fixture(scope="session")
def dockerfile_stages() -> dict[str, Stage]:
    """docker/Dockerfile's stages."""
    return parse_dockerfile(DOCKERFILE.read_text())


# --- Terraform (python-hcl2) ------------------------------------------------------------


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted and marks blocks; drop both."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if not k.startswith("__")}
    return value


@dataclass
class TerraformTree:
    """Every .tf file under infra/terraform, parsed: blocks by kind, type and name."""

    files: dict[Path, dict[str, Any]]

    def blocks(self, kind: str, type_: str | None = None) -> list[tuple[Path, str, str, dict]]:
        """(file, type, name, body) of every `kind` block (resource, data) of `type_`."""
        found = []
        for path, doc in self.files.items():
            for entry in doc.get(kind, []):
                for block_type, named in entry.items():
                    if type_ is not None and block_type != type_:
                        continue
                    for name, body in named.items():
                        found.append((path, block_type, name, body))
        return found

    def named(self, kind: str, directory: str) -> dict[str, dict[str, Any]]:
        """Single-label blocks (variable, output) of one module or env directory, by name."""
        found: dict[str, dict[str, Any]] = {}
        for path, doc in self.files.items():
            if path.parent.name == directory:
                for entry in doc.get(kind, []):
                    found.update(entry)
        return found

    def resource(self, module: str, type_: str, name: str) -> dict[str, Any]:
        """The body of resource `type_.name` in modules/<module>."""
        for path, _, block_name, body in self.blocks("resource", type_):
            if path.parent.name == module and block_name == name:
                return body
        raise AssertionError(f"modules/{module} has no resource {type_}.{name}")

    def module_calls(self, env: str = "dev") -> dict[str, dict[str, Any]]:
        """The module blocks of envs/<env>, by name."""
        calls: dict[str, dict[str, Any]] = {}
        for path, doc in self.files.items():
            if path.parent == TERRAFORM / "envs" / env:
                for entry in doc.get("module", []):
                    calls.update(entry)
        return calls

    def text(self, relative: str) -> str:
        """The source text of one .tf file."""
        return (TERRAFORM / relative).read_text()


@pytest.fixture(scope="session")
def tf() -> TerraformTree:
    """The Terraform tree parsed with python-hcl2."""
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed")
    files = {}
    for path in sorted(TERRAFORM.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        with path.open() as handle:
            files[path] = _unquote(hcl2.load(handle))
    return TerraformTree(files)


# --- the services' own code -------------------------------------------------------------


@dataclass
class ServiceCode:
    """What a service's Python code says about the AWS resources it uses (by grep)."""

    name: str
    directory: Path
    sources: str

    @property
    def has_api(self) -> bool:
        return (self.directory / "main.py").exists()

    @property
    def has_worker(self) -> bool:
        return (self.directory / "worker.py").exists()

    def _strings(self, pattern: str) -> set[str]:
        return set(re.findall(pattern, self.sources))

    def consumed_queues(self) -> set[str]:
        """Queues of the worker's declared subscriptions: `QueueSubscription("<queue>", ...)`."""
        return self._strings(r"QueueSubscription\(\s*\"([^\"]+)\"")

    def dead_letter_queues(self) -> set[str]:
        """Queues whose DLQ is consumed: `QueueSubscription("<queue>", ...,
        dead_letters=True)` declarations (arguments may hold one level of parentheses)."""
        return self._strings(
            r"QueueSubscription\(\s*\"([^\"]+)\"(?:[^()]|\([^()]*\))*dead_letters=True")

    def published_topics(self) -> set[str]:
        """Topics named in `topic_arn("<topic>")` calls, and every topic the service owns
        once it runs its outbox relay (`outbox_relay(...)`), which publishes to them."""
        relayed: set[str] = set()
        if re.search(r"\boutbox_relay\(", self.sources):
            topics = yaml.safe_load((INFRA / "topology.yaml").read_text())["topics"]
            relayed = {t for t, spec in topics.items() if spec["owner"] == self.name}
        return self._strings(r"topic_arn\(\s*\"([^\"]+)\"") | relayed

    def queues_sent_to(self) -> set[str]:
        """Queues looked up with `queue_url(aws, "<queue>")` (to send to them directly)."""
        return self._strings(r"queue_url\(\s*\w+\s*,\s*\"([^\"]+)\"")

    def tables(self) -> set[str]:
        """Tables named in `.table("<table>")` calls or `idempotency_table="<table>"`, and the
        service's outbox table once it opens its outbox or runs its relay."""
        outbox = {f"{self.name}-outbox"} if re.search(r"\b(open_outbox|outbox_relay)\(",
                                                      self.sources) else set()
        return self._strings(r"\.table\(\s*\"([^\"]+)\"") | self._strings(
            r"idempotency_table\s*=\s*\"([^\"]+)\"") | outbox

    def buckets(self) -> set[str]:
        """Buckets named in `.bucket("<bucket>")` calls."""
        return self._strings(r"\.bucket\(\s*\"([^\"]+)\"")

    def published_event_types(self, prefix: str) -> set[str]:
        """Event types the code publishes: full literals, event_type() calls, and names
        passed to a publish helper (`publish(events, "recipe.created", ...)`)."""
        own = f"{re.escape(prefix)}\\.{re.escape(self.name)}"
        types = self._strings(rf"\"({own}\.[a-z0-9_.-]+\.v\d+)\"")
        for service, name in re.findall(r"event_type\(\s*\"([^\"]+)\"\s*,\s*\"([^\"]+)\"",
                                        self.sources):
            types.add(f"{prefix}.{service}.{name}.v1")
        for name in self._strings(r"publish\(\s*\w+\s*,\s*\"([a-z_]+(?:\.[a-z_]+)+)\""):
            types.add(f"{prefix}.{self.name}.{name}.v1")
        # Names given to an EventSource's event() (or a store's _event() helper), anywhere in
        # the call's first argument (a conditional expression names two).
        for argument in self._strings(r"\b_?event\(\s*((?:\"[a-z_.]+\"|[^,\"])+)"):
            for name in re.findall(r"\"([a-z_]+(?:\.[a-z_]+)+)\"", argument):
                types.add(f"{prefix}.{self.name}.{name}.v1")
        return types


@pytest.fixture(scope="session")
def service_code(services: dict[str, dict[str, Any]]) -> Callable[[str], ServiceCode | None]:
    """The code of a declared service, or None while its package does not exist yet."""

    def load(name: str) -> ServiceCode | None:
        directory = ROOT / "services" / services[name]["package"]
        if not (directory / "__init__.py").exists():
            return None
        sources = "\n".join(p.read_text() for p in sorted(directory.rglob("*.py")))
        return ServiceCode(name, directory, sources)

    return load
