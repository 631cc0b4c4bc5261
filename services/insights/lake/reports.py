"""The reports, computed by DuckDB over the local copy of the curated lake, and the same
reports in plain Python (``*_python``, the reference the tests compare against).

Definitions (shared by the SQL and by the reference):

* the window is ``start <= timestamp < end`` (UTC instants; `Window` turns the query's
  dates or timestamps in its time zone into them); only the curated partitions (event
  dates, UTC) the window touches are read: partition pruning by ``dt``;
* bot events (``bot``) count nowhere; events without a visitor hash (DNT/Sec-GPC) count
  as pageviews and events but not as visitors or visits;
* visitors = distinct visitor hashes of the window's events; a visit is a visitor's run of
  events (by timestamp, then id) without a gap of more than 30 minutes, within one UTC
  day (the curated partition: a visitor hash lives one day anyway, its salt is daily); a
  visit belongs to the window where it starts, whole (its events after the window's end
  count for its duration and its funnel); a bounce is a visit of one event; visit
  duration = last minus first event time of a visit, averaged over visits (seconds);
* timeseries buckets are the hours or days of the time zone, every one of the window
  (empty ones 0), a visit counted in the bucket where it starts;
* breakdown ranks values by visitors, pageviews, events, then value; ``event`` is the
  track event's name, ``pageview`` for page events; ``referrer`` is the referrer's host;
* a funnel counts visits (starting in the window) that reach each step in order: step k
  is the first matching event after the event that reached step k-1 (``/path`` matches
  a page event with that path, ``event:name`` a track event with that name);
* platform counts business events per day (time zone) and type.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
from pydantic import BaseModel

from services.insights.lake.layout import days
from shared.errors import InvalidInputError

Metric = Literal["visitors", "visits", "pageviews", "events"]
Interval = Literal["hour", "day"]
Dimension = Literal["page", "referrer", "country", "continent", "browser", "os", "device",
                    "event"]
VISIT_GAP = timedelta(minutes=30)
MAX_DAYS = 400
MAX_STEPS = 10


class ReportError(InvalidInputError):
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
    SELECT type, name, path, referrer_host, visitor, country, continent, browser, os,
           device, "timestamp" AS ts, received_at
    FROM read_parquet($files)
    WHERE "timestamp" >= $start AND "timestamp" < $end AND NOT bot)"""

# The visits of one UTC day's events (the curated partition; a visitor hash lives one day):
# one row per event of a visitor, with its visit's number, start, end, size and the
# event's place in it. Derived from the partition's files by `ReportEngine._sessions`.
_SESSIONS = """
COPY (
    WITH ev AS (
        SELECT id, type, name, path, visitor, "timestamp" AS ts,
               epoch_ms("timestamp") AS ms, "timestamp"::DATE AS dt
        FROM read_parquet($files) WHERE NOT bot AND visitor IS NOT NULL),
    marked AS (
        SELECT *, CASE WHEN ms - lag(ms) OVER w <= 1800000 THEN 0 ELSE 1 END AS new
        FROM ev WINDOW w AS (PARTITION BY dt, visitor ORDER BY ms, id)),
    numbered AS (
        SELECT *, sum(new) OVER (PARTITION BY dt, visitor ORDER BY ms, id
                                 ROWS UNBOUNDED PRECEDING) AS visit_no
        FROM marked)
    SELECT visitor, visit_no::INTEGER AS visit_no, type, name, path, ts,
           row_number() OVER (PARTITION BY dt, visitor, visit_no ORDER BY ms, id)::INTEGER
               AS seq,
           min(ts) OVER v AS started, max(ts) OVER v AS ended,
           count(*) OVER v::INTEGER AS events, dt
    FROM numbered WINDOW v AS (PARTITION BY dt, visitor, visit_no)
) TO '{target}' (FORMAT parquet, PARTITION_BY (dt), COMPRESSION zstd)"""

