"""Compaction, the Glue job's counterpart: raw JSON lines -> curated Parquet, exactly once.

One run (`Compactor.run_once`):

1. takes the lease (an item of ``insights-state``; one runner at a time, `CompactionState`);
2. lists the raw objects of each zone from its watermark (the first received hour not yet
   closed and done) and leaves out the keys already done (items per hour and run);
3. fetches them to a spool folder and hands them to DuckDB (`transform`): typed columns,
   one row per event id (the earliest received copy), the geo reference joined
   (``country_name``, ``continent``), ``properties`` kept whole as a JSON column, so a new
   key needs no schema change (the schema-evolution choice: docs/services/insights.md);
4. drops the ids that the curated partitions of the same event dates already hold (the
   local copy of those partitions is synced first), so an id is written once across runs,
   after a crash between writing and recording as much as for a redelivered batch;
5. writes one Parquet file per event date, ``curated/<table>/dt=<date>/r<run>.parquet``,
   then records the raw keys as done (a transaction checked against the lease) and moves
   the watermark past hours closed for ``GRACE`` and fully done;
6. merges a partition's run files into one file once they are more than ``merge_files``
   (`layout.live_files` hides the merged run files from readers until they are deleted).

A run that dies anywhere is repeated by the next one with the same result.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from botocore.exceptions import ClientError

from services.insights.lake.cache import LakeCache, download, list_keys
from services.insights.lake.layout import (
    RAW_ZONES,
    TABLE_OF,
    RawZone,
    Table,
    hour_prefix,
    merged_file_key,
    parse_raw_key,
    raw_prefix,
    run_file_key,
)
from services.insights.lake.reference import geo_from_csv, read_geo_reference
from shared.dynamo import condition_failed
from shared.logging import get_logger

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client

log = get_logger("insights.compaction")

# A raw hour may still receive objects for a while after it ends (a write started at
# 10:59:59 lands a moment later); it counts as closed this long after its end.
GRACE = timedelta(minutes=10)
HOUR = timedelta(hours=1)

# The curated columns per table (DuckDB types); the order of the Parquet files. Objects
# (properties, data, errors) are kept whole as their JSON text (read_json hands a VARCHAR
# column the object's text without building it): any key, new or old, needs no schema
# change, and DuckDB's ->> / json_extract and Athena's json_extract_scalar read it.
EVENT_COLUMNS = {
    "id": "VARCHAR", "type": "VARCHAR", "name": "VARCHAR", "path": "VARCHAR",
    "referrer": "VARCHAR", "referrer_host": "VARCHAR", "properties": "VARCHAR",
    "timestamp": "TIMESTAMPTZ", "received_at": "TIMESTAMPTZ", "visitor": "VARCHAR",
    "country": "VARCHAR", "browser": "VARCHAR", "os": "VARCHAR", "device": "VARCHAR",
    "bot": "BOOLEAN", "site": "VARCHAR",
}
PLATFORM_COLUMNS = {
    "id": "VARCHAR", "source": "VARCHAR", "type": "VARCHAR", "time": "TIMESTAMPTZ",
    "subject": "VARCHAR", "data": "VARCHAR", "received_at": "TIMESTAMPTZ",
}
BAD_COLUMNS = {
    "received_at": "TIMESTAMPTZ", "index": "INTEGER", "errors": "VARCHAR", "payload": "VARCHAR",
}
# What the curated tables hold (the Parquet files' columns, in order).
CURATED_COLUMNS: dict[str, dict[str, str]] = {
    "events": {**{k: v for k, v in EVENT_COLUMNS.items() if k not in ("browser", "os", "device",
                                                                   "bot", "site")},
               "country_name": "VARCHAR", "continent": "VARCHAR",
               **{k: EVENT_COLUMNS[k] for k in ("browser", "os", "device", "bot", "site")}},
    "platform_events": PLATFORM_COLUMNS,
    "bad_rows": {"id": "VARCHAR", **BAD_COLUMNS},
}
RAW_COLUMNS: dict[RawZone, dict[str, str]] = {
    "web": EVENT_COLUMNS, "platform": PLATFORM_COLUMNS, "bad": BAD_COLUMNS}

# Raw rows -> typed, one row per id (the first received copy), with the event's UTC date.
_SELECT: dict[RawZone, str] = {
    "web": """
        SELECT id, type, name, path, referrer, referrer_host,
               coalesce(properties, '{}') AS properties, "timestamp", received_at,
               visitor, upper(country) AS country, browser, os, device,
               coalesce(bot, false) AS bot, site, "timestamp"::DATE AS dt
        FROM raw WHERE id IS NOT NULL AND "timestamp" IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_at NULLS LAST) = 1""",
    "platform": """
        SELECT id, source, type, coalesce(time, received_at) AS time, subject, data,
               received_at, coalesce(time, received_at)::DATE AS dt
        FROM raw WHERE id IS NOT NULL AND coalesce(time, received_at) IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_at NULLS LAST) = 1""",
    # A bad row has no id of its own: its content is one (the same rejected event at the
    # same instant, in the same place of its request, is the same bad row redelivered).
    "bad": """
        SELECT md5(concat_ws('|', received_at::VARCHAR, "index"::VARCHAR, payload)) AS id,
               received_at, "index", errors, payload, received_at::DATE AS dt
        FROM raw WHERE received_at IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_at) = 1""",
}
# What the Parquet files hold (dt is the partition, in the key).
_OUTPUT: dict[RawZone, str] = {
    "web": """SELECT b.id, b.type, b.name, b.path, b.referrer, b.referrer_host, b.properties,
                     b."timestamp", b.received_at, b.visitor, b.country,
                     g.name AS country_name, g.continent, b.browser, b.os, b.device, b.bot,
                     b.site, b.dt
              FROM batch b LEFT JOIN geo g ON g.code = b.country""",
    "platform": "SELECT * FROM batch",
    "bad": "SELECT * FROM batch",
}


def duckdb_connection(*, memory_mb: int | None = None, threads: int | None = None,
                      temp_dir: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory database in UTC that never downloads an extension."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if memory_mb:
        config["memory_limit"] = f"{memory_mb}MB"
    if threads:
        config["threads"] = threads
    if temp_dir:
        config["temp_directory"] = temp_dir
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass(frozen=True)
class Transformed:
    """What `transform` wrote: per event date, its local Parquet file and rows."""

    read: int  # distinct ids (or bad rows) in the raw files
    files: dict[date, tuple[Path, int]]

    @property
    def written(self) -> int:
        return sum(rows for _, rows in self.files.values())


def stage(con: duckdb.DuckDBPyConnection, zone: RawZone,
          raw_files: Sequence[str | Path]) -> list[date]:
    """Read raw ``.jsonl.gz`` files of one zone into the temp table ``batch`` (typed, one
    row per id); the event dates it touches."""
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in RAW_COLUMNS[zone].items())
    paths = [str(p) for p in raw_files]
    if not paths:
        raise ValueError("stage needs at least one raw file")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM read_json(
            {paths!r}, format = 'newline_delimited',
            compression = 'gzip', ignore_errors = true, columns = {{{columns}}})""")
    select = _SELECT[zone]
    unique = False
    if zone != "bad":
        # Copies of an event are rare: the window that keeps the first is paid only when
        # a hash count finds some; without copies ``batch`` is a view over the raw rows,
        # typed as the COPY reads them (no second table of the whole batch).
        row = con.execute("SELECT count(id) = count(DISTINCT id) FROM raw").fetchone()
        unique = bool(row and row[0])
    if unique:
        con.execute(f"CREATE OR REPLACE TEMP VIEW batch AS {select.split('QUALIFY')[0]}")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE batch AS {select}")
        con.execute("DROP TABLE raw")
    return sorted(row[0] for row in con.execute("SELECT DISTINCT dt FROM batch").fetchall())


