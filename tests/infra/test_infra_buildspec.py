"""buildspec.yml's contract: its commands run as CodeBuild runs them, with recording
stand-ins for docker, aws, make, npm, node and n on PATH, and the calls and files they leave
are checked."""

from __future__ import annotations

import json
import os
import re
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
WEB_BUCKET = "regatta-dev-123456789012-web"
DISTRIBUTION = "E2QWRUHAPOMQZL"
IMMUTABLE = "public, max-age=31536000, immutable"
TOOLS = ("docker", "aws", "make", "npm", "node", "n")

STAND_IN = f"""#!{sys.executable}
# Records one call (argv, working directory, and stdin when it is piped in), then behaves as
# the test asks. `npm run build` leaves a web/dist as Vite does.
import json, os, sys
name = os.path.basename(sys.argv[0])
stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps({{"tool": name, "args": sys.argv[1:], "stdin": stdin,
                          "cwd": os.getcwd()}}) + "\\n")
fail = os.environ.get("STAND_IN_FAIL", "")
if fail and fail in " ".join([name, *sys.argv[1:]]):
    sys.exit(7)
if name == "aws" and sys.argv[1:3] == ["ecr", "get-login-password"]:
    print("{PASSWORD}")
if name == "node" and sys.argv[1:] == ["--version"]:
    print(os.environ.get("STAND_IN_NODE_VERSION", "v20.19.5"))
if name == "npm" and sys.argv[1:] == ["run", "build"] and not os.environ.get("STAND_IN_NO_DIST"):
    os.makedirs("dist/assets", exist_ok=True)
    with open("dist/index.html", "w") as page:
        page.write('<script type="module" src="/assets/index-abc123.js"></script>')
    with open("dist/assets/index-abc123.js", "w") as script:
        script.write("export {{}};")
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
    (workspace / "web").mkdir()
    shutil.copy(ROOT / "web" / "package.json", workspace / "web")
    venv_bin = workspace / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv_bin / "python").chmod(0o755)
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for tool in TOOLS:
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
        "WEB_BUCKET": WEB_BUCKET,
        "WEB_DISTRIBUTION_ID": DISTRIBUTION,
        **env,
    }
    result = subprocess.run(["bash", str(tmp_path / "build.sh")], cwd=workspace,
                            env=environment, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return Build(result.returncode, result.stdout + result.stderr, calls, workspace)


def repo(service: str) -> str:
    return f"{REGISTRY}/{PREFIX}/{service}"


def web_calls(build: Build) -> list[list[str]]:
    """The aws calls that publish the web app (S3 and CloudFront), in order."""
    return [args for args in build.of("aws") if args[0] in ("s3", "cloudfront")]


def index(build: Build, tool: str, args: list[str]) -> int:
    """Position of one recorded call among all the build's calls."""
    return next(i for i, c in enumerate(build.calls) if c["tool"] == tool and c["args"] == args)


def test_every_phase_aborts_the_build_on_failure() -> None:
    """All four phases exist and stop the build at their first failing command."""
    spec = buildspec()
    assert spec["version"] == 0.2 and spec["env"]["shell"] == "bash"
    for phase in PHASES:
        assert spec["phases"][phase]["on-failure"] == "ABORT", phase
    assert spec["phases"]["install"]["runtime-versions"]["python"]
    assert spec["phases"]["install"]["runtime-versions"]["nodejs"]


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
    assert build.of("aws")[0] == ["ecr", "get-login-password", "--region", "eu-west-1"]
    assert [a for a in build.of("aws") if a[0] == "ecr"] == build.of("aws")[:1]
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
    assert web_calls(build) == [], "the web app went live for a release that failed"


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
    assert web_calls(build) == []


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


# --- the web app -------------------------------------------------------------------------


def test_node_is_the_runtime_the_web_app_asks_for(tmp_path: Path) -> None:
    """The install phase selects Node.js 20 (the major of web/package.json's engines) and
    leaves a recent enough one alone."""
    engines = json.loads((ROOT / "web" / "package.json").read_text())["engines"]["node"]
    major = engines.lstrip(">=^~ ").split(".")[0]
    assert str(buildspec()["phases"]["install"]["runtime-versions"]["nodejs"]) == major
    build = run_build(tmp_path, STAND_IN_NODE_VERSION="v20.19.0")
    assert build.code == 0, build.output
    assert build.of("node") == [["--version"]]
    assert build.of("n") == []


def test_an_older_node_is_replaced_before_the_web_build(tmp_path: Path) -> None:
    """Below web/package.json's minimum (Vite refuses it), `n` installs the newest 20.x
    before npm runs; a failing `n` fails the build in install."""
    build = run_build(tmp_path, STAND_IN_NODE_VERSION="v20.15.1")
    assert build.code == 0, build.output
    assert build.of("n") == [["20"]]
    assert index(build, "n", ["20"]) < index(build, "npm", ["ci", "--no-audit", "--no-fund"])
    failed = run_build(tmp_path / "again", STAND_IN_NODE_VERSION="v20.15.1", STAND_IN_FAIL="n 20")
    assert failed.code != 0 and "older than web/package.json's 20.19" in failed.output
    assert failed.of("npm") == [] and failed.of("docker") == []


