"""Test configuration: the platform kit's fixtures (emulator, provisioned stack, tokens), and
how the suite spreads over pytest-xdist's workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["devkit.testing", "pytester"]

TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup`` the tests of one integration or e2e folder share a worker,
    so each folder's session stack (emulator, services) starts once, not once per worker; a
    file of its own (the access matrix, the chaos run) is a group of its own. Unit and infra
    tests start nothing and spread freely."""
    for item in items:
        parts = item.path.relative_to(TESTS).parts
        if parts[0] in ("integration", "e2e"):
            group = "/".join(parts[:2] if len(parts) > 2 else parts)
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True, scope="session")
def _no_metrics_at_exit() -> Iterator[None]:
    """An app or worker a test builds in this process may turn EMF metrics on; its window
    would print a last line at exit, after pytest's summary. Tests that read metrics install
    their own window."""
    yield
    from shared import telemetry

    telemetry.install_metrics(None, "")


def pytest_configure(config: pytest.Config) -> None:
    """Apps built in this process configure logging (``shared.logging.configure_logging``)
    with loggers that cache their configuration on first use. A logger cached under one
    configuration misses capture_logs once the next app has configured logging again, so a
    test's captured logs would depend on which tests ran before it in this process. Here no
    logger caches: from before collection (test modules importing an app's module configure
    logging as they are imported), and the configuration in force now is switched too."""
    import structlog

    configure = structlog.configure

    def uncached(**settings: object) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})  # type: ignore[arg-type]

    structlog.configure = uncached  # type: ignore[assignment]
    configure(cache_logger_on_first_use=False)
