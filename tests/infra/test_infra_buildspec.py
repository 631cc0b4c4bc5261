"""The contracts of buildspec.yml (the build: tests, images, the web app built) and
buildspec-web.yml (the Deploy stage's last action: the web app published): their commands
run as CodeBuild runs them, with recording stand-ins for docker, aws, make, npm, node and n on
PATH, and the calls and files they leave are checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_support import ROOT, TerraformTree

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


def buildspec(name: str = "buildspec.yml") -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / name).read_text()))


def publish_spec() -> dict[str, Any]:
    return buildspec("buildspec-web.yml")


def script(spec: dict[str, Any]) -> str:
    """One bash script running every phase's commands in one shell, as CodeBuild's
    buildspec 0.2 does; a failing command ends its phase and, with on-failure ABORT, the
    build."""
    lines = ["#!/bin/bash"]
    for phase in PHASES:
        for command in spec["phases"].get(phase, {}).get("commands", []):
            lines += [command, f"rc=$?; [ $rc -eq 0 ] || {{ echo 'phase {phase} failed' >&2; "
                               "exit $rc; }"]
    return "\n".join(lines) + "\n"


def run_spec(tmp_path: Path, spec: dict[str, Any], workspace: Path,
             environment: dict[str, str]) -> Build:
    """Run a buildspec's commands in `workspace` (CodeBuild's primary source directory) with
    the stand-ins first on PATH and only the given variables set (PATH and HOME aside)."""
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for tool in TOOLS:
        (stand_ins / tool).write_text(STAND_IN)
        (stand_ins / tool).chmod(0o755)
    log = tmp_path / "calls.jsonl"
    log.touch()
    (tmp_path / "build.sh").write_text(script(spec))
    environment = {
        "PATH": f"{stand_ins}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "STAND_IN_LOG": str(log),
        **environment,
    }
    result = subprocess.run(["bash", str(tmp_path / "build.sh")], cwd=workspace,
                            env=environment, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return Build(result.returncode, result.stdout + result.stderr, calls, workspace)


def run_build(tmp_path: Path, **env: str) -> Build:
    """Run buildspec.yml in a scratch workspace holding what its commands read, with the
    variables the images project sets (no web bucket or distribution: the build has none)."""
    workspace = tmp_path / "src"
    (workspace / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "infra" / "services.yaml", workspace / "infra")
    (workspace / "web").mkdir()
    shutil.copy(ROOT / "web" / "package.json", workspace / "web")
    venv_bin = workspace / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv_bin / "python").chmod(0o755)
    return run_spec(tmp_path, buildspec(), workspace, {
        "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT,
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "SOURCE_BRANCH": "main",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "ECR_REGISTRY": REGISTRY,
        "ECR_REPOSITORY_PREFIX": PREFIX,
        **env,
    })


def write_dist(directory: Path) -> Path:
    """A web/dist as Vite leaves it (index.html, hashed assets, public/'s favicon)."""
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_text(
        '<script type="module" src="/assets/index-abc123.js"></script>')
    (directory / "assets" / "index-abc123.js").write_text("export {};")
    (directory / "favicon.svg").write_text("<svg/>")
    return directory


def run_publish(tmp_path: Path, web: Path | None = None, **env: str) -> Build:
    """Run buildspec-web.yml as the PublishWeb action does: the commit's source as the
    primary source (the working directory) and the build's `web` artifact unpacked at
    CODEBUILD_SRC_DIR_web, with the variables the web-publish project sets. The source holds a
    stale web/dist of its own, which the publish must never read."""
    workspace = tmp_path / "src"
    write_dist(workspace / "web" / "dist")
    (workspace / "web" / "dist" / "assets" / "stale-from-source.js").write_text("")
    shutil.copy(ROOT / "buildspec-web.yml", workspace)
    if web is None:
        web = write_dist(tmp_path / "artifacts" / "web")
    return run_spec(tmp_path, publish_spec(), workspace, {
        "CODEBUILD_SRC_DIR": str(workspace),
        "CODEBUILD_SRC_DIR_web": str(web),
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "WEB_BUCKET": WEB_BUCKET,
        "WEB_DISTRIBUTION_ID": DISTRIBUTION,
        **env,
    })


def artifact(workspace: Path, spec: dict[str, Any]) -> dict[str, Path]:
    """What CodeBuild packs into one (secondary) artifact of the buildspec: the files its
    `files` globs match under `base-directory`, by their path inside the artifact."""
    base = workspace / spec.get("base-directory", ".")
    found: dict[str, Path] = {}
    for pattern in spec["files"]:
        for path in sorted(base.glob(pattern)):
            if path.is_file():
                found[path.relative_to(base).as_posix()] = path
    return found


def repo(service: str) -> str:
    return f"{REGISTRY}/{PREFIX}/{service}"


def web_calls(build: Build) -> list[list[str]]:
    """The aws calls that publish the web app (S3 and CloudFront), in order."""
    return [args for args in build.of("aws") if args[0] in ("s3", "cloudfront")]


def index(build: Build, tool: str, args: list[str]) -> int:
    """Position of one recorded call among all the build's calls."""
    return next(i for i, c in enumerate(build.calls) if c["tool"] == tool and c["args"] == args)


def test_every_phase_aborts_the_build_on_failure() -> None:
    """All four phases exist and stop the build at their first failing command; so does
    every phase of the publish buildspec."""
    spec = buildspec()
    assert spec["version"] == 0.2 and spec["env"]["shell"] == "bash"
    for phase in PHASES:
        assert spec["phases"][phase]["on-failure"] == "ABORT", phase
    assert spec["phases"]["install"]["runtime-versions"]["python"]
    assert spec["phases"]["install"]["runtime-versions"]["nodejs"]
    publish = publish_spec()
    assert publish["version"] == 0.2 and publish["env"]["shell"] == "bash"
    assert set(publish["phases"]) <= set(PHASES) and publish["phases"]
    for phase, body in publish["phases"].items():
        assert body["on-failure"] == "ABORT", f"buildspec-web.yml {phase}"


@pytest.mark.parametrize("name", ["buildspec.yml", "buildspec-web.yml"])
def test_every_command_is_a_string(name: str) -> None:
    """YAML reads `echo "a: b"` unquoted as a mapping; CodeBuild would reject the buildspec."""
    spec = buildspec(name)
    for phase, body in spec["phases"].items():
        for command in body["commands"]:
            assert isinstance(command, str), f"{name} {phase}: {command!r}"


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
    assert not list(build.workspace.glob("imagedefinitions-*.json"))


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


def test_the_build_publishes_nothing(tmp_path: Path) -> None:
    """The build makes nothing live: its one aws call is the registry login (no S3, no
    CloudFront), it needs no web bucket or distribution, and its buildspec names neither;
    the app waits in the `web` artifact for the Deploy stage."""
    build = run_build(tmp_path)
    assert build.code == 0, build.output
    assert build.of("aws") == [["ecr", "get-login-password", "--region", "eu-west-1"]]
    assert web_calls(build) == []
    text = (ROOT / "buildspec.yml").read_text()
    for word in ("WEB_BUCKET", "WEB_DISTRIBUTION_ID", "s3 sync", "cloudfront"):
        assert word not in text, word


def test_a_failing_web_build_stops_before_anything_is_built_or_pushed(tmp_path: Path) -> None:
    """A failing `npm run build` (a type error, say) ends the build phase: no image, no push,
    no imagedefinitions file."""
    build = run_build(tmp_path, STAND_IN_FAIL="npm run build")
    assert build.code != 0 and "phase build failed" in build.output
    assert [c for c in build.of("docker") if c[0] in ("build", "push")] == []
    assert not list(build.workspace.glob("imagedefinitions-*.json"))


def test_a_web_build_without_output_fails_the_build(tmp_path: Path) -> None:
    """No web/dist/index.html, no release: the build fails before any image, so no empty
    `web` artifact can reach the publish."""
    build = run_build(tmp_path, STAND_IN_NO_DIST="1")
    assert build.code != 0 and "no web/dist/index.html" in build.output
    assert [c for c in build.of("docker") if c[0] in ("build", "push")] == []


def test_the_build_hands_on_two_artifacts(
    tmp_path: Path, services: dict[str, dict[str, Any]]
) -> None:
    """`imagedefs` holds every service's imagedefinitions file at its top (the ECS actions
    name theirs with FileName); `web` holds web/dist with index.html at its top. Two outputs,
    well under CodeBuild's five."""
    artifacts = buildspec()["artifacts"]["secondary-artifacts"]
    assert set(artifacts) == {"imagedefs", "web"}
    build = run_build(tmp_path)
    assert build.code == 0, build.output
    assert set(artifact(build.workspace, artifacts["imagedefs"])) \
        == {f"imagedefinitions-{name}.json" for name in services}
    assert set(artifact(build.workspace, artifacts["web"])) \
        == {"index.html", "assets/index-abc123.js"}
    assert artifacts["web"]["base-directory"] == "web/dist"
    assert set(artifact(build.workspace, buildspec()["artifacts"])) \
        == set(artifact(build.workspace, artifacts["imagedefs"]))


def test_the_pipeline_wires_the_artifacts_the_buildspecs_use(tf: TerraformTree) -> None:
    """The build action's outputs are buildspec.yml's secondary artifacts; the publish
    action's secondary input is the `web` one, read by buildspec-web.yml as
    CODEBUILD_SRC_DIR_<its name>, and its primary source carries buildspec-web.yml."""
    pipeline = tf.resource("pipeline", "aws_codepipeline", "this")
    locals_ = {k: v for _, doc in tf.files.items() for entry in doc.get("locals", [])
               for k, v in entry.items()}

    def name(value: str) -> str:
        text = str(value)
        return locals_[text[len("${local."):-1]] if text.startswith("${local.") else text

    build = next(s for s in pipeline["stage"] if s["name"] == "Build")["action"][0]
    assert {name(a) for a in build["output_artifacts"]} \
        == set(buildspec()["artifacts"]["secondary-artifacts"])
    deploy = next(s for s in pipeline["stage"] if s["name"] == "Deploy")
    publish = next(a for a in deploy["action"] if a["name"] == "PublishWeb")
    inputs = [name(a) for a in publish["input_artifacts"]]
    assert publish["configuration"]["PrimarySource"] == "source" and "source" in inputs
    (web,) = [a for a in inputs if a != "source"]
    assert web in buildspec()["artifacts"]["secondary-artifacts"]
    assert f"CODEBUILD_SRC_DIR_{web}" in (ROOT / "buildspec-web.yml").read_text()
    project = tf.resource("pipeline", "aws_codebuild_project", "web_publish")
    assert project["source"][0]["buildspec"] == "buildspec-web.yml"
    assert (ROOT / "buildspec-web.yml").is_file()


# --- buildspec-web.yml: the web app published ---------------------------------------------


def test_the_publish_syncs_assets_then_pages_then_prunes_then_invalidates(
    tmp_path: Path
) -> None:
    """New hashed assets (immutable), then index.html and the other unhashed files
    (no-cache) with stale ones removed, then stale assets pruned, then one invalidation of
    the entry points; config.json (Terraform's) is excluded wherever --delete could reach
    it. Everything comes from the `web` artifact, nothing from the source's own web/."""
    web = write_dist(tmp_path / "artifacts" / "web")
    build = run_publish(tmp_path, web)
    assert build.code == 0, build.output
    bucket = f"s3://{WEB_BUCKET}"
    assert build.of("aws") == web_calls(build) == [
        ["s3", "sync", f"{web}/assets", f"{bucket}/assets", "--no-progress",
         "--cache-control", IMMUTABLE],
        ["s3", "sync", str(web), bucket, "--no-progress", "--delete",
         "--exclude", "assets/*", "--exclude", "config.json", "--cache-control", "no-cache"],
        ["s3", "sync", f"{web}/assets", f"{bucket}/assets", "--no-progress", "--delete",
         "--cache-control", IMMUTABLE],
        ["cloudfront", "create-invalidation", "--distribution-id", DISTRIBUTION,
         "--paths", "/index.html", "/", "--query", "Invalidation.Id", "--output", "text"],
    ]
    assert {c["tool"] for c in build.calls} == {"aws"}, "the publish builds or installs"


def test_the_publish_publishes_what_the_build_hands_on(tmp_path: Path) -> None:
    """The `web` artifact of a simulated build, unpacked as CodeBuild unpacks it, is what
    the publish syncs: index.html and assets/ where it looks for them."""
    build = run_build(tmp_path / "build")
    assert build.code == 0, build.output
    unpacked = tmp_path / "artifacts" / "web"
    for inside, path in artifact(build.workspace,
                                 buildspec()["artifacts"]["secondary-artifacts"]["web"]).items():
        (unpacked / inside).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, unpacked / inside)
    publish = run_publish(tmp_path / "publish", unpacked)
    assert publish.code == 0, publish.output
    assert [call[2] for call in web_calls(publish) if call[0] == "s3"] \
        == [f"{unpacked}/assets", str(unpacked), f"{unpacked}/assets"]


