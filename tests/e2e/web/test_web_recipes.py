"""Signing in and the recipes pages, in Chromium against the whole local platform."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from conftest import WebStack
from web_support import PHONE, WebPage

from devkit.cognito import DEMO_USERS

playwright = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
expect = playwright.expect
pytestmark = pytest.mark.slow

ALICE = next(u for u in DEMO_USERS if u.username == "alice")


async def test_sign_in_shows_cognito_errors_and_signs_out(ui: WebPage) -> None:
    """A wrong password is refused with a message; the right one signs in; a token near its
    expiry is refreshed; sign-out clears the session."""
    page = ui.page
    await ui.open("/signin")
    await ui.screenshot("signin")
    await page.get_by_label("User name").fill("alice")
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    await page.get_by_label("Password").fill(ALICE.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text("alice")
    # A token about to expire is refreshed (REFRESH_TOKEN_AUTH) before the next API call.
    first = await page.evaluate("""() => {
        const session = JSON.parse(sessionStorage.getItem('regatta.session'));
        session.expiresAt = Date.now() + 30000;
        sessionStorage.setItem('regatta.session', JSON.stringify(session));
        return session.accessToken;
    }""")
    await ui.open("/recipes/new")
    await page.reload()
    await expect(page.get_by_label("Title")).to_be_visible()
    stored = "JSON.parse(sessionStorage.getItem('regatta.session'))"
    await page.wait_for_function(f"old => {stored}.accessToken !== old", arg=first)
    assert await page.evaluate(f"() => {stored}.expiresAt > Date.now() + 60000")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert await page.evaluate("() => sessionStorage.getItem('regatta.session')") is None
    # The refused sign-in is a 400 from Cognito: the only error the console may show.
    ui.assert_console_clean(lambda e: "status of 400" in e.text and "/auth/cognito" in e.url)


async def test_create_search_like_and_delete_a_recipe(ui: WebPage, web_stack: WebStack) -> None:
    """Alice sees the server's validation errors by the fields, shares a recipe, finds it by
    search and tag, likes and unlikes it, and deletes it."""
    page, word = ui.page, f"saffron{uuid.uuid4().hex[:6]}"
    await ui.sign_in("alice", ALICE.password)
    await ui.open("/recipes/new")

    # Blank title, no ingredients: the API's 422 lands next to each field.
    await page.get_by_label("Title").fill("   ")
    await page.get_by_label("Steps").fill("Simmer")
    await page.get_by_role("button", name="Share recipe").click()
    await expect(page.locator("#recipe-title-error")).to_contain_text("at least 1 character")
    await expect(page.locator("#recipe-ingredients-error")).to_contain_text("at least 1 item")
    await expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    await ui.screenshot("recipe-form-errors")

    await page.get_by_label("Title").fill(f"Risotto with {word}")
    await page.get_by_label("Description", exact=True).fill("Creamy, golden, slow.")
    await page.get_by_label("Ingredients").fill(f"300 g rice\n1 pinch {word}\n1 l stock")
    await page.get_by_label("Steps").fill("Toast the rice\nAdd stock slowly\nRest 2 minutes")
    await page.get_by_label("Tags").fill("Italian, web-test")
    await page.get_by_label("Servings").fill("4")
    await page.get_by_role("button", name="Share recipe").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Risotto with {word}")
    recipe_id = page.url.rsplit("/", 1)[-1]

    await page.get_by_role("button", name="♡ Like").click()
    await expect(page.locator("#like-count")).to_have_text("1 like")
    await expect(page.locator("#like-button")).to_have_attribute("aria-pressed", "true")
    await ui.screenshot("recipe-detail")

    # The recipes worker indexes the recipe from its created event: search until it caught up.
    await ui.open("/recipes")
    card = page.locator(f'[data-recipe-id="{recipe_id}"]')
    for _ in range(40):
        await page.get_by_label("Search").fill(word)
        await page.get_by_role("button", name="Search").click()
        # attached, not visible: a search that finds nothing yet renders an empty (hidden) list
        await page.locator('#recipe-list[aria-busy="false"]').wait_for(state="attached")
        if await card.count():
            break
        await page.wait_for_timeout(250)
    await expect(card).to_contain_text("1 like")
    await ui.screenshot("recipes-search")
    await card.get_by_role("link", name="web-test").click()
    await expect(page).to_have_url(re.compile(r"tag=web-test"))
    await expect(card).to_be_visible()
    await page.get_by_label("Sort").select_option("-likes")
    await expect(page).to_have_url(re.compile(r"sort=-likes"))
    await expect(card).to_be_visible()

    await card.locator("h2 a").click()
    await page.get_by_role("button", name="♥ Liked").click()
    await expect(page.locator("#like-count")).to_have_text("0 likes")
    await page.get_by_role("button", name="Delete").click()
    await page.get_by_role("button", name="Yes, delete it").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Recipes")
    async with httpx.AsyncClient(base_url=web_stack.url) as http:
        gone = await http.get(f"/recipes/{recipe_id}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    # The deliberate 422 is the only error the console may show.
    ui.assert_console_clean(lambda e: "status of 422" in e.text and e.url.endswith("/recipes"))


async def test_recipes_browse_on_a_phone(ui: WebPage) -> None:
    """At phone width the menu folds behind a button that opens it from the keyboard."""
    page = ui.page
    await page.set_viewport_size(PHONE)
    await ui.open("/recipes")
    links = page.locator("#nav-links")
    await expect(links).to_be_hidden()
    toggle = page.get_by_role("button", name="Menu")
    await toggle.focus()
    await page.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(links.get_by_role("link", name="Meetings")).to_be_visible()
    await ui.screenshot("recipes-phone")
    ui.assert_console_clean()
