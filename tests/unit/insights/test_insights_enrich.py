"""Enrichment: countries, agent classes, bots, Do Not Track, the visitor hash."""

from __future__ import annotations

import re

import pytest

from services.insights.enrich import Geo, classify_agent, do_not_track, visitor_hash

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/120.0.0.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
               "Gecko) Version/16.0 Mobile/15E148 Safari/604.1")
ANDROID_PHONE = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko)"
                 " Chrome/120.0.0.0 Mobile Safari/537.36")
ANDROID_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/120.0.0.0 Safari/537.36")
FIREFOX_UBUNTU = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
              "Gecko) Version/17.1 Safari/605.1.15")


@pytest.mark.parametrize(("agent", "browser", "os", "device"), [
    (CHROME_WINDOWS, "Chrome", "Windows", "desktop"),
    (SAFARI_MAC, "Safari", "Mac OS X", "desktop"),
    (FIREFOX_UBUNTU, "Firefox", "Ubuntu", "desktop"),
    (SAFARI_IPHONE, "Mobile Safari", "iOS", "mobile"),
    (ANDROID_PHONE, "Chrome Mobile", "Android", "mobile"),
    (SAFARI_IPAD, "Mobile Safari", "iOS", "tablet"),
    (ANDROID_TABLET, "Chrome", "Android", "tablet"),
    ("", None, None, "other"),
    ("SomethingUnheardOf/1.0", None, None, "other"),
])
def test_agent_classes(agent: str, browser: str | None, os: str | None, device: str) -> None:
    classes = classify_agent(agent)
    assert (classes.browser, classes.os, classes.device, classes.bot) == (
        browser, os, device, False)


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.4.0", "Wget/1.21", "python-httpx/0.28.1", "python-requests/2.31",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0"
    " Safari/537.36",
    "facebookexternalhit/1.1",
])
def test_bots_are_flagged(agent: str) -> None:
    classes = classify_agent(agent)
    assert classes.bot and classes.device == "bot"


def test_a_huge_agent_is_classified_by_its_start() -> None:
    assert classify_agent(CHROME_WINDOWS + "x" * 100_000).browser == "Chrome"


@pytest.fixture(scope="module")
def geo() -> Geo:
    return Geo()


@pytest.mark.parametrize(("address", "country"), [
    ("81.2.69.142", "GB"), ("8.8.8.8", "US"), ("2a00:1450:4001:80b::200e", "DE"),
    ("127.0.0.1", None), ("10.1.2.3", None), ("192.168.0.1", None), ("::1", None),
    ("unknown", None), ("", None), ("999.1.1.1", None),
])
def test_country_of_an_address(geo: Geo, address: str, country: str | None) -> None:
    assert geo.country(address) == country


def test_do_not_track_and_global_privacy_control() -> None:
    assert do_not_track("1", None) and do_not_track(None, "1") and do_not_track(" 1 ", "0")
    assert not do_not_track(None, None) and not do_not_track("0", "0")


def test_the_visitor_hash_is_32_hex_and_changes_with_every_input() -> None:
    base = visitor_hash(b"s" * 32, "regatta", "81.2.69.142", CHROME_WINDOWS)
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    assert base == visitor_hash(b"s" * 32, "regatta", "81.2.69.142", CHROME_WINDOWS)
    others = {
        visitor_hash(b"t" * 32, "regatta", "81.2.69.142", CHROME_WINDOWS),  # next day's salt
        visitor_hash(b"s" * 32, "other-site", "81.2.69.142", CHROME_WINDOWS),
        visitor_hash(b"s" * 32, "regatta", "81.2.69.143", CHROME_WINDOWS),
        visitor_hash(b"s" * 32, "regatta", "81.2.69.142", SAFARI_MAC),
    }
    assert base not in others and len(others) == 4
    # Nothing of the inputs shows in it.
    assert "81" not in base or "81.2" not in base
