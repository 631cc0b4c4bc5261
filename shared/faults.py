"""Named fault points: places where a test or the chaos harness can kill the process.

A fault point is inert unless armed. ``REGATTA_FAULT_POINTS`` arms some, as a comma-separated
list of ``name`` or ``name@N`` (trigger on the N-th time the point is reached, default 1)::

    REGATTA_FAULT_POINTS="recipes.create.committed@3" uvicorn services.recipes.main:app

When an armed point triggers, the process logs ``fault.triggered`` and dies at once with
SIGKILL: no finally blocks, no graceful shutdown, exactly as an out-of-memory kill or a lost
host. Points are placed where a crash is most dangerous, e.g. just after a write commits and
before anything else happens.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter

ENV_VAR = "REGATTA_FAULT_POINTS"


def _parse(spec: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, nth = part.partition("@")
        armed[name] = int(nth) if nth else 1
    return armed


_armed = _parse(os.environ.get(ENV_VAR, ""))
_reached: Counter[str] = Counter()


def arm(spec: str) -> None:
    """Arm fault points as the environment variable does (replaces what was armed)."""
    global _armed
    _armed = _parse(spec)
    _reached.clear()


def fault_point(name: str) -> None:
    """Kill the process here if ``name`` is armed and reached for the armed time."""
    if not _armed or name not in _armed:
        return
    _reached[name] += 1
    if _reached[name] == _armed[name]:
        sys.stderr.write(f'{{"event": "fault.triggered", "point": "{name}"}}\n')
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