def finish(
    con: duckdb.DuckDBPyConnection,
    zone: RawZone,
    out_dir: Path,
    *,
    geo: dict[str, tuple[str, str]],
    curated: dict[date, list[str]] | None = None,
) -> Transformed:
    """The staged ``batch`` less the ids ``curated`` holds (per date, the curated files
    already in the lake) -> one Parquet file per event date in ``out_dir``. ``geo`` is
    code -> (name, continent)."""
    read = _scalar(con, "SELECT count(*) FROM batch")
    existing = [p for paths in (curated or {}).values() for p in paths]
    if existing:
        con.execute("CREATE OR REPLACE TEMP TABLE kept AS SELECT * FROM batch WHERE id NOT IN "
                    "(SELECT id FROM read_parquet($files) WHERE id IS NOT NULL)",
                    {"files": existing})
        _drop_batch(con)
        con.execute("ALTER TABLE kept RENAME TO batch")
    counts = dict(con.execute("SELECT dt, count(*) FROM batch GROUP BY dt").fetchall())
    if zone == "web":
        con.execute("CREATE OR REPLACE TEMP TABLE geo "
                    "(code VARCHAR PRIMARY KEY, name VARCHAR, continent VARCHAR)")
        con.executemany("INSERT INTO geo VALUES (?, ?, ?)",
                        [(code, *rest) for code, rest in geo.items()])
    files: dict[date, tuple[Path, int]] = {}
    if counts:
        staging = out_dir / f"copy-{uuid.uuid4().hex}"
        con.execute(f"COPY ({_OUTPUT[zone]}) TO '{staging}' (FORMAT parquet, "
                    "PARTITION_BY (dt), COMPRESSION snappy, ROW_GROUP_SIZE 122880)")
        for day, rows in counts.items():
            written = sorted((staging / f"dt={day:%Y-%m-%d}").glob("*.parquet"))
            if len(written) != 1:
                target = staging / f"dt={day:%Y-%m-%d}.parquet"
                con.execute(f"COPY (SELECT * FROM read_parquet($files)) TO '{target}' "
                            "(FORMAT parquet, COMPRESSION snappy)",
                            {"files": [str(p) for p in written]})
                written = [target]
            files[day] = (written[0], rows)
    _drop_batch(con)
    return Transformed(read, files)


