"""The kit and the services pass the type checker: mypy --strict over the files that
``[tool.mypy]`` in pyproject.toml names (the same run as ``make lint``), and no blanket
ignores: every ``# type: ignore`` names its error code.

One test, one mypy run over the whole configured set (mypy's own cache under .mypy_cache/
makes the second run in a checkout a few seconds).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
IGNORE = re.compile(r"#\s*type:\s*ignore(?!\[[a-z-]+(,\s*[a-z-]+)*\])")


def configured() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]


@pytest.mark.slow
def test_mypy_strict_finds_no_error() -> None:
    """mypy, as configured, exits 0 over its files."""
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]


def test_the_type_check_is_strict_and_ignores_nothing_wholesale() -> None:
    """strict mode; no module excused from errors; every ignore comment names its code."""
    config = configured()
    assert config["strict"] is True
    assert "ignore_errors" not in config
    for override in config.get("overrides", []):
        assert set(override) <= {"module", "ignore_missing_imports"}, override
    blanket = [f"{path.relative_to(ROOT)}:{number}"
               for top in ("shared", "services") for path in sorted((ROOT / top).rglob("*.py"))
               for number, line in enumerate(path.read_text().splitlines(), 1)
               if IGNORE.search(line)]
    assert not blanket, f"# type: ignore without an error code: {blanket}"
