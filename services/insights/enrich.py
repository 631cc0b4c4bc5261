"""Server-side enrichment (no I/O after loading): the country of a client address (geoip2fast's
offline database, inside its wheel), the browser, OS and device class of a user agent
(ua-parser's precompiled rules), the bot flag, and the visitor hash.

Neither the address nor the user agent leaves this module: callers keep only what these
functions return.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from geoip2fast import GeoIP2Fast
from ua_parser import parse

# Agents that announce themselves as automated; ua-parser's "Spider" device covers the
# well-known crawlers, this the tools and headless browsers it leaves unclassified.
BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|scrape|fetch|monitor|preview|curl|wget|python|httpx|aiohttp|"
    r"go-http|java/|okhttp|libwww|headless|phantomjs|lighthouse|pingdom|uptime|facebookexternal",
    re.IGNORECASE)
DESKTOP_OS = frozenset({"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora",
                        "Debian", "FreeBSD", "OpenBSD", "macOS"})
TABLETS = re.compile(r"ipad|tablet|kindle|silk/|playbook|sm-t\d|sm-x\d", re.IGNORECASE)
MAX_AGENT = 512  # longer agents are classified by their first 512 characters


@dataclass(frozen=True)
class Agent:
    """What is kept of a user agent: classes, never the string."""

    browser: str | None
    os: str | None
    device: str  # desktop | mobile | tablet | bot | other
    bot: bool


@lru_cache(maxsize=4096)
def classify_agent(agent: str) -> Agent:
    """Browser family, OS family, device class and bot flag of a user agent (cached: a site's
    visitors send few distinct agents)."""
    agent = agent[:MAX_AGENT]
    if not agent.strip():
        return Agent(None, None, "other", False)
    result = parse(agent)
    browser = result.user_agent.family if result.user_agent else None
    os_family = result.os.family if result.os else None
    device_family = result.device.family if result.device else None
    if device_family == "Spider" or BOT_PATTERN.search(agent):
        return Agent(browser, os_family, "bot", True)
    if browser == "Other":
        browser = None
    if os_family == "Other":
        os_family = None
    if TABLETS.search(agent) or (os_family == "Android" and "Mobile" not in agent):
        device = "tablet"
    elif "Mobi" in agent or os_family in ("iOS", "Android"):
        device = "mobile"
    elif os_family in DESKTOP_OS:
        device = "desktop"
    else:
        device = "other"
    return Agent(browser, os_family, device, False)


class Geo:
    """Country of an address from the offline database (loaded once per process)."""

    def __init__(self) -> None:
        # The wheel's IPv4 + IPv6 country database (about 2 MB, loaded in a tenth of a second).
        self._db = GeoIP2Fast(verbose=False, geoip2fast_data_file="geoip2fast-ipv6.dat.gz")

    def country(self, address: str) -> str | None:
        """ISO 3166-1 alpha-2, or None (a private, reserved or unknown address)."""
        try:
            code = self._db.lookup(address).country_code
        except Exception:  # noqa: BLE001 - an unparseable address has no country
            return None
        if not isinstance(code, str) or len(code) != 2 or not code.isalpha():
            return None
        return code.upper()


def visitor_hash(salt: bytes, site: str, address: str, agent: str) -> str:
    """Plausible's visitor: hash(the day's random salt, site, client address, user agent) as
    32 hex characters. Without the salt (deleted after the day) it cannot be recomputed, so
    nobody can be followed across days or found by address."""
    digest = hashlib.blake2b(key=salt, digest_size=16)
    digest.update(site.encode())
    digest.update(b"\x00")
    digest.update(address.encode())
    digest.update(b"\x00")
    digest.update(agent.encode("utf-8", "replace"))
    return digest.hexdigest()


def do_not_track(dnt: str | None, gpc: str | None) -> bool:
    """Whether the browser asked not to be tracked (``DNT: 1`` or ``Sec-GPC: 1``)."""
    return (dnt or "").strip() == "1" or (gpc or "").strip() == "1"