# Where a window's days hold events but no visit (only bots, or only visitors who asked not
# to be tracked), no sessions file exists: the visits are this empty relation instead.
_NO_SESSIONS = """(SELECT NULL::VARCHAR AS visitor, NULL::INTEGER AS visit_no,
    NULL::VARCHAR AS type, NULL::VARCHAR AS name, NULL::VARCHAR AS path,
    NULL::TIMESTAMPTZ AS ts, NULL::INTEGER AS seq, NULL::TIMESTAMPTZ AS started,
    NULL::TIMESTAMPTZ AS ended, NULL::INTEGER AS events, NULL::DATE AS dt WHERE false)"""

_VISITS = """visits AS (
    SELECT visitor, visit_no, started, ended, events FROM read_parquet($sessions)
    WHERE seq = 1 AND started >= $start AND started < $end)"""


@dataclass
class QueryStats:
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class ReportEngine:
    """Runs reports on a DuckDB database over the curated files ``files_of`` names.

    Visit-based reports read the sessions of each day, derived once from that day's
    curated files into ``sessions_root`` and derived again when those files change (the
    current day's after each compaction run): a sort of the events by visitor and time is
    paid once per partition version, not per query.
    """

    files_of: Any  # (table, first day, last day) -> list of local paths
    sessions_root: Path | None = None
    memory_mb: int = 512
    threads: int = 2
    last: QueryStats = field(default_factory=QueryStats)
    # Report rows of whole UTC days by (kind, day, that day's files), at most 500,000 rows
    # (tens of MB): see breakdown.
    day_rows: DayRows = field(default_factory=lambda: DayRows(500_000))
    _db: duckdb.DuckDBPyConnection | None = None
    _derive: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.sessions_root is None:
            self.sessions_root = Path(tempfile.mkdtemp(prefix="insights-sessions-"))
        self.sessions_root.mkdir(parents=True, exist_ok=True)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._db is None:
            db = duckdb.connect(config={
                "autoinstall_known_extensions": False, "autoload_known_extensions": False,
                "memory_limit": f"{self.memory_mb}MB", "threads": self.threads})
            db.execute("SET TimeZone = 'UTC'")
            self._db = db
        return self._db.cursor()

    def _sessions(self, day_list: list[date]) -> list[str]:
        """The sessions files of ``day_list`` (deriving those missing or out of date)."""
        assert self.sessions_root is not None
        wanted: dict[date, Path] = {}
        sources: list[str] = []
        for day in day_list:
            files = list(self.files_of("events", day, day))
            if not files:
                continue
            digest = hashlib.sha1("\n".join(sorted(files)).encode()).hexdigest()[:16]
            path = self.sessions_dir(day) / f"{digest}.parquet"
            wanted[day] = path
            if not path.exists():
                sources += files
        if sources:
            with self._derive:
                target = self.sessions_root / f"new-{uuid.uuid4().hex}"
                with self._cursor() as cursor:
                    cursor.execute(_SESSIONS.format(target=target), {"files": sources})
                for day, path in wanted.items():
                    made = list((target / f"dt={day:%Y-%m-%d}").glob("*.parquet"))
                    if made and not path.exists():
                        for stale in path.parent.glob("*.parquet"):
                            stale.unlink(missing_ok=True)
                        path.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(made[0], path)
                shutil.rmtree(target, ignore_errors=True)
        return [str(p) for p in wanted.values() if p.exists()]

    def sessions_dir(self, day: date) -> Path:
        """Where the sessions of ``day`` are kept."""
        assert self.sessions_root is not None
        return self.sessions_root / f"dt={day:%Y-%m-%d}"

    def prepare(self) -> None:
        """Derive the sessions of every day with events (those up to date are kept)."""
        days_with_events = sorted({_day_of(f) for f in self.files_of("events", None, None)})
        if days_with_events:
            self._sessions(days_with_events)

    def _run(self, table: str, window: Window, sql: str,
             params: dict[str, Any] | None = None, *,
             sessions: bool = False) -> list[tuple[Any, ...]] | None:
        day_list = window.days()
        started = time.perf_counter()
        files = list(self.files_of(table, day_list[0], day_list[-1]))
        bound: dict[str, Any] = {"files": files}
        read = list(files)
        if sessions:
            # A visit belongs to the UTC day of its events, so one starting in the window
            # is in a partition of the window's days.
            bound["sessions"] = self._sessions(day_list)
            read += bound["sessions"]
            if not bound["sessions"]:
                sql = sql.replace("read_parquet($sessions)", _NO_SESSIONS)
                del bound["sessions"]
        self.last = QueryStats(len(read), sum(_size(f) for f in read))
        if not files:
            return None
        if "$files" not in sql:
            del bound["files"]
        with self._cursor() as cursor:
            cursor.execute("SET TimeZone = 'UTC'")
            rows = cursor.execute(sql, {**bound, "start": window.start, "end": window.end,
                                        **(params or {})}).fetchall()
        self.last.seconds = time.perf_counter() - started
        return rows

    def overview(self, window: Window) -> Overview:
        """Summed from per-day rows like `breakdown` (a visit lies within its UTC day)."""
        whole, partial = split_days(window)
        # visitors, pageviews, events, visits, bounces, milliseconds of visits
        total = [0, 0, 0, 0, 0, 0]
        for row in self._whole_days("overview", whole, self._overview_days):
            total = [t + v for t, v in zip(total, row, strict=True)]
        for part in partial:
            rows = self._run("events", part, f"""WITH {_EVENTS}, {_VISITS},
                e AS (SELECT count(DISTINCT visitor) AS visitors,
                             count(*) FILTER (WHERE type = 'page') AS pageviews,
                             count(*) AS events FROM ev),
                v AS (SELECT count(*) AS visits, count(*) FILTER (WHERE events = 1) AS b,
                             coalesce(sum(epoch_ms(ended) - epoch_ms(started)), 0) AS d
                      FROM visits)
                SELECT visitors, pageviews, events, visits, b, d FROM e, v""", sessions=True)
            for row in rows or []:
                total = [t + int(v) for t, v in zip(total, row, strict=True)]
        visitors, pageviews, events, visits, bounces, duration = total
        visitors -= self._counted_twice(window, whole, partial, "NULL").get(None, 0)
        self._stats(window, sessions=True)
        return Overview(visitors=visitors, visits=visits, pageviews=pageviews, events=events,
                        bounce_rate=bounces / visits if visits else 0.0,
                        visit_duration=duration / visits / 1000 if visits else 0.0)

    def _overview_days(self, day_list: list[date]) -> dict[date, list[tuple[Any, ...]]]:
        found: dict[date, list[int]] = {d: [0, 0, 0, 0, 0, 0] for d in day_list}
        files = self._day_files(day_list)
        sessions = self._sessions(day_list)
        with self._cursor() as cursor:
            for day, *row in cursor.execute("""
                    SELECT "timestamp"::DATE, count(DISTINCT visitor),
                           count(*) FILTER (WHERE type = 'page'), count(*)
                    FROM read_parquet($files) WHERE NOT bot GROUP BY ALL""",
                                              {"files": files}).fetchall():
                found[day][0:3] = row
            if sessions:
                for day, *row in cursor.execute("""
                        SELECT started::DATE, count(*), count(*) FILTER (WHERE events = 1),
                               sum(epoch_ms(ended) - epoch_ms(started))
                        FROM read_parquet($sessions) WHERE seq = 1 GROUP BY ALL""",
                                                  {"sessions": sessions}).fetchall():
                    found[day][3:6] = [int(v) for v in row]
        return {d: [tuple(v)] for d, v in found.items()}

    def _counted_twice(self, window: Window, whole: list[date], partial: list[Window],
                       group: str) -> dict[Any, int]:
        """How many times too often the per-day sums count visitors, by ``group`` (an
        expression over the window's events; NULL: one group): a visitor hash is the salt's
        of the day its events *arrive*, and a late event (its time the day before) lies in
        another partition, so the same hash can be counted in two UTC days. Such hashes
        always have an event whose day differs from its arrival's: those are listed per day
        (kept like the rows), and only when there are any is the window read for them."""

        def compute(day_list: list[date]) -> dict[date, list[tuple[Any, ...]]]:
            found: dict[date, list[tuple[Any, ...]]] = {d: [] for d in day_list}
            with self._cursor() as cursor:
                for day, visitor, arrived in cursor.execute("""
                        SELECT DISTINCT "timestamp"::DATE, visitor, received_at::DATE
                        FROM read_parquet($files)
                        WHERE NOT bot AND visitor IS NOT NULL
                          AND received_at::DATE <> "timestamp"::DATE""",
                                                            {"files": self._day_files(day_list)}
                                                            ).fetchall():
                    found[day].append((visitor, arrived, day))
            return found

        # A late hash's events lie in its late events' days and its arrival day.
        late: dict[str, set[date]] = {}
        for visitor, arrived, day in self._whole_days("late", whole, compute):
            late.setdefault(visitor, set()).update((arrived, day))
        for part in partial:
            for visitor, arrived, day in self._run("events", part, f"""WITH {_EVENTS}
                    SELECT DISTINCT visitor, received_at::DATE, ts::DATE FROM ev
                    WHERE visitor IS NOT NULL AND received_at::DATE <> ts::DATE""") or []:
                late.setdefault(visitor, set()).update((arrived, day))
        day_list = sorted({d for days in late.values() for d in days} & set(window.days()))
        files = self._day_files(day_list)
        if not files:
            return {}
        with self._cursor() as cursor:
            rows = cursor.execute(f"""WITH ev AS (
                    SELECT *, "timestamp" AS ts FROM read_parquet($files)
                    WHERE "timestamp" >= $start AND "timestamp" < $end AND NOT bot
                      AND visitor IN (SELECT unnest($late)))
                SELECT g, sum(days - 1) FROM (
                    SELECT {group} AS g, visitor, count(DISTINCT ts::DATE) AS days FROM ev
                    GROUP BY ALL)
                WHERE days > 1 GROUP BY g""", {
                "files": files, "late": sorted(late), "start": window.start,
                "end": window.end} | ({"tz": window.tz} if "$tz" in group else {})).fetchall()
        return {g: int(n) for g, n in rows}

    def _whole_days(self, kind: str, day_list: list[date],
                    compute: Any) -> list[tuple[Any, ...]]:
        """The rows of ``kind`` for whole UTC days: kept ones where the day's files are the
        same, ``compute(days)`` (a dict of rows per day) for the others, which are kept."""
        by_day = self._files_by_day(day_list)
        versions = {d: hashlib.sha1("\n".join(sorted(files)).encode()).hexdigest()[:16]
                    for d, files in by_day.items()}
        rows = {d: self.day_rows.get((kind, d, v)) for d, v in versions.items()}
        missing = [d for d, found in rows.items() if found is None]
        if missing:
            for day, computed in compute(missing).items():
                rows[day] = computed
                self.day_rows.put((kind, day, versions[day]), computed)
        return [row for found in rows.values() for row in found or []]

    def _stats(self, window: Window, *, sessions: bool = False) -> None:
        """What the window's report covers (the partitions it touches), for QueryStats."""
        day_list = window.days()
        read = list(self.files_of("events", day_list[0], day_list[-1]))
        if sessions:
            read += [str(p) for d in day_list for p in self.sessions_dir(d).glob("*.parquet")]
        self.last = QueryStats(len(read), sum(_size(f) for f in read))

    def timeseries(self, window: Window, metric: Metric, interval: Interval) -> list[Bucket]:
        """Like `breakdown`, from rows kept per whole UTC day (for this metric, interval and
        time zone): a bucket's visitors add up across the UTC days it spans."""
        # Buckets as the UTC instants they start at: an hour by the wall clock's minutes
        # (a zone 5:30 ahead starts its hours at :30 UTC; the hour a DST change repeats is
        # two buckets), a day at its local midnight.
        local = ("epoch_ms({col}) - epoch_ms(timezone($tz, {col})) % 3600000"
                 if interval == "hour" else "date_trunc('day', timezone($tz, {col}))")
        if metric == "visits":
            whole_sql = f"""SELECT started::DATE, {local.format(col='started')}, count(*)
                FROM read_parquet($sessions) WHERE seq = 1 GROUP BY ALL"""
            part_sql = f"""WITH {_VISITS}
                SELECT {local.format(col='started')} AS b, count(*) FROM visits GROUP BY b"""
        else:
            value = {"visitors": "count(DISTINCT visitor)", "events": "count(*)",
                     "pageviews": "count(*) FILTER (WHERE type = 'page')"}[metric]
            whole_sql = f"""SELECT "timestamp"::DATE, {local.format(col='"timestamp"')},
                {value} FROM read_parquet($files) WHERE NOT bot GROUP BY ALL"""
            part_sql = f"""WITH {_EVENTS}
                SELECT {local.format(col='ts')} AS b, {value} FROM ev GROUP BY b"""

        def compute(day_list: list[date]) -> dict[date, list[tuple[Any, ...]]]:
            found: dict[date, list[tuple[Any, ...]]] = {d: [] for d in day_list}
            bound: dict[str, Any] = {"tz": window.tz}
            if metric == "visits":
                bound["sessions"] = self._sessions(day_list)
                if not bound["sessions"]:
                    return found
            else:
                bound["files"] = self._day_files(day_list)
            with self._cursor() as cursor:
                for day, *row in cursor.execute(whole_sql, bound).fetchall():
                    found[day].append(tuple(row))
            return found

        totals: dict[Any, int] = defaultdict(int)
        whole, partial = split_days(window)
        for b, n in self._whole_days(f"timeseries:{metric}:{interval}:{window.tz}", whole,
                                     compute):
            totals[b] += n
        for part in partial:
            for b, n in self._run("events", part, part_sql, {"tz": window.tz},
                                  sessions=metric == "visits") or []:
                totals[b] += n
        if metric == "visitors":
            for b, extra in self._counted_twice(window, whole, partial,
                                                local.format(col="ts")).items():
                totals[b] -= extra
        self._stats(window, sessions=metric == "visits")
        zone = window.zone
        found = {(datetime.fromtimestamp(b / 1000, UTC) if interval == "hour"
                  else b.replace(tzinfo=zone).astimezone(UTC)): int(n) for b, n in totals.items()}
        return [Bucket(bucket=b.isoformat(), value=found.get(b.astimezone(UTC), 0))
                for b in buckets(window, interval)]

    def breakdown(self, window: Window, by: Dimension, limit: int) -> list[BreakdownItem]:
        """Visitors add up across UTC days (a visitor hash lives one day: its salt is daily),
        so the window's whole UTC days are answered from rows kept per day and per version of
        the day's files (the current day's change with each compaction run, the others stay),
        and only the days not kept yet and the window's partial days are read."""
        whole, partial = split_days(window)
        totals: dict[str | None, list[int]] = {}

        def add(rows: Iterable[tuple[Any, ...]]) -> None:
            for value, *counts in rows:
                total = totals.setdefault(value, [0, 0, 0])
                for n, count in enumerate(counts):
                    total[n] += count

        def compute(day_list: list[date]) -> dict[date, list[tuple[Any, ...]]]:
            found: dict[date, list[tuple[Any, ...]]] = {d: [] for d in day_list}
            files = self._day_files(day_list)
            with self._cursor() as cursor:
                for day, *row in cursor.execute(f"""
                        SELECT "timestamp"::DATE, {_DIMENSIONS[by]}, count(DISTINCT visitor),
                               count(*) FILTER (WHERE type = 'page'), count(*)
                        FROM read_parquet($files) WHERE NOT bot GROUP BY ALL""",
                                                  {"files": files}).fetchall():
                    found[day].append(tuple(row))
            return found

        add(self._whole_days(f"breakdown:{by}", whole, compute))
        for part in partial:
            add(self._run("events", part, f"""WITH {_EVENTS}
                SELECT {_DIMENSIONS[by]} AS value, count(DISTINCT visitor),
                       count(*) FILTER (WHERE type = 'page'), count(*)
                FROM ev GROUP BY value""") or [])
        for value, extra in self._counted_twice(window, whole, partial,
                                                _DIMENSIONS[by]).items():
            totals[value][0] -= extra
        self._stats(window)
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], -kv[1][1], -kv[1][2],
                                                        kv[0] is None, kv[0] or ""))
        return [BreakdownItem(value=v, visitors=a, pageviews=b, events=c)
                for v, (a, b, c) in ranked[:limit]]

    def _files_by_day(self, day_list: list[date]) -> dict[date, list[str]]:
        """The events' files of ``day_list``, by day (one listing of the copy for them all)."""
        wanted = set(day_list)
        found: dict[date, list[str]] = {}
        if day_list:
            for path in self.files_of("events", min(day_list), max(day_list)):
                if (day := _day_of(path)) in wanted:
                    found.setdefault(day, []).append(path)
        return found

    def _day_files(self, day_list: list[date]) -> list[str]:
        return [f for files in self._files_by_day(day_list).values() for f in files]

    def funnel(self, window: Window, steps: Sequence[Step]) -> list[FunnelStep]:
        """Visits reaching each step, summed like `breakdown` from rows kept per whole UTC
        day (a visit lies within its day) for these steps."""
        params: dict[str, Any] = {}
        parts = []
        for n, step in enumerate(steps):
            params[f"s{n}"] = step.value
            match = (f"type = 'page' AND path = $s{n}" if step.kind == "page"
                     else f"type = 'track' AND name = $s{n}")
            if n == 0:
                parts.append(f"s0 AS (SELECT visitor, visit_no, dt, min(seq) AS at "
                             f"FROM steps WHERE {match} GROUP BY visitor, visit_no, dt)")
            else:
                parts.append(
                    # A visit is (visitor, day, number): a hash can have visits on two
                    # days (a late event lies in the day before's partition).
                    f"s{n} AS (SELECT q.visitor, q.visit_no, q.dt, min(q.seq) AS at "
                    f"FROM steps q JOIN s{n - 1} p ON p.visitor = q.visitor "
                    f"AND p.visit_no = q.visit_no AND p.dt = q.dt AND q.seq > p.at "
                    f"WHERE {match} GROUP BY q.visitor, q.visit_no, q.dt)")
        reached = " UNION ALL ".join(f"SELECT dt, {n} AS n FROM s{n}"
                                     for n in range(len(steps)))

        def sql(where: str) -> str:
            return f"""WITH
                steps AS MATERIALIZED (SELECT visitor, visit_no, seq, type, name, path,
                                              started::DATE AS dt
                                       FROM read_parquet($sessions) {where}),
                {", ".join(parts)}
                SELECT dt, n, count(*) FROM ({reached}) GROUP BY ALL"""

        def compute(day_list: list[date]) -> dict[date, list[tuple[Any, ...]]]:
            found: dict[date, list[tuple[Any, ...]]] = {d: [] for d in day_list}
            sessions = self._sessions(day_list)
            if sessions:
                with self._cursor() as cursor:
                    for day, *row in cursor.execute(sql(""), {**params, "sessions": sessions}
                                                    ).fetchall():
                        found[day].append(tuple(row))
            return found

        totals = [0] * len(steps)
        whole, partial = split_days(window)
        key = "funnel:" + "\n".join(f"{s.kind}:{s.value}" for s in steps)
        rows = list(self._whole_days(key, whole, compute))
        for part in partial:
            rows += [(n, c) for _, n, c in self._run(
                "events", part, sql("WHERE started >= $start AND started < $end"), params,
                sessions=True) or []]
        for n, count in rows:
            totals[n] += count
        self._stats(window, sessions=True)
        return _funnel_items(steps, totals)

    def platform(self, window: Window, limit: int) -> list[PlatformItem]:
        rows = self._run("platform_events", window, """
            SELECT timezone($tz, time)::DATE AS day, type, count(*) AS n
            FROM read_parquet($files) WHERE time >= $start AND time < $end
            GROUP BY day, type ORDER BY day, type LIMIT $limit""",
                         {"tz": window.tz, "limit": limit}) or []
        return [PlatformItem(day=d.isoformat(), type=t, count=n) for d, t, n in rows]


