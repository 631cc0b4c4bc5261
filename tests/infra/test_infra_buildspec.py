"""buildspec.yml's contract: its commands run as CodeBuild runs them, with recording
stand-ins for docker, aws and make on PATH, and the calls and files they leave are checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from infra_support import ROOT

PHASES = ("install", "pre_build", "build", "post_build")
COMMIT = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
PREFIX = "regatta-dev"
PASSWORD = "ecr-password-from-aws"

STAND_IN = f"""#!{sys.executable}
# Records one call (argv, and stdin when it is piped in), then behaves as the test asks.
import json, os, sys
name = os.path.basename(sys.argv[0])
stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps({{"tool": name, "args": sys.argv[1:], "stdin": stdin}}) + "\\n")
fail = os.environ.get("STAND_IN_FAIL", "")
if fail and fail in " ".join([name, *sys.argv[1:]]):
    sys.exit(7)
if name == "aws" and sys.argv[1:3] == ["ecr", "get-login-password"]:
    print("{PASSWORD}")
"""


@dataclass
class Build:
    """What a simulated CodeBuild run left: exit code, output, calls, files."""

    code: int
    output: str
    calls: list[dict[str, Any]]
    workspace: Path

    def of(self, tool: str) -> list[list[str]]:
        return [c["args"] for c in self.calls if c["tool"] == tool]


def buildspec() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "buildspec.yml").read_text()))


def script(spec: dict[str, Any]) -> str:
    """One bash script running every phase's commands in one shell, as CodeBuild's
    buildspec 0.2 does; a failing command ends its phase and, with on-failure ABORT, the
    build."""
    lines = ["#!/bin/bash"]
    for phase in PHASES:
        for command in spec["phases"][phase]["commands"]:
            lines += [command, f"rc=$?; [ $rc -eq 0 ] || {{ echo 'phase {phase} failed' >&2; "
                               "exit $rc; }"]
    return "\n".join(lines) + "\n"


def run_build(tmp_path: Path, **env: str) -> Build:
    """Run buildspec.yml in a scratch workspace holding what its commands read."""
    workspace = tmp_path / "src"
    (workspace / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "infra" / "services.yaml", workspace / "infra")
    venv_bin = workspace / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv_bin / "python").chmod(0o755)
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for tool in ("docker", "aws", "make"):
        (stand_ins / tool).write_text(STAND_IN)
        (stand_ins / tool).chmod(0o755)
    log = tmp_path / "calls.jsonl"
    log.touch()
    (tmp_path / "build.sh").write_text(script(buildspec()))
    environment = {
        "PATH": f"{stand_ins}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "STAND_IN_LOG": str(log),
        "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT,
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "SOURCE_BRANCH": "main",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "ECR_REGISTRY": REGISTRY,
        "ECR_REPOSITORY_PREFIX": PREFIX,
        **env,
    }
    result = subprocess.run(["bash", str(tmp_path / "build.sh")], cwd=workspace,
                            env=environment, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return Build(result.returncode, result.stdout + result.stderr, calls, workspace)


def repo(service: str) -> str:
    return f"{REGISTRY}/{PREFIX}/{service}"


def test_every_phase_aborts_the_build_on_failure() -> None:
    """All four phases exist and stop the build at their first failing command."""
    spec = buildspec()
    assert spec["version"] == 0.2 and spec["env"]["shell"] == "bash"
    for phase in PHASES:
        assert spec["phases"][phase]["on-failure"] == "ABORT", phase
    assert spec["phases"]["install"]["runtime-versions"]["python"]


def test_every_command_is_a_string() -> None:
    """YAML reads `echo "a: b"` unquoted as a mapping; CodeBuild would reject the buildspec."""
    spec = buildspec()
    for phase in PHASES:
        for command in spec["phases"][phase]["commands"]:
            assert isinstance(command, str), f"{phase}: {command!r}"


def test_a_build_tests_logs_in_builds_pushes_and_hands_over_images(
    tmp_path: Path, services: dict[str, dict[str, Any]]
) -> None:
    """Install, fast tests, ECR login, one build per service target, two tags each, pushes."""
    build = run_build(tmp_path, SOURCE_BRANCH="feature/Fast_path.2")
    assert build.code == 0, build.output
    assert build.of("make") == [["install"], ["test-fast"]]
    assert build.of("aws") == [["ecr", "get-login-password", "--region", "eu-west-1"]]
    docker = build.of("docker")
    login = [c for c in build.calls if c["args"][:1] == ["login"]]
    assert [c["args"] for c in login] == [
        ["login", "--username", "AWS", "--password-stdin", REGISTRY]]
    assert login[0]["stdin"].strip() == PASSWORD
    short, branch_tag = COMMIT[:7], f"feature-Fast_path.2-{COMMIT[:7]}"
    builds = [c for c in docker if c[0] == "build"]
    assert len(builds) == len(services)
    for name, args in zip(services, builds, strict=True):
        assert args == ["build", "--file", "docker/Dockerfile", "--target", name,
                        "--tag", f"{repo(name)}:{short}", "--tag", f"{repo(name)}:{branch_tag}",
                        "--label", f"org.opencontainers.image.revision={COMMIT}", "."]
    pushes = [c for c in docker if c[0] == "push"]
    assert pushes == [["push", f"{repo(n)}:{tag}"] for n in services for tag in (short, branch_tag)]
    assert docker.index(login[0]["args"]) < docker.index(builds[0]) < docker.index(pushes[0])
    assert not any("latest" in arg for call in docker for arg in call)


def test_each_service_gets_its_imagedefinitions_file(
    tmp_path: Path, services: dict[str, dict[str, Any]]
) -> None:
    """imagedefinitions-<service>.json names the service's container and its commit image."""
    build = run_build(tmp_path)
    assert build.code == 0, build.output
    written = sorted(p.name for p in build.workspace.glob("imagedefinitions-*.json"))
    assert written == sorted(f"imagedefinitions-{name}.json" for name in services)
    for name in services:
        text = (build.workspace / f"imagedefinitions-{name}.json").read_text()
        assert text == json.dumps([{"name": name, "imageUri": f"{repo(name)}:{COMMIT[:7]}"}],
                                  separators=(",", ":"))


