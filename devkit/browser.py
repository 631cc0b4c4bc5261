"""The web app in a browser, for the browser tests (tests/e2e/web) and the page benchmarks
(bench/): Debian's Chromium, the built web app, pages that record what the console says, and
screenshots kept as test artefacts. Playwright is imported by the callers (its async API on
their own event loop); nothing here needs it at import time."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devkit.catalog import ROOT

WEB = ROOT / "web"
DIST = WEB / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "web"
# Debian's chromium package: Playwright's own Chromium build cannot play H.264 (and cannot be
# downloaded here anyway). REGATTA_CHROMIUM points elsewhere if needed.
CHROMIUM = Path(os.environ.get("REGATTA_CHROMIUM", "/usr/bin/chromium"))
# Headless, no sandbox (root in CI), and nothing that phones home on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SOURCES = ["index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json",
           "src", "public"]


def _newest(paths: list[Path]) -> float:
    stamps = [0.0]
    for path in paths:
        if path.is_dir():
            stamps += [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
        elif path.exists():
            stamps.append(path.stat().st_mtime)
    return max(stamps)


def build_web() -> str | None:
    """Build web/dist when missing or older than its sources; None, or why it cannot be."""
    index = DIST / "index.html"
    if index.exists() and index.stat().st_mtime >= _newest([WEB / s for s in SOURCES]):
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed, so web/dist cannot be built (see docs/web.md)"
    steps = [] if (WEB / "node_modules" / ".package-lock.json").exists() else [[npm, "ci"]]
    for step in [*steps, [npm, "run", "build"]]:
        result = subprocess.run(step, cwd=WEB, capture_output=True, text=True, timeout=300,
                                check=False)
        if result.returncode != 0:
            return f"`{' '.join(step[1:])}` failed in web/:\n{result.stdout[-3000:]}" \
                   f"{result.stderr[-3000:]}"
    return None


@dataclass
class ConsoleEntry:
    """One console error or uncaught exception of a page."""

    text: str
    url: str = ""


@dataclass
class WebPage:
    """A Playwright page (async API) of the web app on the gateway, with its console errors
    recorded."""

    page: Any
    base_url: str
    errors: list[ConsoleEntry] = field(default_factory=list)

    def attach(self) -> WebPage:
        def on_console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(ConsoleEntry(message.text, message.location.get("url", "")))

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda error: self.errors.append(ConsoleEntry(str(error))))
        return self

    async def open(self, route: str) -> None:
        """Load the app at a hash route, e.g. ``/recipes``, and wait until the page has
        rendered (the router marks ``main`` ready once the page's data is in)."""
        await self.page.goto(f"{self.base_url}/#{route}")
        await self.page.wait_for_function(
            "route => { const main = document.getElementById('main');"
            " return !!main && main.dataset.route === route && main.dataset.ready === 'true' }",
            arg=route)

    async def sign_in(self, username: str, password: str, next_route: str | None = None
                      ) -> None:
        """Sign in through the form and wait until the header names the user; the app then
        goes to ``next_route`` (by default its recipes list)."""
        await self.open(f"/signin?next={quote(next_route, safe='')}" if next_route
                        else "/signin")
        await self.page.get_by_label("User name").fill(username)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.get_by_test_id("signed-in-as").filter(has_text=username).wait_for()

    async def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a PNG under test-artifacts/web/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_console_clean(self, allowed: Callable[[ConsoleEntry], bool] = lambda _: False
                             ) -> None:
        """No console error and no uncaught exception, except those ``allowed`` accepts."""
        unexpected = [e for e in self.errors if not allowed(e)]
        assert not unexpected, "\n".join(f"{e.text} ({e.url})" for e in unexpected)