def split_days(window: Window) -> tuple[list[date], list[Window]]:
    """The UTC days wholly inside the window, and the window's parts on the other days."""
    whole: list[date] = []
    partial: list[Window] = []
    for day in window.days():
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        if window.start <= start and end <= window.end:
            whole.append(day)
        else:
            partial.append(Window(max(start, window.start), min(end, window.end), window.tz))
    return whole, partial


class DayRows:
    """Rows per key, the least recently used keys dropped while more than ``size`` rows are
    kept in all (thread-safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rows = 0
        self._rows: OrderedDict[Any, list[tuple[Any, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._rows

    def get(self, key: Any) -> list[tuple[Any, ...]] | None:
        with self._lock:
            rows = self._rows.get(key)
            if rows is not None:
                self._rows.move_to_end(key)
            return rows

    def forget(self, day: date) -> None:
        """Drop the rows of ``day`` (keys are (kind, day, version))."""
        with self._lock:
            for key in [k for k in self._rows if k[1] == day]:
                self.rows -= len(self._rows.pop(key))

    def put(self, key: Any, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self.rows += len(rows) - len(self._rows.pop(key, []))
            self._rows[key] = rows
            while self.rows > self.size and len(self._rows) > 1:
                self.rows -= len(self._rows.popitem(last=False)[1])


def _day_of(path: str) -> date:
    return date.fromisoformat(path.rsplit("/dt=", 1)[1][:10])


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
    return [e for e in _timed(events) if not e["bot"] and window.start <= e["ts"] < window.end]


def _timed(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "ts": _parse_ts(e["timestamp"])} for e in events]


def _visits_python(events: Iterable[dict[str, Any]],
                   window: Window) -> list[list[dict[str, Any]]]:
    """The visits starting in the window, each sessionized over its visitor's events of
    that UTC day (the curated partition), window or not."""
    by_visitor: dict[tuple[str, date], list[dict[str, Any]]] = defaultdict(list)
    for e in _timed(events):
        if e["visitor"] is not None and not e["bot"]:
            by_visitor[(e["visitor"], e["ts"].astimezone(UTC).date())].append(e)
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
    return [v for v in visits if window.start <= v[0]["ts"] < window.end]


def overview_python(events: Iterable[dict[str, Any]], window: Window) -> Overview:
    events = list(events)
    chosen = _selected(events, window)
    visits = _visits_python(events, window)
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
    events = list(events)
    chosen = _selected(events, window)
    zone = window.zone
    counts: dict[datetime, int] = defaultdict(int)
    if metric == "visits":
        for visit in _visits_python(events, window):
            counts[_instant(visit[0]["ts"], zone, interval)] += 1
    elif metric == "visitors":
        seen: dict[datetime, set[str]] = defaultdict(set)
        for e in chosen:
            if e["visitor"] is not None:
                seen[_instant(e["ts"], zone, interval)].add(e["visitor"])
        counts.update({b: len(v) for b, v in seen.items()})
    else:
        for e in chosen:
            if metric == "events" or e["type"] == "page":
                counts[_instant(e["ts"], zone, interval)] += 1
    return [Bucket(bucket=b.isoformat(), value=counts.get(b.astimezone(UTC), 0))
            for b in buckets(window, interval)]


def _instant(at: datetime, zone: ZoneInfo, interval: Interval) -> datetime:
    # Keyed by UTC instant: aware datetimes of one zone compare by wall time, so the two
    # 01:00 hours of a DST change would be one key.
    return bucket_of(at, zone, interval).astimezone(UTC)


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
    for visit in _visits_python(events, window):
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
