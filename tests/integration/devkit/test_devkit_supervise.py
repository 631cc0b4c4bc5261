"""`regatta up` under a process manager: told to stop (SIGTERM or Ctrl-C's SIGINT), it stops
honcho, which stops every service, instead of leaving them running without it (the ports then
still held, the next `make run` refused)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A stand-in for honcho: says it started, and on SIGTERM stops its own child, records that
# and exits (or, with IGNORE set, ignores SIGTERM).
CHILD = """
import os, signal, subprocess, sys, time
from pathlib import Path
out = Path(sys.argv[1])
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
def stop(*_):
    grandchild.terminate(); grandchild.wait()
    out.write_text("stopped"); sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("IGNORE") else stop)
out.write_text(f"started {grandchild.pid}")
while True:
    time.sleep(0.1)
"""
SUPERVISOR = """
import sys
from pathlib import Path
from devkit.cli import supervise
code = supervise([sys.executable, "-c", sys.argv[1], sys.argv[2]], cwd=Path.cwd(),
                 env=dict(__import__("os").environ), grace=float(sys.argv[3]))
Path(sys.argv[2] + ".code").write_text(str(code))
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by a parent that is gone) counts as stopped.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def start(tmp_path: Path, grace: float, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp_path / "child"
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, CHILD, str(out), str(grace)],
                                  env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while not (out.exists() and out.read_text().startswith("started")):
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    return supervisor, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_child_and_what_it_runs(tmp_path: Path, sig: int) -> None:
    supervisor, out = start(tmp_path, grace=15)
    grandchild = int(out.read_text().split()[1])
    supervisor.send_signal(sig)
    assert supervisor.wait(timeout=20) == 0
    assert (tmp_path / "child.code").read_text() == "0"  # the child's own exit
    assert out.read_text() == "stopped"
    assert not alive(grandchild)


def test_a_child_that_ignores_the_stop_is_killed_after_the_grace(tmp_path: Path) -> None:
    supervisor, out = start(tmp_path, grace=1, IGNORE="1")
    grandchild = int(out.read_text().split()[1])
    started = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=20) == 0
    assert 1 <= time.monotonic() - started < 10
    assert (tmp_path / "child.code").read_text() == str(-signal.SIGKILL)
    assert out.read_text().startswith("started")
    os.kill(grandchild, signal.SIGKILL)  # a child killed cannot stop its own
