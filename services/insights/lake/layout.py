"""The keys of the insights lake (bucket ``insights-lake``), as the contract names them.

    raw/<zone>/dt=YYYY-MM-DD/hour=HH/<uuid4 hex>.jsonl.gz    zone: web | platform | bad
    reference/geo/countries.csv
    curated/<table>/dt=YYYY-MM-DD/<file>.parquet            table: events | platform_events
                                                                   | bad_rows

Raw keys carry the *received* UTC hour of the write, curated keys the *event* UTC date. A
curated file is named after the compaction run that wrote it (``r<run:010d>.parquet``) or,
once merged, after the runs it replaces (``m<first:010d>-<last:010d>.parquet``); readers
skip a run file that a merged file of the same partition covers (`live_files`), so a merge
never shows an event twice, whatever is listed between its write and its clean-up.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

RawZone = Literal["web", "platform", "bad"]
Table = Literal["events", "platform_events", "bad_rows"]

RAW_ZONES: tuple[RawZone, ...] = ("web", "platform", "bad")
TABLES: tuple[Table, ...] = ("events", "platform_events", "bad_rows")
# Which curated table each raw zone feeds.
TABLE_OF: dict[RawZone, Table] = {"web": "events", "platform": "platform_events",
                                  "bad": "bad_rows"}
GEO_KEY = "reference/geo/countries.csv"
RAW_SUFFIX = ".jsonl.gz"

_RAW_KEY = re.compile(
    r"^raw/(?P<zone>web|platform|bad)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/"
    r"(?P<name>[0-9a-f]{32})\.jsonl\.gz$")
_CURATED_KEY = re.compile(
    r"^curated/(?P<table>events|platform_events|bad_rows)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/"
    r"(?:r(?P<run>\d{10})|m(?P<first>\d{10})-(?P<last>\d{10}))\.parquet$")


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def raw_prefix(zone: RawZone) -> str:
    return f"raw/{zone}/"


def hour_prefix(zone: RawZone, at: datetime) -> str:
    """The prefix of the UTC hour containing ``at`` (naive means UTC)."""
    at = _utc(at)
    return f"raw/{zone}/dt={at:%Y-%m-%d}/hour={at:%H}/"


def raw_key(zone: RawZone, received: datetime, name: str | None = None) -> str:
    """A new raw object's key: its received hour and a fresh uuid4 (hex) unless named."""
    return f"{hour_prefix(zone, received)}{name or uuid.uuid4().hex}{RAW_SUFFIX}"


@dataclass(frozen=True)
class RawKey:
    zone: RawZone
    hour: datetime  # the received UTC hour
    key: str


def parse_raw_key(key: str) -> RawKey | None:
    """The zone and hour of a raw key; None for anything else under raw/."""
    match = _RAW_KEY.match(key)
    if match is None:
        return None
    hour = datetime.fromisoformat(f"{match['dt']}T{match['hour']}:00:00+00:00")
    zone: RawZone = match["zone"]  # type: ignore[assignment]
    return RawKey(zone, hour, key)


def curated_prefix(table: Table, day: date | None = None) -> str:
    return f"curated/{table}/" if day is None else f"curated/{table}/dt={day:%Y-%m-%d}/"


def run_file_key(table: Table, day: date, run: int) -> str:
    return f"{curated_prefix(table, day)}r{run:010d}.parquet"


def merged_file_key(table: Table, day: date, first: int, last: int) -> str:
    return f"{curated_prefix(table, day)}m{first:010d}-{last:010d}.parquet"


@dataclass(frozen=True)
class CuratedKey:
    table: Table
    day: date
    first: int  # the run (or first run merged)
    last: int
    key: str

    @property
    def merged(self) -> bool:
        return self.key.rsplit("/", 1)[-1].startswith("m")


def parse_curated_key(key: str) -> CuratedKey | None:
    match = _CURATED_KEY.match(key)
    if match is None:
        return None
    table: Table = match["table"]  # type: ignore[assignment]
    day = date.fromisoformat(match["dt"])
    if match["run"] is not None:
        run = int(match["run"])
        return CuratedKey(table, day, run, run, key)
    return CuratedKey(table, day, int(match["first"]), int(match["last"]), key)


def live_files(keys: Iterable[str]) -> list[CuratedKey]:
    """The curated files a reader must read: every parsable key, less the run files (and
    smaller merged files) that a merged file of the same table and day covers. Sorted."""
    parsed = [k for k in (parse_curated_key(key) for key in keys) if k is not None]
    merged: dict[tuple[str, date], list[CuratedKey]] = {}
    for k in parsed:
        if k.merged:
            merged.setdefault((k.table, k.day), []).append(k)

    def covered(k: CuratedKey) -> bool:
        return any(m.first <= k.first and k.last <= m.last and m.key != k.key
                   and (m.last - m.first, m.key) > (k.last - k.first, k.key)
                   for m in merged.get((k.table, k.day), ()))

    return sorted((k for k in parsed if not covered(k)), key=lambda k: k.key)


def days(start: date, end: date) -> list[date]:
    """Every date from ``start`` to ``end``, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