def _drop_batch(con: duckdb.DuckDBPyConnection) -> None:
    kind = con.execute("SELECT table_type FROM information_schema.tables "
                       "WHERE table_name = 'batch'").fetchone()
    if kind and kind[0] == "VIEW":
        con.execute("DROP VIEW batch")
        con.execute("DROP TABLE IF EXISTS raw")
    elif kind:
        con.execute("DROP TABLE batch")


def transform(
    con: duckdb.DuckDBPyConnection,
    zone: RawZone,
    raw_files: Sequence[str | Path],
    out_dir: Path,
    *,
    geo: dict[str, tuple[str, str]],
    curated: dict[date, list[str]] | None = None,
) -> Transformed:
    """`stage` then `finish`: raw files -> curated Parquet files per event date."""
    if not raw_files:
        return Transformed(0, {})
    days = stage(con, zone, raw_files)
    return finish(con, zone, out_dir, geo=geo,
                  curated={d: p for d, p in (curated or {}).items() if d in days})


def merge_files(con: duckdb.DuckDBPyConnection, paths: Sequence[str], target: Path) -> int:
    """Rewrite several curated files of one partition as one; its rows."""
    con.execute(f"COPY (SELECT * FROM read_parquet($files)) TO '{target}' "
                "(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)", {"files": paths})
    return _scalar(con, "SELECT count(*) FROM read_parquet($file)", {"file": str(target)})


def _scalar(con: duckdb.DuckDBPyConnection, sql: str,
            params: dict[str, object] | None = None) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


class LeaseLostError(RuntimeError):
    """Another runner holds the compaction lease."""


