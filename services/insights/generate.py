"""The clickstream generator: ``python -m services.insights.generate [OPTIONS]``
(``regatta insights-generate`` through infra/services.yaml's ``tools``).

The seed's Lambda, improved: visits of several pages (``/home``, ``/product``, ``/cart``)
with track events in the seed's mix (click/search/purchase 0.6/0.3/0.1; a purchase only
after the cart), 50 countries weighted by population, ages normal(35, 10) clipped to 16..80
(``properties.age``), a span of days (60 by default) with a daily and a weekly rhythm, a
funnel home -> product -> cart -> purchase converting at plausible rates, a share of bots
(no visitor hash) and of visitors asking not to be tracked (no visitor hash). Seeded: the
same options give the same events, byte for byte.

``--via raw`` writes the events straight into the lake's raw zone in the contract's
``raw/web`` layout (keyed by the hour of the write, as the collector keys what it receives;
each record's ``received_at`` is its event time plus a moment, as if collected live);
``--via http`` sends them through the collector as browsers would: each visit one request
(``POST /insights/events``) with its events' timestamps, its visitor's User-Agent, ``DNT: 1``
for a visitor who asks not to be tracked, and an ``X-Forwarded-For`` address in the visitor's
country, so the collector's own enrichment (country, agent classes, bot flag, visitor hash)
yields what ``--via raw`` writes. The collector keeps events at most 7 days old
(INSIGHTS_MAX_PAST_SECONDS), so the span ends now and lasts 7 days by default (at most 7).
The forwarded address counts only where the service trusts its sender's X-Forwarded-For
(locally: uvicorn believes 127.0.0.1; in AWS the load balancer appends the real address).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import ipaddress
import math
import os
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from services.insights.enrich import Geo, classify_agent
from services.insights.lake.layout import raw_key
from shared.progress import progress

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# Population in millions (2024, rounded): the weights of the visitors' countries.
COUNTRIES = {
    "IN": 1441, "CN": 1425, "US": 341, "ID": 279, "PK": 245, "NG": 229, "BR": 217,
    "BD": 174, "RU": 144, "MX": 130, "ET": 129, "JP": 123, "PH": 119, "EG": 114, "CD": 105,
    "VN": 99, "IR": 90, "TR": 86, "DE": 84, "TH": 72, "GB": 68, "TZ": 68, "FR": 65,
    "ZA": 61, "IT": 59, "KE": 56, "MM": 55, "CO": 52, "KR": 52, "SD": 50, "UG": 49,
    "ES": 48, "DZ": 46, "IQ": 46, "AR": 46, "AF": 43, "PL": 41, "CA": 39, "MA": 38,
    "SA": 37, "UA": 37, "PE": 34, "MY": 34, "AU": 27, "NL": 18, "CL": 20, "SE": 11,
    "CH": 9, "NZ": 5, "IE": 5,
}
AGENTS = [  # (weight, User-Agent): desktop, mobile, tablet and other browsers
    (30, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36"),
    (8, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (10, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
         "Gecko) Version/18.1 Safari/605.1.15"),
    (6, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"),
    (26, "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Mobile Safari/537.36"),
    (14, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
    (5, "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
    (1, "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko)"),
]
BOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
REFERRERS = [  # (weight, full URL or None for direct)
    (40, None), (30, "https://www.google.com/"), (6, "https://duckduckgo.com/"),
    (5, "https://www.bing.com/"), (8, "https://news.ycombinator.com/item"),
    (6, "https://t.co/abc"), (5, "https://www.reddit.com/r/aws/comments/x"),
]
TRACK_MIX = (("click", 0.6), ("search", 0.3), ("purchase", 0.1))
WEEKDAY_WEIGHT = (1.0, 1.05, 1.05, 1.0, 0.9, 0.65, 0.6)  # Monday first
RAW_DAYS, HTTP_DAYS = 60, 7  # --days by default, and at most through the collector
QUERIES = ("boots", "jacket", "tent", "stove", "lamp", "rope", "map", "socks")


def hour_weight(hour: int) -> float:
    """The daily rhythm: a trough at 04:00 UTC, a peak at 16:00."""
    return 1.0 + 0.8 * math.sin((hour - 10) / 24 * 2 * math.pi)


@dataclass(frozen=True)
class Options:
    events: int = 10_000
    days: int = 60
    end: date = date(2026, 12, 6)  # the last day (UTC) of the span
    seed: int = 1
    site: str = "regatta"
    bot_share: float = 0.02
    dnt_share: float = 0.05
    # No visit starts later than this (half an hour before it): a span that ends today ends
    # now, so a collector does not find its events in the future.
    until: datetime | None = None
    # Put before every path (e.g. "/test-run"), to tell these events from others in a lake.
    path_prefix: str = ""


@dataclass(frozen=True)
class Visitor:
    """Who makes a visit: what a browser sends (the agent, DNT) and where it is."""

    key: str  # the generator's visitor id: the raw records' visitor hash (when tracked)
    country: str
    agent: str  # the User-Agent string
    bot: bool
    tracked: bool  # False: the browser sends DNT (no visitor hash)


def _weighted(rng: random.Random, items: list[Any], weights: list[float]) -> Callable[[], Any]:
    cumulative: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)

    def pick() -> Any:
        return items[min(len(items) - 1, _bisect(cumulative, rng.random() * total))]

    return pick


def _bisect(values: list[float], x: float) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
        # plain bisect_right, kept local for speed of lookup
    return lo


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def clickstream(options: Options) -> Iterator[dict[str, Any]]:
    """``options.events`` enriched events (the raw/web record form), visit by visit."""
    for _, events in visits(options):
        yield from events


def visits(options: Options) -> Iterator[tuple[Visitor, list[dict[str, Any]]]]:
    """The visits of ``options.events`` events (the last one cut to the count), each with its
    visitor and its events as enriched raw/web records (what the collector would write)."""
    rng = random.Random(options.seed)
    start = options.end - timedelta(days=options.days - 1)
    day_list = [start + timedelta(days=n) for n in range(options.days)]
    # A slow growth over the span, times the weekly rhythm.
    pick_day = _weighted(rng, day_list, [WEEKDAY_WEIGHT[d.weekday()] * (1 + 0.3 * n / options.days)
                                         for n, d in enumerate(day_list)])
    pick_hour = _weighted(rng, list(range(24)), [hour_weight(h) for h in range(24)])
    pick_country = _weighted(rng, list(COUNTRIES), [float(v) for v in COUNTRIES.values()])
    pick_agent = _weighted(rng, [a for _, a in AGENTS], [float(w) for w, _ in AGENTS])
    pick_referrer = _weighted(rng, REFERRERS, [float(r[0]) for r in REFERRERS])
    pick_track = _weighted(rng, [t for t, _ in TRACK_MIX], [w for _, w in TRACK_MIX])
    latest = options.until - timedelta(minutes=30) if options.until else None
    cutoff = _iso(options.until) if options.until else None
    returning: dict[date, list[tuple[str, str, str, int]]] = {}
    made = 0
    while made < options.events:
        day = pick_day()
        at = datetime(day.year, day.month, day.day, pick_hour(), rng.randrange(60),
                      rng.randrange(60), rng.randrange(1000) * 1000, tzinfo=UTC)
        if latest and at > latest:
            continue
        bot = rng.random() < options.bot_share
        today = returning.setdefault(day, [])
        if not bot and today and rng.random() < 0.2:
            key, country, agent, age = rng.choice(today)  # a second visit that day
        else:
            key = f"{rng.getrandbits(128):032x}"
            country, agent = pick_country(), pick_agent()
            age = min(80, max(16, round(rng.gauss(35, 10))))
            if not bot:
                today.append((key, country, agent, age))
        tracked = not bot and rng.random() >= options.dnt_share
        visitor = Visitor(key, country, BOT_AGENT if bot else agent, bot, tracked)
        classes = classify_agent(visitor.agent)
        base = {"visitor": key if tracked else None, "country": country,
                "browser": classes.browser, "os": classes.os, "device": classes.device,
                "bot": classes.bot, "site": options.site}
        referrer = pick_referrer()[1]
        events = []
        for event in _visit(rng, at, referrer, age, pick_track):
            if cutoff and event["timestamp"] > cutoff:
                break  # a visit that would go on past `until` ends there
            event.update(base)
            event["path"] = options.path_prefix + event["path"]
            if tracked and event["received_at"][:10] != at.date().isoformat():
                # Arrived the next day: the collector hashes with that day's salt.
                event["visitor"] = _next_day_hash(key, event["received_at"][:10])
            events.append(event)
            made += 1
            if made >= options.events:
                break
        yield visitor, events


def _next_day_hash(key: str, day: str) -> str:
    """The visitor hash of a generated visitor on a later day (another salt: another hash)."""
    return hashlib.blake2b(f"{key}/{day}".encode(), digest_size=16).hexdigest()


def _visit(rng: random.Random, at: datetime, referrer: str | None, age: int,
           pick_track: Callable[[], Any]) -> Iterator[dict[str, Any]]:
    path = "/home" if rng.random() < 0.7 else "/product"
    carted = False
    first = True
    while True:
        yield _event(rng, at, "page", None, path, referrer if first else None,
                     {"age": age})
        first = False
        at += timedelta(milliseconds=rng.randrange(5_000, 120_000))
        carted = carted or path == "/cart"
        for _ in range(min(4, int(rng.expovariate(1.2)))):
            name = pick_track()
            if name == "purchase" and not carted:
                name = "click"
            properties: dict[str, Any] = {"age": age}
            if name == "search":
                properties |= {"query": rng.choice(QUERIES), "results": rng.randrange(40)}
            elif name == "purchase":
                properties |= {"amount": round(rng.uniform(5, 300), 2), "currency": "EUR"}
            else:
                properties |= {"element": rng.choice(("buy", "menu", "image", "link"))}
            yield _event(rng, at, "track", name, path, None, properties)
            at += timedelta(milliseconds=rng.randrange(2_000, 60_000))
            if name == "purchase":
                return
        if path == "/home":
            path = "/product" if rng.random() < 0.6 else ""
        elif path == "/product":
            r = rng.random()
            path = "/cart" if r < 0.35 else "/product" if r < 0.6 else ""
        elif path == "/cart":
            if rng.random() < 0.45:  # checkout: the purchase event ends the visit
                yield _event(rng, at, "track", "purchase", "/cart", None,
                             {"age": age, "amount": round(rng.uniform(5, 300), 2),
                              "currency": "EUR"})
                return
            path = "/product" if rng.random() < 0.3 else ""
        if not path:
            return


def _event(rng: random.Random, at: datetime, kind: str, name: str | None, path: str,
           referrer: str | None, properties: dict[str, Any]) -> dict[str, Any]:
    received = at + timedelta(milliseconds=rng.randrange(20, 2_000))
    return {
        "id": f"{rng.getrandbits(128):032x}", "type": kind, "name": name, "path": path,
        "referrer": referrer,
        "referrer_host": referrer.split("/")[2] if referrer else None,
        "properties": properties, "timestamp": _iso(at), "received_at": _iso(received),
    }


def raw_objects(events: Iterator[dict[str, Any]], *, per_object: int = 5000,
                written: datetime | None = None,
                rng: random.Random | None = None) -> Iterator[tuple[str, bytes, int]]:
    """(key, gzipped JSON lines, count) objects of ``per_object`` events under raw/web,
    keyed by the hour ``written`` (now)."""
    rng = rng or random.Random(0)
    when = written or datetime.now(UTC)
    lines: list[bytes] = []

    def flush() -> tuple[str, bytes, int]:
        key = raw_key("web", when, f"{rng.getrandbits(128):032x}")
        data = gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1, mtime=0)
        return key, data, len(lines)

    for event in events:
        lines.append(orjson.dumps(event))
        if len(lines) >= per_object:
            yield flush()
            lines = []
    if lines:
        yield flush()


async def write_raw(s3: S3Client, bucket: str, objects: Iterator[tuple[str, bytes, int]],
                    on_progress: Callable[[int], None] = lambda _: None) -> int:
    """Put the objects (8 at a time); events written."""
    gate = asyncio.Semaphore(8)
    total = 0

    async def put(key: str, data: bytes, count: int) -> None:
        nonlocal total
        try:
            await s3.put_object(Bucket=bucket, Key=key, Body=data,
                                ContentType="application/x-ndjson", ContentEncoding="gzip")
        finally:
            gate.release()
        total += count
        on_progress(count)

    tasks = []
    for key, data, count in objects:
        await gate.acquire()
        tasks.append(asyncio.create_task(put(key, data, count)))
    await asyncio.gather(*tasks)
    return total


def collector_body(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A collector request (``POST /insights/events``) for enriched events: what a page
    sends (its events' own times; no enrichment: the collector's)."""
    return {"events": [{"id": e["id"], "type": e["type"], "name": e["name"], "path": e["path"],
                        "referrer": e["referrer"], "properties": e["properties"],
                        "timestamp": e["timestamp"]}
                       for e in events]}


