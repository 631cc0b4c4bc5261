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
``--via http`` posts them to the collector in batches of 100 without timestamps (the
collector bounds clock skew, so history can only be written raw).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import math
import os
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

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
AGENTS = [  # (weight, device, browser, os)
    (30, "desktop", "Chrome", "Windows"), (8, "desktop", "Firefox", "Linux"),
    (10, "desktop", "Safari", "Mac OS X"), (6, "desktop", "Edge", "Windows"),
    (26, "mobile", "Chrome Mobile", "Android"), (14, "mobile", "Mobile Safari", "iOS"),
    (5, "tablet", "Mobile Safari", "iOS"), (1, "other", "Other", "Other"),
]
REFERRERS = [  # (weight, full URL or None for direct)
    (40, None), (30, "https://www.google.com/"), (6, "https://duckduckgo.com/"),
    (5, "https://www.bing.com/"), (8, "https://news.ycombinator.com/item"),
    (6, "https://t.co/abc"), (5, "https://www.reddit.com/r/aws/comments/x"),
]
TRACK_MIX = (("click", 0.6), ("search", 0.3), ("purchase", 0.1))
WEEKDAY_WEIGHT = (1.0, 1.05, 1.05, 1.0, 0.9, 0.65, 0.6)  # Monday first
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
    rng = random.Random(options.seed)
    start = options.end - timedelta(days=options.days - 1)
    day_list = [start + timedelta(days=n) for n in range(options.days)]
    # A slow growth over the span, times the weekly rhythm.
    pick_day = _weighted(rng, day_list, [WEEKDAY_WEIGHT[d.weekday()] * (1 + 0.3 * n / options.days)
                                         for n, d in enumerate(day_list)])
    pick_hour = _weighted(rng, list(range(24)), [hour_weight(h) for h in range(24)])
    pick_country = _weighted(rng, list(COUNTRIES), [float(v) for v in COUNTRIES.values()])
    pick_agent = _weighted(rng, AGENTS, [float(a[0]) for a in AGENTS])
    pick_referrer = _weighted(rng, REFERRERS, [float(r[0]) for r in REFERRERS])
    pick_track = _weighted(rng, [t for t, _ in TRACK_MIX], [w for _, w in TRACK_MIX])
    returning: dict[date, list[tuple[str, str, tuple[Any, ...], int]]] = {}
    made = 0
    while made < options.events:
        day = pick_day()
        at = datetime(day.year, day.month, day.day, pick_hour(), rng.randrange(60),
                      rng.randrange(60), rng.randrange(1000) * 1000, tzinfo=UTC)
        bot = rng.random() < options.bot_share
        today = returning.setdefault(day, [])
        if not bot and today and rng.random() < 0.2:
            visitor, country, agent, age = rng.choice(today)  # a second visit that day
        else:
            visitor = f"{rng.getrandbits(128):032x}"
            country, agent = pick_country(), pick_agent()
            age = min(80, max(16, round(rng.gauss(35, 10))))
            if not bot:
                today.append((visitor, country, agent, age))
        tracked = not bot and rng.random() >= options.dnt_share
        device, browser, os_name = ("bot", "Googlebot", "Other") if bot else agent[1:]
        base = {"visitor": visitor if tracked else None, "country": country,
                "browser": browser, "os": os_name, "device": device, "bot": bot,
                "site": options.site}
        referrer = pick_referrer()[1]
        for event in _visit(rng, at, referrer, age, pick_track):
            event.update(base)
            yield event
            made += 1
            if made >= options.events:
                return


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
    sends (no timestamp: the collector's clock; no enrichment: the collector's)."""
    return {"events": [{"id": e["id"], "type": e["type"], "name": e["name"], "path": e["path"],
                        "referrer": e["referrer"], "properties": e["properties"]}
                       for e in events]}


async def post_http(url: str, events: Iterator[dict[str, Any]],
                    on_progress: Callable[[int], None] = lambda _: None) -> dict[str, int]:
    import httpx

    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        batch: list[dict[str, Any]] = []

        async def send() -> None:
            response = await client.post("/insights/events", json=collector_body(batch))
            response.raise_for_status()
            answer = response.json()
            totals["accepted"] += answer.get("accepted", 0)
            totals["duplicates"] += answer.get("duplicates", 0)
            totals["rejected"] += len(answer.get("rejected", []))
            on_progress(len(batch))

        for event in events:
            batch.append(event)
            if len(batch) == 100:
                await send()
                batch = []
        if batch:
            await send()
    return totals


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="regatta insights-generate", description=__doc__)
    cli.add_argument("--events", type=int, default=100_000)
    cli.add_argument("--days", type=int, default=60)
    cli.add_argument("--end", type=date.fromisoformat,
                     default=datetime.now(UTC).date() - timedelta(days=1),
                     help="last day of the span (UTC), default yesterday")
    cli.add_argument("--seed", type=int, default=1)
    cli.add_argument("--via", choices=("raw", "http"), default="raw")
    cli.add_argument("--url", default=os.environ.get("REGATTA_SERVICE_URL", ""),
                     help="the insights service (--via http)")
    cli.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    args = cli.parse_args(argv)
    options = Options(events=args.events, days=args.days, end=args.end, seed=args.seed)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar, advance = progress(show, args.events, "events")
    with bar:
        if args.via == "http":
            if not args.url:
                cli.error("--via http needs --url or REGATTA_SERVICE_URL")
            totals = asyncio.run(post_http(args.url, clickstream(options), advance))
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