@dataclass
class CompactionState:
    """Lease, run numbers, watermarks and done keys in ``insights-state`` (pk, sk).

    ``compaction|lease``            owner, expires
    ``compaction|run``              n (the last run number handed out)
    ``compaction#<zone>|watermark`` hour (ISO): every raw hour before it is done
    ``compaction#<zone>|done#<hour>#<run>#<chunk>``  names: uuids of that hour done by run
    """

    dynamodb: DynamoDBClient
    table: str
    lease_seconds: float = 300.0
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    lease_until: float = 0.0

    async def take_lease(self) -> bool:
        now = time.time()
        try:
            await self.dynamodb.put_item(
                TableName=self.table,
                Item={"pk": {"S": "compaction"}, "sk": {"S": "lease"},
                      "owner": {"S": self.owner},
                      "expires": {"N": f"{now + self.lease_seconds:.3f}"}},
                ConditionExpression="attribute_not_exists(#o) OR #o = :me OR expires < :now",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner},
                                           ":now": {"N": f"{now:.3f}"}})
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            self.lease_until = 0.0
            return False
        self.lease_until = now + self.lease_seconds
        return True

    async def hold(self) -> None:
        """Renew the lease when a third of it is spent; LeaseLostError if it was taken."""
        if time.time() > self.lease_until - self.lease_seconds * 2 / 3 \
                and not await self.take_lease():
            raise LeaseLostError("another runner holds the compaction lease")

    async def release(self) -> None:
        if not self.lease_until:
            return
        try:
            await self.dynamodb.delete_item(
                TableName=self.table, Key=_key("compaction", "lease"),
                ConditionExpression="#o = :me", ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner}})
        except ClientError as exc:
            if not condition_failed(exc):
                raise
        self.lease_until = 0.0

    async def next_run(self) -> int:
        response = await self.dynamodb.update_item(
            TableName=self.table, Key=_key("compaction", "run"), UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
        return int(response["Attributes"]["n"]["N"])

    async def watermark(self, zone: RawZone) -> datetime | None:
        response = await self.dynamodb.get_item(
            TableName=self.table, Key=_key(f"compaction#{zone}", "watermark"),
            ConsistentRead=True)
        item = response.get("Item")
        return datetime.fromisoformat(item["hour"]["S"]) if item else None

    async def done(self, zone: RawZone) -> dict[str, list[str]]:
        """Done uuids by item sort key (``done#<hour>#<run>#<chunk>``)."""
        items: dict[str, list[str]] = {}
        request: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :done)",
            "ExpressionAttributeValues": {":pk": {"S": f"compaction#{zone}"},
                                          ":done": {"S": "done#"}}}
        while True:
            page = await self.dynamodb.query(**request)
            for item in page.get("Items", []):
                items[item["sk"]["S"]] = item["names"]["S"].split(",")
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def record(self, zone: RawZone, run: int, names_by_hour: dict[datetime, list[str]],
                     watermark: datetime | None, retired: Sequence[str]) -> None:
        """Record done keys and the new watermark, each transaction checked against the
        lease; then delete the done items the watermark made unneeded."""
        writes: list[dict[str, Any]] = []
        for hour, names in sorted(names_by_hour.items()):
            for chunk, start in enumerate(range(0, len(names), 8000)):
                sk = f"done#{hour:%Y-%m-%dT%H}#{run:010d}#{chunk}"
                writes.append({"Put": {"TableName": self.table, "Item": {
                    **_key(f"compaction#{zone}", sk),
                    "names": {"S": ",".join(names[start:start + 8000])}}}})
        if watermark is not None:
            writes.append({"Put": {"TableName": self.table, "Item": {
                **_key(f"compaction#{zone}", "watermark"),
                "hour": {"S": watermark.isoformat()}}}})
        lease_check = {"ConditionCheck": {
            "TableName": self.table, "Key": _key("compaction", "lease"),
            "ConditionExpression": "#o = :me", "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":me": {"S": self.owner}}}}
        for start in range(0, len(writes), 24):  # items of ~250 KB: 4 MB per transaction
            try:
                await self.dynamodb.transact_write_items(
                    TransactItems=[lease_check, *writes[start:start + 24]])  # type: ignore[list-item]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                    raise LeaseLostError("the compaction lease was lost") from exc
                raise
        for start in range(0, len(retired), 25):
            await self.dynamodb.batch_write_item(RequestItems={self.table: [
                {"DeleteRequest": {"Key": _key(f"compaction#{zone}", sk)}}
                for sk in retired[start:start + 25]]})


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@dataclass
class RunReport:
    run: int = 0
    objects: int = 0
    read: int = 0
    written: int = 0
    merged: int = 0
    seconds: float = 0.0
    by_zone: dict[str, int] = field(default_factory=dict)
    # Wall seconds by phase: state (DynamoDB), list, fetch, transform, upload, merge.
    phases: dict[str, float] = field(default_factory=dict)
    # Raw keys DuckDB could not read at all (recorded as done, logged).
    unreadable: list[str] = field(default_factory=list)

    def timed(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now


@dataclass
class Compactor:
    """Compaction over one lake bucket and one state table (physical names)."""

    s3: S3Client
    bucket: str
    state: CompactionState
    cache: LakeCache
    max_objects: int = 20_000
    merge_after: int = 24
    memory_mb: int | None = None
    threads: int | None = None
    clock: Any = field(default=lambda: datetime.now(UTC))
    _geo: dict[str, tuple[str, str]] | None = None

    async def run_once(self) -> RunReport | None:
        """One compaction run; None when another runner holds the lease."""
        started = time.perf_counter()
        if not await self.state.take_lease():
            return None
        report = RunReport()
        try:
            report.run = await self.state.next_run()
            geo_bytes = await read_geo_reference(self.s3, self.bucket)
            self._geo = {c.code: (c.name, c.continent)
                         for c in geo_from_csv(geo_bytes).values()}
            with tempfile.TemporaryDirectory(prefix="compaction-") as spool:
                for zone in RAW_ZONES:
                    await self._zone(zone, report, Path(spool))
        finally:
            await self.state.release()
        report.seconds = time.perf_counter() - started
        if report.objects:
            log.info("compaction.run", run=report.run, objects=report.objects,
                     read=report.read, written=report.written, merged=report.merged,
                     seconds=round(report.seconds, 3))
        return report

    async def _zone(self, zone: RawZone, report: RunReport, spool: Path) -> None:
        table = TABLE_OF[zone]
        at = time.perf_counter()
        watermark = await self.state.watermark(zone)
        done_items = await self.state.done(zone)
        done = {name for names in done_items.values() for name in names}
        at = report.timed("state", at)
        start_after = hour_prefix(zone, watermark).rstrip("/") if watermark else ""
        listed = await list_keys(self.s3, self.bucket, raw_prefix(zone), start_after)
        at = report.timed("list", at)
        pending = []
        for key, _ in listed:
            parsed = parse_raw_key(key)
            if parsed is not None and _name(key) not in done:
                pending.append(parsed)
        batch = pending[:self.max_objects]
        # Hours before the first hour still pending are done; the watermark may move up to
        # the first hour not yet closed.
        closed_before = (self.clock() - GRACE - HOUR).replace(minute=0, second=0,
                                                              microsecond=0) + HOUR
        left = pending[self.max_objects:]
        limit = min([closed_before] + [p.hour for p in left])
        if batch:
            await self.state.hold()
            paths = await download(self.s3, self.bucket, [p.key for p in batch],
                                   spool / zone)
            at = report.timed("fetch", at)
            out = spool / f"out-{zone}"
            out.mkdir()
            with duckdb_connection(memory_mb=self.memory_mb, threads=self.threads,
                                   temp_dir=str(out / "spill")) as con:
                try:
                    touched = await asyncio.to_thread(stage, con, zone, paths)
                except duckdb.Error:
                    # An object DuckDB cannot read at all (not gzip, say) must not stop
                    # every later run: each file alone finds it; it is logged, counted
                    # in the report and recorded as done; the rest goes on.
                    paths = await asyncio.to_thread(_readable, zone, paths, batch,
                                                    report.unreadable)
                    touched = await asyncio.to_thread(stage, con, zone, paths) \
                        if paths else []
                result = Transformed(0, {})
                if paths:
                    await self.cache.sync(self.s3, self.bucket, [table], touched)
                    curated = {d: self.cache.paths(table, d, d) for d in touched}
                    result = await asyncio.to_thread(finish, con, zone, out,
                                                     geo=self._geo or {}, curated=curated)
            at = report.timed("transform", at)
            await self.state.hold()
            await self._upload(table, report.run, result)
            at = report.timed("upload", at)
            report.objects += len(batch)
            report.read += result.read
            report.written += result.written
            report.by_zone[zone] = result.written
            for path in paths:
                path.unlink(missing_ok=True)
            report.merged += await self._merge(table, list(result.files), spool)
            at = report.timed("merge", at)
        names_by_hour: dict[datetime, list[str]] = {}
        for p in batch:
            names_by_hour.setdefault(p.hour, []).append(_name(p.key))
        new_mark = None
        if limit > (watermark or datetime.min.replace(tzinfo=UTC)):
            new_mark = limit
        retired = [sk for sk in done_items
                   if new_mark is not None and _done_hour(sk) < new_mark]
        if names_by_hour or new_mark is not None:
            await self.state.record(zone, report.run, names_by_hour, new_mark, retired)
        report.timed("state", at)

    async def _upload(self, table: Table, run: int, result: Transformed) -> None:
        gate = asyncio.Semaphore(8)

        async def one(day: date, path: Path) -> None:
            key = run_file_key(table, day, run)
            async with gate:
                body = await asyncio.to_thread(path.read_bytes)
                await self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            self.cache.add(key, path)

        await asyncio.gather(*(one(day, path) for day, (path, _) in result.files.items()))

    async def _merge(self, table: Table, days: list[date], spool: Path) -> int:
        """Merge the partitions of ``days`` holding more than ``merge_after`` files."""
        merged = 0
        for day in days:
            live = self.cache.live(table, day, day)
            if len(live) <= self.merge_after:
                continue
            await self.state.hold()
            first, last = min(k.first for k in live), max(k.last for k in live)
            target = spool / f"merge-{uuid.uuid4().hex}.parquet"
            paths = [str(self.cache.root / k.key) for k in live]

            def rewrite(paths: list[str] = paths, target: Path = target) -> int:
                with duckdb_connection(memory_mb=self.memory_mb, threads=self.threads) as con:
                    return merge_files(con, paths, target)

            await asyncio.to_thread(rewrite)
            key = merged_file_key(table, day, first, last)
            body = await asyncio.to_thread(target.read_bytes)
            await self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            self.cache.add(key, target)
            for old in live:  # hidden by the merged file already; now gone too
                await self.s3.delete_object(Bucket=self.bucket, Key=old.key)
                self.cache.drop(old.key)
            merged += 1
        return merged


def _readable(zone: RawZone, paths: list[Path], batch: Sequence[Any],
              unreadable: list[str]) -> list[Path]:
    """The files of ``paths`` DuckDB reads alone; the keys of the others go to
    ``unreadable`` (and the log)."""
    keys = {_name(p.key): p.key for p in batch}
    kept = []
    for path in paths:
        with duckdb_connection(threads=1) as con:
            try:
                stage(con, zone, [path])
            except duckdb.Error as exc:
                key = keys.get(path.name.removesuffix(".jsonl.gz"), str(path))
                unreadable.append(key)
                log.error("compaction.unreadable_object", key=key, error=str(exc)[:300])
                continue
        kept.append(path)
    return kept


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".jsonl.gz")


def _done_hour(sk: str) -> datetime:
    return datetime.fromisoformat(sk.split("#")[1] + ":00:00+00:00")


def clear_spool(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
