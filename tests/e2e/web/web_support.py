"""Helpers of the browser tests: they live in devkit.browser, which the page benchmarks
(bench/) share; the tests import them from here as they always did."""

from devkit.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    DIST,
    PHONE,
    ROOT,
    SOURCES,
    WEB,
    ConsoleEntry,
    WebPage,
    build_web,
)

__all__ = ["ARTIFACTS", "CHROMIUM", "CHROMIUM_ARGS", "DESKTOP", "DIST", "PHONE", "ROOT", "SOURCES",
           "WEB", "ConsoleEntry", "WebPage", "build_web"]
