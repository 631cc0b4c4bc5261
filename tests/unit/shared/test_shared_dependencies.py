"""Every third-party import is declared in pyproject.toml, in a group the importing code gets;
and the layers import each other only downwards.

A static check (ast, no code imported): the imports of shared/, services/, devkit/, bench/,
docker/ and tests/ are mapped to the distributions that provide them (importlib.metadata, so
it runs in the dev venv, which holds every group) and each one must be declared where its
layer installs it: the service images get the runtime set alone (`[project].dependencies`),
`make run` adds the `local` group, tests and benchmarks add `dev`. An import that merely
happens to arrive as some other package's dependency fails here: it would vanish the day that
package drops it. An import under ``if TYPE_CHECKING:`` never runs: the type checker reads it
in the dev venv, so it belongs to the dev layer wherever it is written (the stubs).

The dependency rule (docs/architecture.md): the kit (shared/) imports neither a service nor
devkit; a service imports the kit and its own package, never devkit nor another service; the
image scripts (docker/) import no devkit, the provisioner's aside; devkit, bench/ and tests/
may import everything. tests/infra/test_infra_image.py checks what the images really hold.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.support.imports import imports, normalize

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("shared", "services", "devkit", "bench", "docker", "tests")

# devkit/ serves the local platform (`make run`: the emulator, the gateway, the `regatta`
# command); these modules of it serve the tests alone.
DEVKIT_DEV = {"browser", "fuzzing", "testing"}
# Image scripts that run in a local-only target (compose's provisioner), which adds the few
# devkit modules they import (docker/Dockerfile).
LOCAL_SCRIPTS = {"docker/provision.py"}

LAYERS = ("runtime", "local", "dev")  # each layer gets its own group and every one before it
def declared(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, set[str]]:
    """The normalized distribution names each layer gets, groups included as uv includes them."""
    data = tomllib.loads(pyproject.read_text())
    groups = data.get("dependency-groups", {})

    def names(entries: list[str | dict[str, str]]) -> set[str]:
        found: set[str] = set()
        for entry in entries:
            if isinstance(entry, dict):
                found |= names(groups[entry["include-group"]])
            else:
                match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", entry)
                assert match, f"pyproject.toml: cannot read the requirement {entry!r}"
                found.add(normalize(match.group(1)))
        return found

    runtime = names(data["project"]["dependencies"])
    local = runtime | names(groups.get("local", []))
    return {"runtime": runtime, "local": local, "dev": local | names(groups.get("dev", []))}


def layer(path: Path) -> str:
    """The layer a file of the repo belongs to (which groups are installed where it runs)."""
    rel = path.relative_to(ROOT)
    if rel.parts[0] in ("shared", "services", "docker"):
        return "runtime"
    if rel.parts[0] == "devkit":
        return "dev" if path.stem in DEVKIT_DEV else "local"
    return "dev"  # bench/, tests/


def python_files() -> list[Path]:
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("*.py")
                  if "node_modules" not in p.parts)


def first_party() -> set[str]:
    """Top-level names that are the repo's own: its packages, and the modules that scripts
    (bench/, docker/) and pytest (each test directory is put on sys.path) import by name."""
    names = set(SCANNED)
    for top in ("bench", "docker", "tests"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
                names.add(path.stem)
    return names


def undeclared(files: dict[Path, str | None]) -> list[str]:
    """One line per third-party import whose distribution its layer does not get."""
    groups = declared()
    ours = first_party()
    providers = packages_distributions()
    problems: list[str] = []
    seen: set[tuple[Path, int, str]] = set()
    for path, source in files.items():
        for imp in imports(path, source):
            where = "dev" if imp.typing_only else layer(path)
            if imp.top in sys.stdlib_module_names or imp.top in ours or imp.top == "__future__":
                continue
            if (path, imp.line, imp.top) in seen:
                continue
            seen.add((path, imp.line, imp.top))
            at = f"{path.relative_to(ROOT)}:{imp.line}: import {imp.module}"
            dists = {normalize(d) for d in providers.get(imp.top, [])}
            if not dists:
                problems.append(f"{at}: no installed distribution provides {imp.top!r}")
            elif not dists & groups[where]:
                has = [name for name in LAYERS if dists & groups[name]]
                problems.append(f"{at}: {' or '.join(sorted(dists))} is not declared for the "
                                f"{where} layer" + (f" (only in {has[0]})" if has else ""))
    return problems


def test_every_third_party_import_is_declared_for_its_layer() -> None:
    problems = undeclared({path: None for path in python_files()})
    assert not problems, "undeclared imports (pyproject.toml):\n" + "\n".join(problems)


def forbidden(path: Path, module: str) -> str | None:
    """Why ``path`` may not import ``module`` under the dependency rule (None: it may)."""
    rel = path.relative_to(ROOT)
    parts = module.split(".")
    if rel.parts[0] == "shared":
        if parts[0] == "services":
            return "the kit imports no service"
        if parts[0] == "devkit":
            return "the kit imports nothing of devkit"
    if rel.parts[0] == "services":
        if parts[0] == "devkit":
            return "a service imports nothing of devkit"
        if parts[0] == "services" and len(parts) > 1 and len(rel.parts) > 1 \
                and parts[1] != rel.parts[1]:
            return "a service imports no other service (events are its only news)"
    if (rel.parts[0] == "docker" and rel.as_posix() not in LOCAL_SCRIPTS
            and parts[0] == "devkit"):
        return "an image script imports nothing of devkit"
    return None


def layer_violations(files: dict[Path, str | None]) -> list[str]:
    """One line per import that breaks the dependency rule (dynamic ones included)."""
    bad = []
    for path, source in files.items():
        for imp in imports(path, source):
            why = forbidden(path, imp.module)
            if why:
                bad.append(f"{path.relative_to(ROOT)}:{imp.line}: import {imp.module}: {why}")
    return bad


def test_the_layers_import_only_downwards() -> None:
    """shared/ imports no service and no devkit; services/ no devkit and no other service;
    the service images' scripts no devkit (the images would fail to start)."""
    bad = layer_violations({path: None for path in python_files()})
    assert not bad, "\n".join(bad)


