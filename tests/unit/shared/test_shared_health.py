"""Worker liveness files (``shared.health``): touched on progress, judged by their age."""

from __future__ import annotations

import os
from pathlib import Path

from shared.health import liveness_file, stalled_queues, touch


def test_touch_creates_the_file_and_its_directory(tmp_path: Path) -> None:
    """The first progress creates <dir>/<queue>, even before the directory exists."""
    path = liveness_file(tmp_path / "liveness", "recipes-search-index")

    touch(path)

    assert path == tmp_path / "liveness" / "recipes-search-index" and path.is_file()


def test_touch_moves_the_mtime_forward(tmp_path: Path) -> None:
    """Touching an old file makes it fresh again."""
    path = tmp_path / "q"
    path.touch()
    os.utime(path, (1_000, 1_000))

    touch(path)

    assert path.stat().st_mtime > 1_000_000


def test_fresh_files_are_healthy_and_stale_or_missing_ones_are_not(tmp_path: Path) -> None:
    """A queue is healthy while its file is at most stall_seconds old; an older or missing
    file is a problem that names the queue and says why."""
    now = 2_000_000.0
    for queue, age in {"fresh": 0, "edge": 120, "stale": 121}.items():
        (tmp_path / queue).touch()
        os.utime(tmp_path / queue, (now - age, now - age))

    assert stalled_queues(tmp_path, ["fresh", "edge"], stall_seconds=120, now=now) == []
    problems = stalled_queues(tmp_path, ["fresh", "stale", "absent"], stall_seconds=120, now=now)
    assert len(problems) == 2
    assert problems[0].startswith("queue stale: no progress for 121 s")
    assert problems[1].startswith("queue absent: no progress recorded yet")
