"""The reports, computed by DuckDB over the local copy of the curated lake, and the same
reports in plain Python (``*_python``, the reference the tests compare against).

Definitions (shared by the SQL and by the reference):

* the window is ``start <= timestamp < end`` (UTC instants; `Window` turns the query's
  dates or timestamps in its time zone into them); only the curated partitions (event
  dates, UTC) the window touches are read: partition pruning by ``dt``;
* bot events (``bot``) count nowhere; events without a visitor hash (DNT/Sec-GPC) count
  as pageviews and events but not as visitors or visits;
* visitors = distinct visitor hashes; a visit is a visitor's run of events (by timestamp,
  then id) without a gap of more than 30 minutes; a bounce is a visit of one event;
  visit duration = last minus first event time of a visit, averaged over visits (seconds);
* timeseries buckets are the hours or days of the time zone, every one of the window
  (empty ones 0), a visit counted in the bucket where it starts;
* breakdown ranks values by visitors, pageviews, events, then value; ``event`` is the
  track event's name, ``pageview`` for page events; ``referrer`` is the referrer's host;
* a funnel counts visits that reach each step in order: step k is the first matching event
  after the event that reached step k-1 (``/path`` matches a page event with that path,
  ``event:name`` a track event with that name);
* platform counts business events per day (time zone) and type.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
from pydantic import BaseModel

from services.insights.lake.layout import days

Metric = Literal["visitors", "visits", "pageviews", "events"]
Interval = Literal["hour", "day"]
Dimension = Literal["page", "referrer", "country", "continent", "browser", "os", "device",
                    "event"]
VISIT_GAP = timedelta(minutes=30)
MAX_DAYS = 400
MAX_STEPS = 10


class ReportError(ValueError):
    """A report's parameters are not valid (422)."""


class Overview(BaseModel):
    visitors: int
    visits: int
    pageviews: int
    events: int
    bounce_rate: float
    visit_duration: float


class Bucket(BaseModel):
    bucket: str
    value: int


class BreakdownItem(BaseModel):
    value: str | None
    visitors: int
    pageviews: int
    events: int


class FunnelStep(BaseModel):
    step: str
    visits: int
    conversion: float


class PlatformItem(BaseModel):
    day: str
    type: str
    count: int


class Timeseries(BaseModel):
    items: list[Bucket]


class Breakdown(BaseModel):
    items: list[BreakdownItem]


class Funnel(BaseModel):
    items: list[FunnelStep]


class Platform(BaseModel):
    items: list[PlatformItem]


@dataclass(frozen=True)
class Window:
    """``start <= t < end`` in UTC, read in time zone ``tz``."""

    start: datetime
    end: datetime
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def days(self) -> list[date]:
        """The UTC dates (curated partitions) the window touches."""
        return days(self.start.astimezone(UTC).date(),
                    (self.end - timedelta(microseconds=1)).astimezone(UTC).date())


def zone_of(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"unknown time zone {tz!r}") from None


def parse_window(start: str | None, end: str | None, tz: str = "UTC", *,
                 now: datetime | None = None) -> Window:
    """The window of a query: ``from``/``to`` as dates (``to`` inclusive: up to the end of
    that day) or ISO timestamps (``to`` inclusive; naive ones in ``tz``); by default the
    30 days up to today (in ``tz``)."""
    zone = zone_of(tz)
    today = (now or datetime.now(UTC)).astimezone(zone).date()

    def moment(text: str, *, upper: bool) -> datetime:
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                if upper:
                    day += timedelta(days=1)
                return datetime(day.year, day.month, day.day, tzinfo=zone)
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ReportError(f"{text!r} is neither YYYY-MM-DD nor an ISO timestamp") from None
        at = at.replace(tzinfo=zone) if at.tzinfo is None else at
        return at + timedelta(microseconds=1) if upper else at

    low = moment(start, upper=False) if start else datetime(
        *(today - timedelta(days=29)).timetuple()[:3], tzinfo=zone)
    high = moment(end, upper=True) if end else datetime(
        *(today + timedelta(days=1)).timetuple()[:3], tzinfo=zone)
    if high <= low:
        raise ReportError("'from' must not be after 'to'")
    if high - low > timedelta(days=MAX_DAYS):
        raise ReportError(f"a report spans at most {MAX_DAYS} days")
    return Window(low.astimezone(UTC), high.astimezone(UTC), tz)