def test_the_layer_check_catches_what_it_is_for() -> None:
    """A kit module importing a service (even through importlib) or devkit, a service
    importing devkit or another service, the health check importing devkit: all caught; the
    provisioner script, devkit and tests importing anything: allowed."""
    kit = ROOT / "shared" / "example.py"
    service = ROOT / "services" / "recipes" / "example.py"
    bad = layer_violations({
        kit: "import services.recipes.api\nimport importlib\n"
             "importlib.import_module('services.trend.access')\n"
             "from devkit import testing\n",
        service: "from devkit.emulator import Emulator\nfrom services.trend import models\n"
                 "from services.recipes import logic\nfrom shared import http\n",
        ROOT / "docker" / "healthcheck.py": "import devkit.catalog\n",
        ROOT / "docker" / "provision.py": "from devkit.provision import provision\n",
        ROOT / "devkit" / "example.py": "import services.recipes.api\nimport shared.http\n",
        ROOT / "tests" / "unit" / "example.py": "import devkit, services.trend, shared\n",
    })
    assert {line.split(": ", 1)[0] for line in bad} == {
        "shared/example.py:1", "shared/example.py:3", "shared/example.py:4",
        "services/recipes/example.py:1", "services/recipes/example.py:2",
        "docker/healthcheck.py:1"}, bad


def test_listed_modules_exist() -> None:
    for name in DEVKIT_DEV:
        assert (ROOT / "devkit" / f"{name}.py").is_file(), f"devkit/{name}.py is gone"
    for script in LOCAL_SCRIPTS:
        assert (ROOT / script).is_file(), f"{script} is gone"


def test_the_check_catches_what_it_is_for() -> None:
    """A service importing a local-only package, a guarded optional import, a transitive
    dependency nobody declared, and a module nothing installs."""
    service = ROOT / "services" / "recipes" / "example.py"
    problems = undeclared({service: (
        "import moto\n"
        "try:\n    import rich\nexcept ImportError:\n    rich = None\n"
        "import jmespath\n"
        "def f():\n    import not_a_distribution_anywhere\n"
        "import fastapi, json\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from types_aiobotocore_sqs import SQSClient\n"
        "    import not_a_stub_anywhere\n"
    )})
    assert len(problems) == 4, problems
    assert "moto is not declared for the runtime layer (only in local)" in problems[0]
    assert "jmespath is not declared for the runtime layer" in problems[1]
    assert "no installed distribution provides 'not_a_distribution_anywhere'" in problems[2]
    assert "no installed distribution provides 'not_a_stub_anywhere'" in problems[3]
    test = ROOT / "tests" / "unit" / "example.py"
    assert undeclared({test: "import moto, pytest, hypothesis\n"}) == []
