"""One error tree: every exception class of shared/ and services/ is a RegattaError named *Error.

The modules are imported (not parsed), so a base imported under another name or inherited
through a service's own family still counts; classes defined inside functions are not seen.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from collections.abc import Iterator

import pytest

import services
import shared
from shared.errors import (
    ConflictError,
    InvalidInputError,
    ProblemError,
    RegattaError,
    RetryableError,
)


def _modules() -> Iterator[types.ModuleType]:
    for package in (shared, services):
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            yield importlib.import_module(info.name)


def _exceptions(module: types.ModuleType) -> Iterator[type[BaseException]]:
    """The exception classes ``module`` defines (imported ones belong to their own module)."""
    for value in vars(module).values():
        if (inspect.isclass(value) and issubclass(value, BaseException)
                and value.__module__ == module.__name__):
            yield value


def violations(modules: list[types.ModuleType]) -> list[str]:
    """What breaks the rule, one line per class: ``module.Class: why``."""
    found = []
    for module in modules:
        for cls in _exceptions(module):
            where = f"{module.__name__}.{cls.__qualname__}"
            if not issubclass(cls, RegattaError):
                found.append(f"{where}: not a RegattaError (bases: "
                             f"{', '.join(b.__name__ for b in cls.__bases__)})")
            if not cls.__name__.endswith("Error"):
                found.append(f"{where}: name does not end in Error")
    return found


MODULES = list(_modules())


def test_every_exception_of_the_kit_and_the_services_is_a_regatta_error_named_error() -> None:
    """Each exception class defined in shared/ or services/ derives from RegattaError and its
    name ends in Error."""
    assert violations(MODULES) == []


def test_the_walk_reaches_every_service_and_the_kit() -> None:
    """The walk imports each service's modules, subpackages included, and the kit's."""
    names = {m.__name__ for m in MODULES}
    for service in ("recipes", "meetings", "stock_ingest", "trend", "media_jobs", "insights"):
        assert f"services.{service}.store" in names
    assert {"shared.errors", "shared.dynamo", "services.meetings.nlu.dates"} <= names


def test_a_stray_exception_is_reported() -> None:
    """GIVEN a module with a bare Exception subclass and a RegattaError without the suffix,
    WHEN it is checked, THEN both are reported and a well-formed one is not."""
    module = types.ModuleType("planted")
    exec(
        "from shared.errors import RegattaError\n"
        "class Stray(Exception): pass\n"
        "class NoSuffix(RegattaError): pass\n"
        "class FineError(RegattaError): pass\n",
        module.__dict__,
    )
    assert violations([module]) == [
        "planted.Stray: not a RegattaError (bases: Exception)",
        "planted.Stray: name does not end in Error",
        "planted.NoSuffix: name does not end in Error",
    ]


@pytest.mark.parametrize("kind", [InvalidInputError, RetryableError])
def test_internal_kinds_are_not_http_problems(kind: type[RegattaError]) -> None:
    """Internal kinds (bad input, a retry signal) never render as an HTTP problem by type."""
    assert not issubclass(kind, ProblemError)


def test_invalid_input_is_still_a_value_error() -> None:
    """InvalidInputError stays a ValueError, so pydantic validators and ValueError handlers
    keep treating the service errors beneath it as before."""
    assert issubclass(InvalidInputError, ValueError)
    assert not issubclass(ConflictError, RetryableError)
