"""Uploading a video, following its job and playing it with hls.js, in Chromium against the
local platform (Debian's Chromium: it decodes the H.264 renditions)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import WebStack
from web_support import WebPage

from devkit.cognito import DEMO_USERS
from tests.support.media_clips import ClipSpec, make_clip

playwright = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
expect = playwright.expect
pytestmark = pytest.mark.slow

ALICE = next(u for u in DEMO_USERS if u.username == "alice")
# 640x360 gets two rungs (360p and 270p): enough for ABR and for pinning one.
CLIP = ClipSpec("web-clip", 640, 360, 3.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s 640x360 H.264/AAC test clip made with the wheel's ffmpeg."""
    return make_clip(CLIP, tmp_path_factory.mktemp("web-clips"))


async def test_upload_follow_the_job_and_play_it(ui: WebPage, web_stack: WebStack,
                                                 clip: Path) -> None:
    """The upload shows progress, the job its stages until complete; the player loads, plays,
    lists both renditions, switches when one is pinned and returns to ABR; every media
    request goes to the app's own origin; the console stays clean."""
    page = ui.page
    media_requests: list[str] = []
    page.on("request", lambda r: media_requests.append(r.url)
            if any(s in r.url for s in (".m3u8", ".m4s", ".mp4", ".jpg")) else None)
    await ui.sign_in("alice", ALICE.password)
    await ui.open("/media")
    await page.get_by_label("Video file").set_input_files(clip)
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    await expect(page.locator("#upload-text")).to_contain_text("uploaded")
    job_status = page.locator("#current-job .job-progress")
    await job_status.wait_for()
    await ui.screenshot("media-upload")
    await expect(job_status).to_have_attribute("data-status", "complete", timeout=180_000)
    await expect(page.locator("#job-progress")).to_have_attribute("value", "100")
    await expect(page.locator("#job-rows tr").first).to_contain_text("complete")
    await ui.screenshot("media-jobs")

    await page.locator("#watch-link").click()
    video = page.locator("#video")
    await video.wait_for()
    # loadeddata: the first frame is decoded (readyState >= HAVE_CURRENT_DATA).
    await page.wait_for_function("() => document.querySelector('#video').readyState >= 2")
    await video.evaluate("v => { v.muted = true; return v.play() }")
    await page.wait_for_function("() => document.querySelector('#video').currentTime > 0.5")
    pin = page.locator("#rendition-pin")
    await expect(pin).to_have_attribute("data-levels", "2")
    rendition = page.locator("#current-rendition")
    await expect(rendition).not_to_have_attribute("data-level", "")
    current = int(await rendition.get_attribute("data-level") or "0")
    other = 1 - current
    await pin.select_option(str(other))
    await expect(rendition).to_have_attribute("data-level", str(other))
    await expect(rendition).to_have_attribute("data-auto", "false")
    await expect(rendition).to_contain_text("(pinned)")
    # Still playing after the switch.
    before = await video.evaluate("v => v.currentTime")
    await page.wait_for_function(
        f"() => document.querySelector('#video').currentTime > {before} || "
        "document.querySelector('#video').ended")
    await expect(page.locator(".thumbnails img")).not_to_have_count(0)
    await ui.screenshot("media-player")
    await pin.select_option("-1")
    await expect(rendition).to_have_attribute("data-auto", "true")

    origin = urlsplit(web_stack.url).netloc
    assert media_requests, "the player fetched nothing"
    assert {urlsplit(url).netloc for url in media_requests} == {origin}, media_requests
    await asyncio.sleep(0)
    ui.assert_console_clean()


async def test_leaving_the_page_while_its_polls_are_under_way_logs_no_error(
        ui: WebPage, clip: Path) -> None:
    """After an upload the page polls its job and refreshes the list on its own (timers, not
    a click that could catch a failure); the user leaves while those requests are still out.
    Leaving aborts them, and none may end as an uncaught error in the console."""
    page = ui.page
    await ui.sign_in("alice", ALICE.password)
    await ui.open("/media")
    held: list[Any] = []
    polls = 0

    async def hold(route: Any) -> None:
        nonlocal polls
        # The job's first poll answers (the upload handler awaits it); later polls and any
        # list refresh wait until the page is gone.
        if "/media/jobs/" in route.request.url:
            polls += 1
            if polls == 1:
                await route.continue_()
                return
        held.append(route)

    await page.route("**/media/jobs?*", hold)
    await page.route("**/media/jobs/*", hold)
    await page.get_by_label("Video file").set_input_files(clip)
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#upload-text")).to_contain_text("uploaded")
    for _ in range(100):  # the list refresh and the job's second poll (1 s later) both held
        if len({r.request.url.split("?")[0] for r in held}) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(held) >= 2, polls

    await ui.open("/recipes")
    await page.unroute_all(behavior="ignoreErrors")
    for route in held:  # the browser aborted them already: answering is a no-op or fails
        with contextlib.suppress(Exception):
            await route.continue_()
    await asyncio.sleep(0.5)
    ui.assert_console_clean()
