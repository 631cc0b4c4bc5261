"""Helpers of the lake's tests: generated clickstreams written as raw files locally,
compacted with DuckDB into a local lake cache, and their curated (reference) form."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from services.insights.generate import Options, clickstream
from services.insights.lake.cache import LakeCache
from services.insights.lake.compaction import (
    CompactionState,
    Compactor,
    duckdb_connection,
    transform,
)
from services.insights.lake.layout import RawZone, Table, run_file_key
from services.insights.lake.reference import countries
from shared.aws import AwsClients

GEO = {c.code: (c.name, c.continent) for c in countries().values()}


def write_raw(folder: Path, name: str, records: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in records) + b"\n"))
    return path


def compact(cache: LakeCache, zone: RawZone, table: Table, run: int,
            files: list[Path], work: Path) -> int:
    """One compaction run over local raw files into the cache; rows written."""
    out = work / f"out-{run}-{zone}"
    out.mkdir(parents=True)
    with duckdb_connection() as con:
        result = transform(con, zone, files, out, geo=GEO,
                           curated={d: cache.paths(table, d, d) for d in _all_days(cache, table)})
    for day, (path, _) in result.files.items():
        cache.add(run_file_key(table, day, run), path)
    return result.written


def _all_days(cache: LakeCache, table: Table) -> set[Any]:
    return {k.day for k in cache.live(table)}


def curated_form(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the curated table holds of raw events: one per id (the first received), with
    the geo columns."""
    unique: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e["received_at"]):
        unique.setdefault(e["id"], e)
    return [{**e, "country_name": GEO.get(e["country"], (None, None))[0],
             "continent": GEO.get(e["country"], (None, None))[1]} for e in unique.values()]


def sample(events: int = 3000, days: int = 5, seed: int = 11) -> list[dict[str, Any]]:
    return list(clickstream(Options(events=events, days=days, seed=seed,
                                    end=datetime(2026, 12, 6, tzinfo=UTC).date())))


@dataclass
class Lake:
    bucket: str
    table: str
    aws: AwsClients

    async def compactor(self, cache_dir: Path, **options: object) -> Compactor:
        state = CompactionState(await self.aws.client("dynamodb"), self.table, lease_seconds=30)
        return Compactor(await self.aws.client("s3"), self.bucket, state, LakeCache(cache_dir),
                         **options)  # type: ignore[arg-type]