def test_the_web_app_is_built_with_a_clean_install(tmp_path: Path) -> None:
    """`npm ci` (the lockfile, exactly) then `npm run build`, both in web/, before any image."""
    build = run_build(tmp_path)
    assert build.code == 0, build.output
    assert build.of("npm") == [["ci", "--no-audit", "--no-fund"], ["run", "build"]]
    assert {c["cwd"] for c in build.calls if c["tool"] == "npm"} \
        == {str(build.workspace / "web")}
    first_image = next(i for i, c in enumerate(build.calls)
                       if c["tool"] == "docker" and c["args"][0] == "build")
    assert index(build, "npm", ["run", "build"]) < first_image


def test_the_web_app_is_published_after_every_image_is_pushed(
    tmp_path: Path, services: dict[str, dict[str, Any]]
) -> None:
    """New hashed assets (immutable), then index.html and the other unhashed files
    (no-cache) with stale ones removed, then stale assets pruned, then one invalidation of
    the entry points; config.json (Terraform's) is excluded wherever --delete could reach
    it; all of it after the last image push."""
    build = run_build(tmp_path)
    assert build.code == 0, build.output
    bucket = f"s3://{WEB_BUCKET}"
    assert web_calls(build) == [
        ["s3", "sync", "web/dist/assets", f"{bucket}/assets", "--no-progress",
         "--cache-control", IMMUTABLE],
        ["s3", "sync", "web/dist", bucket, "--no-progress", "--delete",
         "--exclude", "assets/*", "--exclude", "config.json", "--cache-control", "no-cache"],
        ["s3", "sync", "web/dist/assets", f"{bucket}/assets", "--no-progress", "--delete",
         "--cache-control", IMMUTABLE],
        ["cloudfront", "create-invalidation", "--distribution-id", DISTRIBUTION,
         "--paths", "/index.html", "/", "--query", "Invalidation.Id", "--output", "text"],
    ]
    pushes = [i for i, c in enumerate(build.calls) if c["tool"] == "docker"
              and c["args"][0] == "push"]
    assert len(pushes) == 2 * len(services)
    assert max(pushes) < index(build, "aws", web_calls(build)[0])
    assert {c["cwd"] for c in build.calls if c["tool"] == "aws"} == {str(build.workspace)}


def test_a_failing_web_build_stops_before_anything_is_built_or_published(tmp_path: Path) -> None:
    """A failing `npm run build` (a type error, say) ends the build phase: no image, no push,
    nothing uploaded."""
    build = run_build(tmp_path, STAND_IN_FAIL="npm run build")
    assert build.code != 0 and "phase build failed" in build.output
    assert [c for c in build.of("docker") if c[0] in ("build", "push")] == []
    assert web_calls(build) == []


def test_a_web_build_without_output_is_never_synced(tmp_path: Path) -> None:
    """`sync --delete` of an empty web/dist would empty the bucket: no index.html, no sync."""
    build = run_build(tmp_path, STAND_IN_NO_DIST="1")
    assert build.code != 0 and "no web/dist/index.html" in build.output
    assert web_calls(build) == []
    assert [c for c in build.of("docker") if c[0] == "push"] == []


def test_a_failing_upload_is_not_invalidated_and_fails_the_build(tmp_path: Path) -> None:
    """The first failing sync ends the publish: no later sync, no invalidation, a failed
    build (the pipeline then deploys nothing)."""
    build = run_build(tmp_path, STAND_IN_FAIL="s3 sync web/dist s3://")
    assert build.code != 0
    assert [(call[0], call[2]) for call in web_calls(build)] == [
        ("s3", "web/dist/assets"), ("s3", "web/dist")], "the publish went on after a failure"


def test_a_build_without_the_web_target_is_refused(tmp_path: Path) -> None:
    """Without WEB_BUCKET or WEB_DISTRIBUTION_ID (set by the CodeBuild project) the build
    stops in pre_build, before the registry login and any build."""
    for variable in ("WEB_BUCKET", "WEB_DISTRIBUTION_ID"):
        build = run_build(tmp_path / variable, **{variable: ""})
        assert build.code != 0 and "no web bucket or distribution" in build.output, variable
        assert build.of("docker") == [] and build.of("aws") == [] and build.of("npm") == []


def test_the_codebuild_project_sets_what_the_buildspec_reads() -> None:
    """modules/pipeline gives the build the web bucket and distribution it publishes to."""
    text = (ROOT / "infra/terraform/modules/pipeline/main.tf").read_text()
    for name, value in (("WEB_BUCKET", "var.web_bucket"),
                        ("WEB_DISTRIBUTION_ID", "var.web_distribution_id")):
        assert re.search(rf'name\s+=\s+"{name}"\s+value\s+=\s+{re.escape(value)}\n', text), \
            name


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