def buckets(window: Window, interval: Interval) -> list[datetime]:
    """Every bucket start (aware, in the window's zone) from the window's first to last."""
    zone = window.zone
    local = window.start.astimezone(zone)
    first = local.replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        first = first.replace(hour=0)
    found = []
    at = first
    while at < window.end:
        found.append(at)
        if interval == "day":
            nxt = (at.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
        else:  # hours in UTC steps, shown in the zone (a DST change has 23 or 25)
            nxt = (at.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
        at = nxt
    return found


def bucket_of(at: datetime, zone: ZoneInfo, interval: Interval) -> datetime:
    local = at.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        local = local.replace(hour=0)
        return local.replace(tzinfo=None).replace(tzinfo=zone)
    return local


@dataclass(frozen=True)
class Step:
    text: str
    kind: Literal["page", "track"]
    value: str

    def matches(self, event: dict[str, Any]) -> bool:
        if self.kind == "page":
            return bool(event["type"] == "page" and event["path"] == self.value)
        return bool(event["type"] == "track" and event["name"] == self.value)


def parse_steps(text: str) -> list[Step]:
    steps = []
    for part in (p.strip() for p in text.split(",")):
        if part.startswith("event:") and len(part) > 6:
            steps.append(Step(part, "track", part[6:]))
        elif part.startswith("/"):
            steps.append(Step(part, "page", part))
        else:
            raise ReportError(f"a funnel step is /path or event:name, not {part!r}")
    if not 1 <= len(steps) <= MAX_STEPS:
        raise ReportError(f"a funnel has 1 to {MAX_STEPS} steps")
    return steps


# ---------------------------------------------------------------------------- DuckDB

_DIMENSIONS: dict[Dimension, str] = {
    "page": "path", "referrer": "referrer_host", "country": "country",
    "continent": "continent", "browser": "browser", "os": "os", "device": "device",
    "event": "coalesce(name, 'pageview')",
}

_EVENTS = """ev AS (
    SELECT id, type, name, path, referrer_host, visitor, country, continent, browser, os,
           device, "timestamp" AS ts
    FROM read_parquet($files)
    WHERE "timestamp" >= $start AND "timestamp" < $end AND NOT bot)"""
_VISITS = """, marked AS (
    SELECT *, CASE WHEN ts - lag(ts) OVER w <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS new
    FROM ev WHERE visitor IS NOT NULL
    WINDOW w AS (PARTITION BY visitor ORDER BY ts, id)),
numbered AS (
    SELECT *, sum(new) OVER (PARTITION BY visitor ORDER BY ts, id
                             ROWS UNBOUNDED PRECEDING) AS visit_no
    FROM marked),
visits AS (
    SELECT visitor, visit_no, min(ts) AS started, max(ts) AS ended, count(*) AS events
    FROM numbered GROUP BY visitor, visit_no)"""


@dataclass
class QueryStats:
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class ReportEngine:
    """Runs reports on a DuckDB database over the curated files ``files_of`` names."""

    files_of: Any  # (table, first day, last day) -> list of local paths
    memory_mb: int = 512
    threads: int = 2
    last: QueryStats = field(default_factory=QueryStats)
    _db: duckdb.DuckDBPyConnection | None = None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._db is None:
            db = duckdb.connect(config={
                "autoinstall_known_extensions": False, "autoload_known_extensions": False,
                "memory_limit": f"{self.memory_mb}MB", "threads": self.threads})
            db.execute("SET TimeZone = 'UTC'")
            self._db = db
        return self._db.cursor()

    def _run(self, table: str, window: Window, sql: str,
             params: dict[str, Any] | None = None) -> list[tuple[Any, ...]] | None:
        day_list = window.days()
        files = list(self.files_of(table, day_list[0], day_list[-1]))
        self.last = QueryStats(len(files), sum(_size(f) for f in files))
        if not files:
            return None
        started = time.perf_counter()
        with self._cursor() as cursor:
            cursor.execute("SET TimeZone = 'UTC'")
            rows = cursor.execute(sql, {"files": files, "start": window.start,
                                        "end": window.end, **(params or {})}).fetchall()
        self.last.seconds = time.perf_counter() - started
        return rows

    def overview(self, window: Window) -> Overview:
        rows = self._run("events", window, f"""WITH {_EVENTS} {_VISITS}
            SELECT (SELECT count(DISTINCT visitor) FROM ev),
                   (SELECT count(*) FROM visits),
                   (SELECT count(*) FILTER (WHERE type = 'page') FROM ev),
                   (SELECT count(*) FROM ev),
                   (SELECT coalesce(avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END), 0)
                    FROM visits),
                   (SELECT coalesce(avg(epoch_ms(ended) - epoch_ms(started)), 0) / 1000.0
                    FROM visits)""")
        if not rows:
            return Overview(visitors=0, visits=0, pageviews=0, events=0, bounce_rate=0.0,
                            visit_duration=0.0)
        v, visits, pv, ev, bounce, duration = rows[0]
        return Overview(visitors=v, visits=visits, pageviews=pv, events=ev,
                        bounce_rate=float(bounce), visit_duration=float(duration))

    def timeseries(self, window: Window, metric: Metric, interval: Interval) -> list[Bucket]:
        unit = "hour" if interval == "hour" else "day"
        local = f"date_trunc('{unit}', timezone($tz, {{col}}))"
        if metric == "visits":
            sql = f"""WITH {_EVENTS} {_VISITS}
                SELECT {local.format(col='started')} AS b, count(*) FROM visits GROUP BY b"""
        else:
            value = {"visitors": "count(DISTINCT visitor)", "events": "count(*)",
                     "pageviews": "count(*) FILTER (WHERE type = 'page')"}[metric]
            sql = f"""WITH {_EVENTS}
                SELECT {local.format(col='ts')} AS b, {value} FROM ev GROUP BY b"""
        rows = self._run("events", window, sql, {"tz": window.tz}) or []
        found = {b.replace(tzinfo=None): int(n) for b, n in rows}
        return [Bucket(bucket=b.isoformat(), value=found.get(b.replace(tzinfo=None), 0))
                for b in buckets(window, interval)]

    def breakdown(self, window: Window, by: Dimension, limit: int) -> list[BreakdownItem]:
        rows = self._run("events", window, f"""WITH {_EVENTS}
            SELECT {_DIMENSIONS[by]} AS value, count(DISTINCT visitor) AS visitors,
                   count(*) FILTER (WHERE type = 'page') AS pageviews, count(*) AS events
            FROM ev GROUP BY value
            ORDER BY visitors DESC, pageviews DESC, events DESC, value ASC NULLS LAST
            LIMIT $limit""", {"limit": limit}) or []
        return [BreakdownItem(value=v, visitors=a, pageviews=b, events=c)
                for v, a, b, c in rows]

    def funnel(self, window: Window, steps: Sequence[Step]) -> list[FunnelStep]:
        params: dict[str, Any] = {}
        parts = []
        for n, step in enumerate(steps):
            params[f"s{n}"] = step.value
            match = (f"type = 'page' AND path = $s{n}" if step.kind == "page"
                     else f"type = 'track' AND name = $s{n}")
            if n == 0:
                parts.append(f"s0 AS (SELECT visitor, visit_no, min(seq) AS at FROM seq "
                             f"WHERE {match} GROUP BY visitor, visit_no)")
            else:
                parts.append(
                    f"s{n} AS (SELECT q.visitor, q.visit_no, min(q.seq) AS at FROM seq q "
                    f"JOIN s{n - 1} p ON p.visitor = q.visitor AND p.visit_no = q.visit_no "
                    f"AND q.seq > p.at WHERE {match} GROUP BY q.visitor, q.visit_no)")
        counts = ", ".join(f"(SELECT count(*) FROM s{n})" for n in range(len(steps)))
        rows = self._run("events", window, f"""WITH {_EVENTS} {_VISITS},
            seq AS (SELECT visitor, visit_no, type, name, path,
                           row_number() OVER (PARTITION BY visitor, visit_no
                                              ORDER BY ts, id) AS seq FROM numbered),
            {", ".join(parts)}
            SELECT {counts}""", params)
        reached = list(rows[0]) if rows else [0] * len(steps)
        return _funnel_items(steps, reached)

    def platform(self, window: Window, limit: int) -> list[PlatformItem]:
        rows = self._run("platform_events", window, """
            SELECT timezone($tz, time)::DATE AS day, type, count(*) AS n
            FROM read_parquet($files) WHERE time >= $start AND time < $end
            GROUP BY day, type ORDER BY day, type LIMIT $limit""",
                         {"tz": window.tz, "limit": limit}) or []
        return [PlatformItem(day=d.isoformat(), type=t, count=n) for d, t, n in rows]


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _funnel_items(steps: Sequence[Step], reached: Sequence[int]) -> list[FunnelStep]:
    first = reached[0] if reached else 0
    return [FunnelStep(step=s.text, visits=int(n), conversion=(n / first) if first else 0.0)
            for s, n in zip(steps, reached, strict=True)]


# ---------------------------------------------------------------------------- reference

def _parse_ts(text: str | datetime) -> datetime:
    if isinstance(text, datetime):
        return text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _selected(events: Iterable[dict[str, Any]], window: Window) -> list[dict[str, Any]]:
    """Curated-form events (one per id) in the window, bots left out, with ``ts``."""
    chosen = []
    for e in events:
        ts = _parse_ts(e["timestamp"])
        if not e["bot"] and window.start <= ts < window.end:
            chosen.append({**e, "ts": ts})
    return chosen


def _visits_python(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    by_visitor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["visitor"] is not None:
            by_visitor[e["visitor"]].append(e)
    visits: list[list[dict[str, Any]]] = []
    for rows in by_visitor.values():
        rows.sort(key=lambda e: (e["ts"], e["id"]))
        current = [rows[0]]
        for e in rows[1:]:
            if e["ts"] - current[-1]["ts"] > VISIT_GAP:
                visits.append(current)
                current = []
            current.append(e)
        visits.append(current)
    return visits


def overview_python(events: Iterable[dict[str, Any]], window: Window) -> Overview:
    chosen = _selected(events, window)
    visits = _visits_python(chosen)
    durations = [(v[-1]["ts"] - v[0]["ts"]).total_seconds() for v in visits]
    return Overview(
        visitors=len({e["visitor"] for e in chosen if e["visitor"] is not None}),
        visits=len(visits),
        pageviews=sum(1 for e in chosen if e["type"] == "page"),
        events=len(chosen),
        bounce_rate=sum(1 for v in visits if len(v) == 1) / len(visits) if visits else 0.0,
        visit_duration=sum(durations) / len(durations) if durations else 0.0)


def timeseries_python(events: Iterable[dict[str, Any]], window: Window, metric: Metric,
                      interval: Interval) -> list[Bucket]:
    chosen = _selected(events, window)
    zone = window.zone
    counts: dict[datetime, int] = defaultdict(int)
    if metric == "visits":
        for visit in _visits_python(chosen):
            counts[bucket_of(visit[0]["ts"], zone, interval)] += 1
    elif metric == "visitors":
        seen: dict[datetime, set[str]] = defaultdict(set)
        for e in chosen:
            if e["visitor"] is not None:
                seen[bucket_of(e["ts"], zone, interval)].add(e["visitor"])
        counts.update({b: len(v) for b, v in seen.items()})
    else:
        for e in chosen:
            if metric == "events" or e["type"] == "page":
                counts[bucket_of(e["ts"], zone, interval)] += 1
    return [Bucket(bucket=b.isoformat(), value=counts.get(b, 0))
            for b in buckets(window, interval)]


def breakdown_python(events: Iterable[dict[str, Any]], window: Window, by: Dimension,
                     limit: int) -> list[BreakdownItem]:
    def value(e: dict[str, Any]) -> str | None:
        if by == "event":
            return e["name"] if e["name"] is not None else "pageview"
        column = {"page": "path", "referrer": "referrer_host"}.get(by, by)
        result: str | None = e[column]
        return result

    groups: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for e in _selected(events, window):
        groups[value(e)].append(e)
    items = [BreakdownItem(value=v, visitors=len({e["visitor"] for e in rows
                                                   if e["visitor"] is not None}),
                           pageviews=sum(1 for e in rows if e["type"] == "page"),
                           events=len(rows))
             for v, rows in groups.items()]
    items.sort(key=lambda i: (-i.visitors, -i.pageviews, -i.events, i.value is None,
                              i.value or ""))
    return items[:limit]


def funnel_python(events: Iterable[dict[str, Any]], window: Window,
                  steps: Sequence[Step]) -> list[FunnelStep]:
    reached = [0] * len(steps)
    for visit in _visits_python(_selected(events, window)):
        k = 0
        for e in visit:
            if k < len(steps) and steps[k].matches(e):
                reached[k] += 1
                k += 1
    return _funnel_items(steps, reached)


def platform_python(events: Iterable[dict[str, Any]], window: Window,
                    limit: int) -> list[PlatformItem]:
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for e in events:
        at = _parse_ts(e["time"])
        if window.start <= at < window.end:
            counts[(at.astimezone(window.zone).date(), e["type"])] += 1
    return [PlatformItem(day=d.isoformat(), type=t, count=n)
            for (d, t), n in sorted(counts.items())][:limit]
