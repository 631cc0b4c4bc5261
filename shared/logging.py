"""structlog configuration: JSON in containers, pretty on a terminal, context via contextvars.

Bind once, every later line carries it::

    bind_contextvars(request_id=rid)
    log.info("recipe.created", recipe_id=rid)
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
import structlog.tracebacks
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars

__all__ = [
    "bind_contextvars",
    "bound_contextvars",
    "clear_contextvars",
    "configure_logging",
    "get_logger",
]


def configure_logging(level: str = "INFO", fmt: str = "auto", service: str | None = None) -> None:
    """Configure structlog and the standard library's root logger once per process."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if use_json:
        processors += [
            # Never log local variables: they hold bearer tokens and request bodies.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors.append(structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
            if _has_rich() else structlog.dev.plain_traceback,
        ))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    if service:
        structlog.contextvars.bind_contextvars(service=service)


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` is added as the ``logger`` field."""
    return structlog.get_logger(name) if name else structlog.get_logger()