class Addresses:
    """IPv4 addresses by country (the collector's own database), one per visitor: random
    addresses are looked up until every country has a few (about 25,000 lookups, half a
    second), and a visitor gets one of their networks' addresses that stays in the country
    and no other visitor has."""

    def __init__(self, codes: Iterable[str], seed: int, per_country: int = 8) -> None:
        self._geo = Geo()
        rng = random.Random(seed)
        wanted = set(codes)
        self._pool: dict[str, list[int]] = {code: [] for code in wanted}
        short = set(wanted)
        for _ in range(5_000_000):
            if not short:
                break
            value = rng.getrandbits(32)
            code = self._geo.country(str(ipaddress.IPv4Address(value)))
            if code in short:
                self._pool[code].append(value)
                if len(self._pool[code]) == per_country:
                    short.discard(code)
        self.missing = {code for code, found in self._pool.items() if not found}
        self._given: dict[str, str] = {}
        self._taken: set[str] = set()

    def of(self, visitor: Visitor) -> str:
        """The visitor's address: the same on each call, no other visitor's (so two
        visitors never share a visitor hash), in the visitor's country, or in private space
        (no country) when none is found."""
        if visitor.key in self._given:
            return self._given[visitor.key]
        rng = random.Random(visitor.key)
        found = self._pool.get(visitor.country) or []
        address = ""
        for _ in range(64):
            if found:
                value = (rng.choice(found) & ~0xFF) | rng.randrange(1, 255)
                candidate = str(ipaddress.IPv4Address(value))
                if self._geo.country(candidate) != visitor.country:
                    continue
            else:
                candidate = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            if candidate not in self._taken:
                address = candidate
                break
        if not address:  # the country's few networks are full: any free private address
            while not address or address in self._taken:
                address = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        self._taken.add(address)
        self._given[visitor.key] = address
        return address


