"""A progress bar for the services' developer commands (``regatta produce``,
``regatta insights-generate``): rich's, when it is installed (the local tooling set) and
wanted; otherwise nothing. The service images do not hold rich, and nothing there asks."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any


def progress(show: bool, total: int | None, unit: str) -> tuple[AbstractContextManager[Any],
                                                                Callable[[int], None]]:
    """A context manager showing the bar while it is entered, and what advances it by n
    ``unit`` (``total``: how many in all, None when not known)."""
    try:
        from rich.progress import Progress
    except ImportError:
        show = False
    if not show:
        return nullcontext(), lambda _: None
    bar = Progress(transient=False)
    task = bar.add_task(unit, total=total)
    return bar, lambda n: bar.advance(task, n)