def test_a_failing_image_build_stops_before_anything_is_pushed(tmp_path: Path) -> None:
    """One service's failing docker build fails the build: no push, no imagedefinitions."""
    build = run_build(tmp_path, STAND_IN_FAIL="build --file docker/Dockerfile --target trend")
    assert build.code != 0
    targets = [c[c.index("--target") + 1] for c in build.of("docker") if c[0] == "build"]
    assert targets[-1] == "trend", "the build loop goes on after a failing image"
    assert not [c for c in build.of("docker") if c[0] == "push"]
    assert not list(build.workspace.glob("imagedefinitions-*.json"))


def test_failing_tests_stop_the_build_before_login(tmp_path: Path) -> None:
    """A failing `make test-fast` ends the build in pre_build: no login, no image."""
    build = run_build(tmp_path, STAND_IN_FAIL="make test-fast")
    assert build.code != 0 and "phase pre_build failed" in build.output
    assert build.of("docker") == [] and build.of("aws") == []


def test_post_build_pushes_nothing_after_a_failed_phase(tmp_path: Path) -> None:
    """CodeBuild runs post_build even after a failed build; it then refuses to push."""
    build = run_build(tmp_path, CODEBUILD_BUILD_SUCCEEDING="0")
    assert build.code != 0 and "nothing pushed" in build.output
    assert not [c for c in build.of("docker") if c[0] == "push"]


def test_a_failing_registry_login_fails_the_build(tmp_path: Path) -> None:
    """The login pipeline fails as a whole when `aws ecr get-login-password` fails."""
    build = run_build(tmp_path, STAND_IN_FAIL="aws ecr get-login-password")
    assert build.code != 0 and "phase pre_build failed" in build.output
    assert not [c for c in build.of("docker") if c[0] == "build"]


def test_a_build_without_a_branch_is_refused(tmp_path: Path) -> None:
    """Without SOURCE_BRANCH (the pipeline's source variable) there is no branch tag: fail."""
    build = run_build(tmp_path, SOURCE_BRANCH="")
    assert build.code != 0 and "no branch" in build.output
    assert build.of("docker") == []


def test_secondary_artifacts_are_the_imagedefinitions_files(
    services: dict[str, dict[str, Any]]
) -> None:
    """One secondary artifact per service, named as the pipeline's build outputs are, each
    holding its service's file; CodeBuild allows a build action at most five outputs."""
    artifacts = buildspec()["artifacts"]["secondary-artifacts"]
    expected = {f"imagedefs_{name.replace('-', '_')}": [f"imagedefinitions-{name}.json"]
                for name in services}
    assert {k: v["files"] for k, v in artifacts.items()} == expected
    assert len(artifacts) <= 5
    pipeline = (ROOT / "infra/terraform/modules/pipeline/main.tf").read_text()
    assert 'artifacts = { for s in local.services : s => "imagedefs_${replace(s, "-", "_")}" }' \
        in pipeline
    assert 'FileName          = "imagedefinitions-${action.value}.json"' in pipeline
