"""Encode progress reaches the job record often enough (<= the interval) and no more often."""

from __future__ import annotations

from services.media_jobs.workflow import ProgressWriter, reason


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_reports_are_written_once_per_interval_and_the_last_always():
    """ffmpeg reports every 0.5 s; with a 2 s interval every fourth is written, and 100%."""
    clock, written = Clock(), []

    async def write(percent: float) -> None:
        written.append((clock.now, percent))

    progress = ProgressWriter(write, 2.0, clock=clock)
    for step in range(1, 13):
        clock.now = step * 0.5
        await progress(step * 8.0)
    clock.now = 6.1
    await progress(100.0)

    assert written == [(2.0, 32.0), (4.0, 64.0), (6.0, 96.0), (6.1, 100.0)]
    gaps = [b[0] - a[0] for a, b in zip([(0.0, 0)] + written, written, strict=False)]
    assert max(gaps) <= 2.0


def test_reasons_are_one_line_with_their_notes():
    """Multi-line errors (and their notes) become one line for the record and the event."""
    error = ValueError("first line\nsecond   line")
    error.add_note("2 more failure(s): x")
    assert reason(error) == "first line second line; 2 more failure(s): x"
    assert reason(KeyError()) == "KeyError"
