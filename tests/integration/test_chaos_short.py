"""The fault suite in short: `bench/chaos.py` for about a minute, and its targets.

The harness starts its own emulator, fault proxy and every process `make run` runs, kills processes
with SIGKILL (and at armed fault points), throttles, resets and blacks out the AWS endpoint,
re-delivers a sample of events, then reconciles the API's 2xx answers and the tables against
what appeared downstream. Run in a subprocess, exactly as `make chaos` runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("chaos") / "result.json"
    run = subprocess.run(
        [sys.executable, "bench/chaos.py", "--seconds", "60", "--kills", "8", "--blackouts",
         "2", "--settle", "120", "--seed", "11", "--log-level", "WARNING", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    result["stdout"] = run.stdout
    return result


@pytest.mark.timeout(960)
def test_the_faults_really_happened(chaos: dict[str, Any]) -> None:
    assert chaos["kills_total"] >= 8, chaos["kills"]
    assert len(chaos["blackouts"]) >= 2
    assert sum(chaos["duplicates_injected"].values()) > 0
    assert chaos["proxy_faults"].get("throttle", 0) > 0
    assert sum(chaos["committed"].values()) > 50, chaos["committed"]


@pytest.mark.timeout(960)
def test_nothing_lost(chaos: dict[str, Any]) -> None:
    assert chaos["lost"] == [], chaos["stdout"]


@pytest.mark.timeout(960)
def test_nothing_doubled_stuck_or_dead_lettered(chaos: dict[str, Any]) -> None:
    assert chaos["duplicated"] == [], chaos["stdout"]
    assert chaos["stuck"] == [], chaos["stdout"]
    assert chaos["dlq_non_poison"] == [], chaos["stdout"]
    assert chaos["server_errors"] == [], chaos["stdout"]
