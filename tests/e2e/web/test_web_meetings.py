"""Meety's chat window and the admins' approval page, in Chromium against the local platform."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from web_support import WebPage

from devkit.cognito import DEMO_USERS

playwright = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
expect = playwright.expect
pytestmark = pytest.mark.slow

ADMIN = next(u for u in DEMO_USERS if u.admin)


def far_workday() -> date:
    """A Monday-to-Friday date months ahead, so no other test's meeting shares its day."""
    day = datetime.now(UTC).date() + timedelta(days=random.randint(120, 300))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def spoken(day: date) -> str:
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


async def test_book_by_typing_and_quick_replies_then_an_admin_approves(ui: WebPage) -> None:
    """A visitor books with typed answers and quick-reply buttons (an ambiguous time among
    them); every message the API returns is shown; an admin approves, then cancels it."""
    page, day = ui.page, far_workday()
    email = f"web.{uuid.uuid4().hex[:8]}@example.com"
    log = page.locator("#chat-log")
    replies = page.locator("#quick-replies")

    async def type_message(text: str) -> None:
        await page.get_by_label("Message to Meety").fill(text)
        await page.get_by_role("button", name="Send").click()

    async def meety_says(text: str) -> None:
        await expect(log.locator(".bubble.meety").last).to_contain_text(text)

    await ui.open("/meetings")
    await replies.get_by_role("button", name="Book a meeting").click()
    await meety_says("What is your name?")
    await type_message("My name is Ana Web")
    await meety_says("What date would you like to meet?")
    await type_message(spoken(day))
    await meety_says("What time would you like to meet?")
    # 8 could be morning or evening, both inside this platform's hours (07:00-21:00).
    await type_message("8")
    await meety_says("8 AM or 8 PM?")
    await ui.screenshot("meetings-chat-ambiguous")
    await replies.get_by_role("button", name="8 AM").click()
    await meety_says("How long should the meeting be")
    await replies.get_by_role("button", name="30 minutes").click()
    await meety_says("What is your email address?")
    await type_message(email)
    await meety_says("Do you want to proceed with the meeting?")
    await expect(log).to_contain_text(f"Meeting for Ana Web ({email}) on {spoken(day)}, "
                                      "8 AM to 8:30 AM (30 minutes).")
    await replies.get_by_role("button", name="Yes").click()
    card = log.locator(".meeting-card")
    await expect(card).to_contain_text(f"Ana Web, {day.isoformat()} 08:00–08:30 (UTC)")
    await expect(card).to_contain_text("Status: pending")
    meeting_id = await card.get_attribute("data-meeting-id")
    # Every message of every reply is on the page: the user's 8 and Meety's 9 turns.
    await expect(log.locator(".bubble.you")).to_have_count(8)
    await ui.screenshot("meetings-chat")

    await ui.sign_in("admin", ADMIN.password)
    await ui.open("/admin/meetings")
    row = page.locator(f'#pending-list [data-meeting-id="{meeting_id}"]')
    await expect(row).to_contain_text("Ana Web")
    await ui.screenshot("meetings-approvals")
    await row.get_by_role("button", name="Approve").click()
    await expect(row).to_have_count(0)
    approved = page.locator(f'#approved-calendar [data-meeting-id="{meeting_id}"]')
    await expect(approved).to_contain_text("08:00–08:30")
    day_heading = f"{day:%A}, {day:%B} {day.day}, {day.year}"
    await expect(page.get_by_role("region", name=day_heading)).to_contain_text("Ana Web")
    await ui.screenshot("meetings-calendar")
    await approved.get_by_role("button", name="Cancel Ana Web").click()
    await expect(approved).to_have_count(0)
    ui.assert_console_clean()


async def test_approvals_page_asks_non_admins_to_sign_in(ui: WebPage) -> None:
    """The approvals page says who may use it instead of failing on a 401/403."""
    await ui.open("/admin/meetings")
    await expect(ui.page.get_by_role("link", name="Sign in as an admin")).to_be_visible()
    ui.assert_console_clean()