def visit_headers(visitor: Visitor, address: str) -> dict[str, str]:
    """What the visitor's browser sends with its events."""
    headers = {"User-Agent": visitor.agent, "X-Forwarded-For": address}
    if not visitor.tracked and not visitor.bot:
        headers["DNT"] = "1"
    return headers


async def post_http(url: str, options: Options,
                    on_progress: Callable[[int], None] = lambda _: None,
                    concurrency: int = 8) -> dict[str, int]:
    """Every visit as one collector request (``concurrency`` in flight); the answers summed."""
    import httpx

    addresses = Addresses(list(COUNTRIES), options.seed)
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "requests": 0}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def send(visitor: Visitor, events: list[dict[str, Any]]) -> None:
            try:
                response = await client.post("/insights/events", json=collector_body(events),
                                             headers=visit_headers(visitor,
                                                                   addresses.of(visitor)))
                response.raise_for_status()
            finally:
                gate.release()
            answer = response.json()
            totals["accepted"] += answer["accepted"]
            totals["duplicates"] += answer["duplicates"]
            totals["rejected"] += len(answer["rejected"])
            totals["requests"] += 1
            on_progress(len(events))

        tasks = []
        for visitor, events in visits(options):
            await gate.acquire()
            tasks.append(asyncio.create_task(send(visitor, events)))
        await asyncio.gather(*tasks)
    return totals


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="regatta insights-generate", description=__doc__)
    cli.add_argument("--events", type=int, default=100_000)
    cli.add_argument("--days", type=int, default=None,
                     help=f"days of the span: {RAW_DAYS} by default, at most {HTTP_DAYS} "
                     "--via http (the collector keeps events at most 7 days old)")
    cli.add_argument("--end", type=date.fromisoformat, default=None,
                     help="last day of the span (UTC): yesterday by default; --via http the "
                     "span ends now")
    cli.add_argument("--seed", type=int, default=1)
    cli.add_argument("--via", choices=("raw", "http"), default="raw")
    cli.add_argument("--url", default=os.environ.get("REGATTA_SERVICE_URL", ""),
                     help="the insights service (--via http)")
    cli.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    args = cli.parse_args(argv)
    now = datetime.now(UTC)
    if args.via == "http":
        days = HTTP_DAYS if args.days is None else args.days
        if not 1 <= days <= HTTP_DAYS or args.end is not None:
            cli.error(f"--via http writes the last {HTTP_DAYS} days at most, up to now (the "
                      "collector keeps events at most 7 days old): use --days 1 to "
                      f"{HTTP_DAYS} without --end, or --via raw for history")
        options = Options(events=args.events, days=days, end=now.date(), seed=args.seed,
                          until=now)
    else:
        days = RAW_DAYS if args.days is None else args.days
        if days < 1:
            cli.error("--days must be at least 1")
        options = Options(events=args.events, days=days, seed=args.seed,
                          end=args.end or now.date() - timedelta(days=1))
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar, advance = progress(show, args.events, "events")
    with bar:
        if args.via == "http":
            if not args.url:
                cli.error("--via http needs --url or REGATTA_SERVICE_URL")
            totals = asyncio.run(post_http(args.url, options, advance))
        else:
            totals = {"written": asyncio.run(_write_lake(options, advance))}
    sys.stdout.write(orjson.dumps(totals).decode() + "\n")
    return 0


async def _write_lake(options: Options, advance: Callable[[int], None]) -> int:
    from services.insights.settings import InsightsSettings
    from shared.aws import AwsClients
    from shared.topology import Resources

    settings = InsightsSettings.load()
    async with AwsClients(settings) as aws:
        resources = await Resources.discover(aws)
        s3 = await aws.client("s3")
        return await write_raw(s3, resources.bucket("insights-lake"),
                               raw_objects(clickstream(options)), advance)


if __name__ == "__main__":
    sys.exit(main())