@pytest.mark.parametrize("failing, done", [
    ("s3 sync {web}/assets s3://", 1),
    ("s3 sync {web} s3://", 2),
    ("--delete --cache-control public", 3),
])
def test_a_failing_sync_ends_the_publish_before_the_invalidation(
    tmp_path: Path, failing: str, done: int
) -> None:
    """The first failing sync ends the publish: no later sync, no invalidation, a failed
    action (CodePipeline then marks the release failed)."""
    web = write_dist(tmp_path / "artifacts" / "web")
    build = run_publish(tmp_path, web, STAND_IN_FAIL=failing.format(web=web))
    assert build.code != 0
    calls = web_calls(build)
    assert len(calls) == done and calls[-1][0] == "s3", "the publish went on after a failure"


def test_a_failing_invalidation_fails_the_publish(tmp_path: Path) -> None:
    """CloudFront refusing the invalidation fails the action: the old index.html could stay
    cached at the edge, and someone has to know."""
    build = run_publish(tmp_path, STAND_IN_FAIL="cloudfront create-invalidation")
    assert build.code != 0
    assert [c[0] for c in web_calls(build)] == ["s3", "s3", "s3", "cloudfront"]


@pytest.mark.parametrize("variable", ["WEB_BUCKET", "WEB_DISTRIBUTION_ID",
                                      "CODEBUILD_SRC_DIR_web"])
