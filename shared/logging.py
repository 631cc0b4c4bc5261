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

from shared.telemetry import add_trace_ids

# Never log local variables: they hold bearer tokens and request bodies.
_EXCEPTIONS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False))

__all__ = [
    "bind_contextvars",
    "bound_contextvars",
    "clear_contextvars",
    "configure_logging",
    "get_logger",
    "uses_json",
]


def configure_logging(level: str = "INFO", fmt: str = "auto", service: str | None = None) -> None:
    """Configure structlog and the standard library's root logger once per process.

    In JSON, uvicorn's loggers and the root logger write JSON lines through the same
    processors, so one stream holds no plain-text lines among the JSON ones.
    """
    use_json = uses_json(fmt)
    common: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # trace_id and span_id of the current span (shared.telemetry), when there is one
        add_trace_ids,
    ]
    processors: list[Any] = [*common, structlog.processors.StackInfoRenderer()]
    if use_json:
        processors += [_EXCEPTIONS, structlog.processors.JSONRenderer()]
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
    if use_json:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *common],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        _EXCEPTIONS, structlog.processors.JSONRenderer()],
        ))
        _route_uvicorn(handler)
        logging.basicConfig(level=logging.WARNING, handlers=[handler])
    else:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="%(name)s %(message)s")
    if service:
        structlog.contextvars.bind_contextvars(service=service)


def uses_json(fmt: str) -> bool:
    """Whether the log format ``fmt`` (auto, json, console) writes JSON lines here."""
    return fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())


def _route_uvicorn(handler: logging.Handler) -> None:
    # uvicorn configures its loggers (plain text) before it imports the app; the app factory
    # calls configure_logging, so from then on those that write (--no-access-log leaves
    # uvicorn.access without a handler; uvicorn.error propagates to uvicorn) use ``handler``.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if logger.handlers:
            logger.handlers = [handler]


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` is added as the ``logger`` field."""
    return structlog.get_logger(name) if name else structlog.get_logger()