def test_the_publish_refuses_without_its_target_or_its_input(
    tmp_path: Path, variable: str
) -> None:
    """Without WEB_BUCKET or WEB_DISTRIBUTION_ID (set by the web-publish project) or the
    `web` input artifact, the publish stops before any aws call."""
    build = run_publish(tmp_path, **{variable: ""})
    why = "no web artifact" if variable == "CODEBUILD_SRC_DIR_web" \
        else "no web bucket or distribution"
    assert build.code != 0 and why in build.output
    assert build.of("aws") == []


@pytest.mark.parametrize("left", ["nothing", "assets only", "index.html only",
                                  "an empty index.html"])
def test_an_empty_or_partial_web_artifact_is_never_synced(tmp_path: Path, left: str) -> None:
    """`sync --delete` of an empty web/dist would empty the bucket, of one without assets
    would prune every asset the live index.html references: refuse both, before any call."""
    web = write_dist(tmp_path / "artifacts" / "web")
    if left in ("nothing", "assets only"):
        (web / "index.html").unlink()
    if left == "an empty index.html":
        (web / "index.html").write_text("")
    if left in ("nothing", "index.html only"):
        shutil.rmtree(web / "assets")
    if left == "nothing":
        (web / "favicon.svg").unlink()
    build = run_publish(tmp_path, web)
    assert build.code != 0 and "nothing published" in build.output
    assert build.of("aws") == []


def test_each_codebuild_project_gets_what_its_buildspec_reads(tf: TerraformTree) -> None:
    """The web-publish project hands buildspec-web.yml the web bucket and distribution; the
    images project hands buildspec.yml neither (it publishes nothing)."""
    def variables(project: str) -> dict[str, str]:
        body = tf.resource("pipeline", "aws_codebuild_project", project)
        return {v["name"]: str(v["value"])
                for v in body["environment"][0].get("environment_variable", [])}

    assert variables("web_publish") == {"WEB_BUCKET": "${var.web_bucket}",
                                        "WEB_DISTRIBUTION_ID": "${var.web_distribution_id}"}
    assert variables("images") == {"ECR_REGISTRY": "${var.registry}",
                                   "ECR_REPOSITORY_PREFIX": "${var.repository_prefix}"}
